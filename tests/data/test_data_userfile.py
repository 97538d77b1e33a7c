"""Users' own JSONL / TSV files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftprobe.data.task import LabelSet
from ftprobe.data.userfile import read_user_file
from ftprobe.errors import InputError

TOKENS = ["I", "live", "next", "to", "Utah"]


def _jsonl(tmp_path: Path, *records: dict, name: str = "train.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_jsonl_unit_kinds(tmp_path: Path) -> None:
    cases = {
        "word": ({"index": 1}, (1,)),
        "span": ({"span": [2, 4]}, (2, 3)),
        "gapped": ({"indices": [0, 2, 3]}, (0, 2, 3)),
        "pair": ({"head": 1, "dependent": 0}, (1, 0)),
        "sentence": ({}, ()),
    }
    for name, (unit, indices) in cases.items():
        path = _jsonl(
            tmp_path, {"tokens": TOKENS, "label": "X", "id": 7, **unit}, name=f"{name}.jsonl"
        )
        task = read_user_file(path)
        assert task.examples[0].unit.indices == indices
        assert task.split == name and task.examples[0].sent_id == "7"
    task = read_user_file(_jsonl(tmp_path, {"text": "next to me", "span": [0, 2], "label": "L"}))
    assert task.examples[0].text == "next to" and task.unit_kind == "span"


def test_tsv_with_header(tmp_path: Path) -> None:
    path = tmp_path / "dev.tsv"
    path.write_text(
        "id\ttokens\tspan\tlabel\n"
        "s1\tI live next to Utah\t2:4\tp.Locus\n"
        "s2\tWe met at noon\t2:3\tp.Time\n"
    )
    task = read_user_file(path)
    assert [(e.text, e.label) for e in task.examples] == [("next to", "p.Locus"), ("at", "p.Time")]
    assert task.labels.names == ("p.Locus", "p.Time") and task.split == "dev"


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        ({"tokens": TOKENS, "label": "X", "index": 9}, "outside a sentence of 5 words"),
        ({"tokens": TOKENS, "label": "X", "dependant": 1, "head": 0}, "unknown field"),
        ({"tokens": TOKENS, "label": "X", "index": 1, "span": [0, 1]}, "conflicting unit"),
        ({"tokens": TOKENS, "label": "X", "span": [3, 3]}, "empty"),
        ({"tokens": TOKENS, "label": "X", "indices": [3, 1]}, "increasing"),
        ({"tokens": TOKENS, "index": 1}, "'label'"),
        ({"tokens": [], "label": "X"}, "non-empty list"),
        ({"tokens": TOKENS, "label": "X", "index": "1"}, "integer"),
        ({"tokens": TOKENS, "label": "X", "head": 1}, "conflicting unit"),
    ],
)
def test_bad_jsonl_records_name_the_line(tmp_path: Path, record: dict, fragment: str) -> None:
    path = _jsonl(tmp_path, {"tokens": TOKENS, "label": "X", "index": 0}, record)
    with pytest.raises(InputError, match=fragment) as info:
        read_user_file(path)
    assert info.value.line == 2


def test_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"tokens": ["a"], "label": "X"}\n{"tokens": ["a"], "label": \n')
    with pytest.raises(InputError, match="not valid JSON") as info:
        read_user_file(path)
    assert info.value.line == 2
    path.write_text("")
    with pytest.raises(InputError, match="empty"):
        read_user_file(path)
    mixed = _jsonl(
        tmp_path, {"tokens": TOKENS, "label": "X", "index": 0}, {"tokens": TOKENS, "label": "X"}
    )
    with pytest.raises(InputError, match="a sentence unit, but earlier lines have word units"):
        read_user_file(mixed)
    tsv = tmp_path / "b.tsv"
    tsv.write_text("tokens\tlabel\nI live\tX\textra\n")
    with pytest.raises(InputError, match="3 tab-separated cells") as info:
        read_user_file(tsv)
    assert info.value.line == 2
    with pytest.raises(InputError, match="'Y' is not in the label set") as info:
        read_user_file(_jsonl(tmp_path, {"tokens": TOKENS, "label": "Y"}), labels=LabelSet(("X",)))
    assert info.value.line == 1
