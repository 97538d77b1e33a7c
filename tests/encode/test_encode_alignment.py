"""Word pieces: which pieces belong to which word, windows for long sentences, pooling plans."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftprobe.data.task import Unit
from ftprobe.encode.alignment import (
    CLS,
    PoolingPlan,
    encode_units,
    plan_windows,
    special_template,
    tokenize_words,
    unit_slots,
)
from ftprobe.encode.models import default_model_dir


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(default_model_dir()))


# Words chosen so that several split into many pieces under the uncased WordPiece vocabulary.
SENTENCE = ("Unbelievably", ",", "the", "hyperparameterization", "worked", "in", "Reykjavík", "!")


def test_multi_piece_words_map_to_their_own_pieces(tokenizer) -> None:
    pieces = tokenize_words(tokenizer, [SENTENCE])[0]
    assert pieces.n_words == len(SENTENCE)
    # Each word's pieces are exactly what the tokenizer gives for that word alone,
    # in order and without gaps.
    expected_ids: list[int] = []
    for w, word in enumerate(SENTENCE):
        alone = tokenizer(word, add_special_tokens=False)["input_ids"]
        got = pieces.ids[list(pieces.pieces_of(w))].tolist()
        assert got == alone, word
        expected_ids.extend(alone)
    assert pieces.ids.tolist() == expected_ids
    assert max(len(pieces.pieces_of(w)) for w in range(len(SENTENCE))) >= 3
    assert pieces.unk_words == ()


def test_special_template_reproduces_the_tokenizers_own_input(tokenizer) -> None:
    template = special_template(tokenizer)
    pieces = tokenize_words(tokenizer, [SENTENCE])[0]
    direct = tokenizer(list(SENTENCE), is_split_into_words=True)["input_ids"]
    assert template.wrap(pieces.ids.tolist()) == direct
    assert template.prefix == (tokenizer.cls_token_id,)


def test_a_word_without_pieces_gets_the_unknown_token(tokenizer) -> None:
    words = ("a", "\u200b", "b")
    assert tokenizer("\u200b", add_special_tokens=False)["input_ids"] == []
    pieces = tokenize_words(tokenizer, [words])[0]
    assert pieces.unk_words == (1,)
    assert pieces.ids[list(pieces.pieces_of(1))].tolist() == [tokenizer.unk_token_id]
    assert [len(pieces.pieces_of(w)) for w in range(3)] == [1, 1, 1]


def test_unit_slots_follow_the_pooling_rules(tokenizer) -> None:
    pieces = tokenize_words(tokenizer, [SENTENCE])[0]
    hyper = pieces.pieces_of(3)
    assert unit_slots(Unit.word(3), pieces, "first") == [[(hyper.start, 1.0)]]
    mean = unit_slots(Unit.word(3), pieces, "mean")[0]
    assert [p for p, _ in mean] == list(hyper)
    assert sum(w for _, w in mean) == pytest.approx(1.0)
    # A span's first piece is its first word's first piece; its mean covers all its pieces.
    span = Unit.span([3, 5])
    assert unit_slots(span, pieces, "first") == [[(hyper.start, 1.0)]]
    span_mean = unit_slots(span, pieces, "mean")[0]
    assert [p for p, _ in span_mean] == [*hyper, *pieces.pieces_of(5)]
    pair = unit_slots(Unit.pair(4, 3), pieces, "first")
    assert pair == [[(pieces.pieces_of(4).start, 1.0)], [(hyper.start, 1.0)]]
    assert unit_slots(Unit.sentence(), pieces, "first") == [[(CLS, 1.0)]]
    sent_mean = unit_slots(Unit.sentence(), pieces, "mean")[0]
    assert len(sent_mean) == len(pieces)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=300),
    room=st.integers(min_value=1, max_value=40),
    data=st.data(),
)
def test_windows_cover_every_piece_once_within_the_limit(n: int, room: int, data) -> None:
    stride = data.draw(st.one_of(st.none(), st.integers(min_value=0, max_value=room - 1)))
    windows = plan_windows(n, room, stride)
    kept = np.zeros(n, dtype=int)
    for w in windows:
        assert 0 <= w.start <= w.keep_start <= w.keep_stop <= w.stop <= n
        assert w.stop - w.start <= room
        kept[w.keep_start : w.keep_stop] += 1
    assert (kept == 1).all()
    if n <= room:
        assert len(windows) == 1


def test_window_keeps_pieces_away_from_cuts() -> None:
    windows = plan_windows(100, 40)
    assert len(windows) > 1
    for k, w in enumerate(windows):
        if k > 0:  # a kept piece has at least a quarter window of left context
            assert w.keep_start - w.start >= 10
        if k < len(windows) - 1:
            assert w.stop - w.keep_stop >= 10


def test_pooling_plan_numpy_and_torch_agree() -> None:
    import torch

    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(12, 5)).astype(np.float32)
    terms = [[[(0, 0.5), (1, 0.5)], [(3, 1.0)]], [[(CLS, 1.0)], [(2, 1.0)]]]
    rows = [np.arange(4) + 1, np.array([7, 8, 9, 6])]  # CLS (-1) is the last entry
    plan = PoolingPlan.build(terms, rows)
    got = plan.apply_numpy(hidden)
    expected = np.stack(
        [
            np.concatenate([(hidden[1] + hidden[2]) / 2, hidden[4]]),
            np.concatenate([hidden[6], hidden[9]]),
        ]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(plan.apply_torch(torch.from_numpy(hidden)).numpy(), expected)


def test_encode_units_for_fine_tuning_points_at_the_right_positions(tokenizer) -> None:
    batch = encode_units(
        tokenizer, [SENTENCE, SENTENCE[:3]], [Unit.word(3), Unit.word(0)], "first", max_length=6
    )
    # Sentence 0 is cut at 6 positions: word 3 lies beyond the cut.
    assert batch.truncated_units == 1
    assert batch.input_ids.shape[1] == 6
    assert batch.input_ids[0, -1] == tokenizer.sep_token_id
    full = encode_units(tokenizer, [SENTENCE], [Unit.word(3)], "first")
    pieces = tokenize_words(tokenizer, [SENTENCE])[0]
    row = int(full.plan.rows[0])
    assert full.input_ids.reshape(-1)[row] == pieces.ids[pieces.starts[3]]


def test_pooling_plan_passes_gradients_to_the_pieces() -> None:
    import torch

    plan = PoolingPlan.build([[[(0, 0.5), (1, 0.5)]], [[(2, 1.0)]]], [np.arange(3), np.arange(3)])
    hidden = torch.randn(4, 3, requires_grad=True)
    plan.apply_torch(hidden).sum().backward()
    np.testing.assert_allclose(hidden.grad[:, 0].numpy(), [0.5, 0.5, 1.0, 0.0])
