"""TREC-50 / TREC-6: fixed label lists and the malformed training line."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from ftprobe.data.textfile import SkippedLineWarning
from ftprobe.data.trec import COARSE_LABELS, FINE_LABELS, read_trec
from ftprobe.errors import InputError


@pytest.fixture(scope="module")
def trec_train(shared_data: Path) -> Path:
    return shared_data / "trec" / "train_5500.label"


def test_malformed_training_line_is_an_error_by_default(trec_train: Path) -> None:
    with pytest.raises(InputError, match="'NUM:How' is not one of the 50") as info:
        read_trec(trec_train, "train")
    assert (info.value.path, info.value.line) == (str(trec_train), 4_451)


@pytest.mark.parametrize(("granularity", "n_labels"), [("fine", 50), ("coarse", 6)])
def test_skipping_keeps_5443_questions_and_reports_the_line(
    trec_train: Path, granularity: str, n_labels: int
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task = read_trec(trec_train, "train", granularity, on_bad_line="skip")  # type: ignore[arg-type]
    skipped = [w.message for w in caught if isinstance(w.message, SkippedLineWarning)]
    assert [(s.path, s.line) for s in skipped] == [(str(trec_train), 4_451)]
    assert len(task) == 5_443 and len(task.labels) == n_labels
    assert "NUM:How" not in task.labels
    assert task.labels.names == (FINE_LABELS if granularity == "fine" else COARSE_LABELS)
    ex = task.examples[0]
    assert ex.unit.kind == "sentence" and ex.text.startswith("How did serfdom develop")


def test_test_file_reads_cleanly(shared_data: Path) -> None:
    task = read_trec(shared_data / "trec" / "TREC_10.label", "test")
    assert len(task) == 499 and task.labels.names == FINE_LABELS
    assert set(task.label_counts()) < set(FINE_LABELS)


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        (b"", None, "empty"),
        (b"HUM:ind Who ?\n\nLOC:city Where ?\n", 2, "blank line"),
        (b"HUM:ind Who ?\nLOC:city\n", 2, "without a question"),
        (b"HUM:ind Who ?\nLOC:city Wh\xf0re ?\n", 2, "latin-1"),
        (b"HUM:person Who ?\n", 1, "'HUM:person'"),
    ],
)
def test_bad_trec_input(tmp_path: Path, content: bytes, line: int | None, fragment: str) -> None:
    path = tmp_path / "t.label"
    path.write_bytes(content)
    with pytest.raises(InputError, match=fragment) as info:
        read_trec(path, "train")
    assert info.value.line == line


def test_latin1_files_can_be_read_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "t.label"
    path.write_bytes(b"LOC:city Wh\xf0re ?\n")
    assert read_trec(path, "train", encoding="latin-1").examples[0].tokens == ("Wh\xf0re", "?")
