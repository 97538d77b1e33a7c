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
