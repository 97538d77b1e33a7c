"""Extraction on the real offline MiniLM and slices of the shared corpora."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ftprobe.data.conllu import read_dep, read_pos
from ftprobe.data.prepacked import read_embeddings, read_entities
from ftprobe.data.streusle import read_ps
from ftprobe.data.task import Example, LabelSet, Task, Unit
from ftprobe.encode.alignment import special_template, tokenize_words
from ftprobe.encode.extract import extract, parse_layers
from ftprobe.errors import ConfigError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pos_dev(ewt_dev) -> Task:
    task = read_pos(ewt_dev, "dev")
    # A dozen sentences, every unit of each: several units share each sentence.
    keep = set(task.sentences()[:12])
    return task.subset([i for i, ex in enumerate(task.examples) if ex.tokens in keep])


@pytest.fixture(scope="module")
def forward_rows() -> list[int]:
    return []


@pytest.fixture(scope="module")
def pos_first(encoder, pos_dev: Task, forward_rows: list[int]):
    tokenizer, model = encoder

    def counting_forward(m, inputs):
        forward_rows.append(int(inputs["input_ids"].shape[0]))
        return m(**inputs, output_hidden_states=True).hidden_states

    return extract(pos_dev, tokenizer, model, progress=False, forward=counting_forward)


def test_every_layer_has_one_row_per_example(pos_first, pos_dev: Task) -> None:
    assert sorted(pos_first.layers) == list(range(7))  # embeddings + 6 transformer layers
    for arr in pos_first.layers.values():
        assert arr.shape == (len(pos_dev), 384)
        assert arr.dtype == np.float32
        assert np.isfinite(arr).all()
    assert pos_first.report.n_sentences == 12
    assert pos_first.report.n_examples == len(pos_dev) > 100
    # Layers are different representations, not copies of one another.
    assert not np.allclose(pos_first.layers[0], pos_first.layers[6])


def test_first_and_mean_pooling_differ_only_for_multi_piece_words(
    encoder, pos_dev: Task, pos_first
) -> None:
    tokenizer, model = encoder
    mean = extract(pos_dev, tokenizer, model, layers=[0, 3], pooling="mean", progress=False)
    sentences = pos_dev.sentences()
    pieces = dict(zip(sentences, tokenize_words(tokenizer, sentences), strict=True))
    n_pieces = np.array(
        [len(pieces[ex.tokens].pieces_of(ex.unit.indices[0])) for ex in pos_dev.examples]
    )
    single, multi = n_pieces == 1, n_pieces > 1
    assert single.sum() > 50 and multi.sum() >= 5
    for layer in (0, 3):
        a, b = pos_first.layers[layer], mean.layers[layer]
        np.testing.assert_allclose(a[single], b[single], atol=1e-6)
        gaps = np.abs(a[multi] - b[multi]).max(axis=1)
        assert (gaps > 1e-3).all()


def test_each_sentence_is_encoded_once_and_batches_do_not_change_results(
    encoder, pos_dev: Task, pos_first, forward_rows: list[int]
) -> None:
    tokenizer, model = encoder
    assert sum(forward_rows) == 12  # 12 distinct sentences, many units each
    few = pos_dev.subset(
        [i for i, ex in enumerate(pos_dev.examples) if ex.tokens in set(pos_dev.sentences()[:5])]
    )
    small = extract(few, tokenizer, model, [6], batch_size=2, progress=False)
    np.testing.assert_allclose(small.layers[6], pos_first.layers[6][: len(few)], atol=2e-5)


def test_pooled_vectors_are_the_models_own_outputs(encoder) -> None:
    """Check positions against a direct forward pass of the tokenizer's own encoding."""
    tokenizer, model = encoder
    words = ("Unbelievably", ",", "the", "hyperparameterization", "worked", "!")
    labels = LabelSet(("x",))
    examples = [Example(words, Unit.word(i), "x") for i in range(len(words))]
    pair = [Example(words, Unit.pair(4, 3), "x")]
    sent = [Example(words, Unit.sentence(), "x")]
    enc = tokenizer(list(words), is_split_into_words=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**enc, output_hidden_states=True).hidden_states
    word_ids = enc.word_ids(0)
    first_pos = [word_ids.index(w) for w in range(len(words))]
    got = extract(Task("t", "s", examples, labels), tokenizer, model, [0, 6], progress=False)
    for layer in (0, 6):
        expected = hidden[layer][0, first_pos].numpy()
        np.testing.assert_allclose(got.layers[layer], expected, atol=2e-5)
    mean = extract(examples, tokenizer, model, [6], "mean", progress=False).layers[6]
    positions_of_3 = [p for p, w in enumerate(word_ids) if w == 3]
    assert len(positions_of_3) > 2
    np.testing.assert_allclose(mean[3], hidden[6][0, positions_of_3].mean(0).numpy(), atol=2e-5)
    pooled_pair = extract(pair, tokenizer, model, [6], progress=False).layers[6]
    assert pooled_pair.shape == (1, 768)
    np.testing.assert_allclose(
        pooled_pair[0], np.concatenate([expected[4], expected[3]]), atol=2e-5
    )
    cls = extract(sent, tokenizer, model, [6], "first", progress=False).layers[6]
    np.testing.assert_allclose(cls[0], hidden[6][0, 0].numpy(), atol=2e-5)


def test_long_sentences_are_encoded_in_windows(encoder, pos_dev: Task) -> None:
    tokenizer, model = encoder
    sentences = pos_dev.sentences()
    long_sentence = max(sentences, key=len)
    task = pos_dev.subset(
        [i for i, ex in enumerate(pos_dev.examples) if ex.tokens == long_sentence]
    )
    n_pieces = len(tokenize_words(tokenizer, [long_sentence])[0])
    limit = n_pieces // 2 + 2  # forces at least two windows
    old = tokenizer.model_max_length
    tokenizer.model_max_length = limit
    try:
        windowed = extract(task, tokenizer, model, [6], progress=False)
    finally:
        tokenizer.model_max_length = old
    assert windowed.report.windowed_sentences == 1
    assert windowed.report.windowed_units == len(task)
    assert windowed.report.max_length == limit
    # The last word's vector is the model's output for the last window, encoded alone.
    from ftprobe.encode.alignment import plan_windows

    template = special_template(tokenizer)
    pieces = tokenize_words(tokenizer, [long_sentence])[0]
    last = plan_windows(len(pieces), limit - template.n_special)[-1]
    ids = torch.tensor([template.wrap(pieces.ids[last.start : last.stop].tolist())])
    with torch.inference_mode():
        out = model(input_ids=ids, output_hidden_states=True).hidden_states[6][0]
    k = next(
        i for i, ex in enumerate(task.examples) if ex.unit.indices[0] == len(long_sentence) - 1
    )
    pos = int(pieces.starts[len(long_sentence) - 1]) - last.start + len(template.prefix)
    np.testing.assert_allclose(windowed.layers[6][k], out[pos].numpy(), atol=2e-5)


def test_dep_pairs_are_twice_as_wide(encoder, ewt_dev) -> None:
    tokenizer, model = encoder
    task = read_dep(ewt_dev, "dev")
    task = task.subset(range(40))
    reps = extract(task, tokenizer, model, [6], progress=False)
    assert reps.layers[6].shape == (40, 768)


def test_layer_choice_is_checked() -> None:
    assert parse_layers("all", 7) == list(range(7))
    assert parse_layers("6,0", 7) == [0, 6]
    assert parse_layers("-1", 7) == [6]
    with pytest.raises(ConfigError, match="layers 0..6"):
        parse_layers("7", 7)
    with pytest.raises(ConfigError):
        parse_layers("six", 7)


def _ps_role(shared_data, split: str) -> Task:
    folder = shared_data / "streusle"
    files = {s: folder / f"streusle.ud_{s}.conllulex" for s in ("dev", "test")}
    labels = LabelSet.from_labels(
        label for path in files.values() for label in read_ps(path, "x").label_counts()
    )
    return read_ps(files[split], split, labels=labels)


@pytest.mark.parametrize(("split", "prepacked"), [("dev", "train"), ("test", "test")])
def test_ps_role_matches_the_published_reference_vectors(
    encoder, shared_data, reference_task, split: str, prepacked: str
) -> None:
    """The reference folder holds layer 6, first piece, of this very model (6 decimals)."""
    tokenizer, model = encoder
    task = _ps_role(shared_data, split)
    entities = read_entities(reference_task / "entities" / f"{prepacked}.txt")
    assert [lab for _, lab in entities] == [ex.label for ex in task.examples]
    expected = read_embeddings(reference_task / "embeddings" / "layers" / prepacked / "6.txt")
    got = extract(task, tokenizer, model, [6], "first", progress=False).layers[6]
    assert got.shape == expected.shape == (len(task), 384)
    diff = np.abs(got - expected).max(axis=1)
    assert diff.max() < 1e-5, f"rows {np.flatnonzero(diff >= 1e-5)[:10]} differ"
    # Multiword adpositions are among them: their first word's first piece is used.
    assert sum(ex.unit.indices != ex.unit.indices[:1] for ex in task.examples) > 10
