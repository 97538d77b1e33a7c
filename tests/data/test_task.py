"""The task model: units, label sets and their stable order."""

from __future__ import annotations

import pytest

from ftprobe.data import Example, LabelSet, Task, Unit


def test_label_set_is_sorted_and_indexes_stably() -> None:
    labels = LabelSet.from_labels(["VERB", "ADJ", "NOUN", "ADJ"])
    assert labels.names == ("ADJ", "NOUN", "VERB")
    assert [labels.index(x) for x in ("VERB", "ADJ")] == [2, 0]
    with pytest.raises(KeyError, match="XYZ"):
        labels.index("XYZ")


def test_unit_shapes_are_checked() -> None:
    assert Unit.pair(3, 1).indices == (3, 1)
    with pytest.raises(ValueError):
        Unit("pair", (1,))
    with pytest.raises(ValueError):
        Example(tokens=("a", "b"), unit=Unit.word(2), label="X")


def test_task_rejects_labels_outside_its_label_set() -> None:
    ex = Example(tokens=("in", "town"), unit=Unit.word(0), label="ADP")
    with pytest.raises(ValueError, match="ADP"):
        Task("pos", "dev", [ex], LabelSet(("NOUN",)))


def test_span_text_joins_its_words() -> None:
    ex = Example(tokens=("next", "to", "me"), unit=Unit.span([0, 1]), label="p.Locus")
    assert ex.text == "next to"


def _words(*sentences: tuple[str, ...], sent_ids: tuple[str, ...] = ()) -> Task:
    examples = [
        Example(tokens=words, unit=Unit.word(i), label="X", sent_id=sid)
        for words, sid in zip(sentences, sent_ids or [None] * len(sentences), strict=True)
        for i in range(len(words))
    ]
    return Task("pos", "dev", examples, LabelSet(("X",)))


def test_a_sentence_is_its_words_wherever_it_repeats() -> None:
    thanks, hello = ("Thank", "you", "."), ("Hello", "!")
    task = _words(thanks, hello, thanks, sent_ids=("s1", "s2", "s9"))
    # The repeat (another sentence id, the same words) joins the first: the encoder gives
    # it the same vectors, so the memorization split must keep both on one side.
    assert task.sentence_groups() == {thanks: [0, 1, 2, 5, 6, 7], hello: [3, 4]}
    assert task.sentences() == [thanks, hello]


def test_a_slice_is_named_after_its_size() -> None:
    task = _words(("a", "b", "c"), ("d", "e"))
    head = task.first(3)
    assert (
        head.split == "dev-first3" and [ex.tokens for ex in head.examples] == [("a", "b", "c")] * 3
    )
    # Nothing cut, nothing renamed: the whole split keeps its store entry.
    assert task.first(0) is task and task.first(5) is task and task.first(9) is task
