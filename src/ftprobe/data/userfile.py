"""Users' own labelled data: JSONL or TSV, one example per line.

JSONL (``.jsonl``), one object per line::

    {"tokens": ["I", "live", "in", "Utah"], "index": 2, "label": "p.Locus", "id": "s1"}

TSV (``.tsv``), a header line naming the columns, then one example per line::

    id<TAB>tokens<TAB>index<TAB>label
    s1<TAB>I live in Utah<TAB>2<TAB>p.Locus

Fields (the same names in both formats):

- ``tokens`` (required): the sentence's words; in JSONL a list of strings
  (``"text": "I live in Utah"``, split on whitespace, may be given instead);
  in TSV the words separated by spaces.
- ``label`` (required): the label string.
- the unit, at most one of these, word positions 0-based:
  ``index`` (one word), ``indices`` (a span of words in increasing order,
  gaps allowed; TSV: ``2 5`` or ``2,5``), ``span`` (contiguous words
  ``[start, end)``, end exclusive as in Python slices; JSONL ``[2, 4]``, TSV
  ``2:4``), ``head`` + ``dependent`` (a head-dependent pair); with none of
  them the unit is the whole sentence. Every line of a file must use the same
  kind of unit.
- ``id`` (optional): a sentence id (examples of one sentence may share it).

Any other field is an error (it is most likely a misspelling). Every problem
is an :class:`~ftprobe.errors.InputError` naming the file and line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ftprobe.data.conllu import check_labels
from ftprobe.data.task import Example, LabelSet, Task, Unit, UnitKind
from ftprobe.data.textfile import read_lines
from ftprobe.errors import InputError

__all__ = ["FIELDS", "FORMATS", "read_user_file", "user_examples"]

PathLike = str | os.PathLike[str]

#: Every field a user file may have.
FIELDS = ("id", "tokens", "text", "label", "index", "indices", "span", "head", "dependent")
_UNIT_FIELDS = ("index", "indices", "span", "head", "dependent")


def _jsonl_records(path: PathLike) -> list[tuple[int, dict[str, Any]]]:
    records = []
    for lineno, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(path, lineno, f"not valid JSON: {exc.msg}") from None
        if not isinstance(record, dict):
            raise InputError(path, lineno, "expected a JSON object {...}")
        records.append((lineno, record))
    return records


def _tsv_records(path: PathLike) -> list[tuple[int, dict[str, Any]]]:
    lines = read_lines(path)
    header = [h.strip() for h in lines[0].split("\t")]
    if "tokens" not in header or "label" not in header:
        raise InputError(
            path, 1, f"the header must name the columns, with tokens and label (found {header})"
        )
    if len(set(header)) != len(header):
        raise InputError(path, 1, f"a column is named twice in the header {header}")
    records = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(header):
            raise InputError(
                path, lineno, f"{len(cells)} tab-separated cells, but the header has {len(header)}"
            )
        record: dict[str, Any] = {}
        for key, cell in zip(header, cells, strict=True):
            cell = cell.strip()
            if cell in ("", "_") and key in _UNIT_FIELDS + ("id",):
                continue
            record[key] = _tsv_value(path, lineno, key, cell)
        records.append((lineno, record))
    return records


def _tsv_value(path: PathLike, lineno: int, key: str, cell: str) -> Any:
    try:
        if key == "tokens":
            return cell.split(" ")
        if key in ("index", "head", "dependent"):
            return int(cell)
        if key == "indices":
            return [int(v) for v in cell.replace(",", " ").split()]
        if key == "span":
            start, sep, end = cell.partition(":")
            if not sep:
                raise ValueError
            return [int(start), int(end)]
    except ValueError:
        raise InputError(
            path, lineno, f"column {key!r}: {cell!r} is not in the expected form"
        ) from None
    return cell


FORMATS: dict[str, Callable[[PathLike], list[tuple[int, dict[str, Any]]]]] = {
    "jsonl": _jsonl_records,
    "tsv": _tsv_records,
}


def _int(path: PathLike, lineno: int, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(path, lineno, f"{key!r} must be an integer word position, got {value!r}")
    return value


def _example(path: PathLike, lineno: int, record: dict[str, Any]) -> Example:
    unknown = sorted(set(record) - set(FIELDS))
    if unknown:
        raise InputError(
            path, lineno, f"unknown field(s) {unknown}; the fields are {', '.join(FIELDS)}"
        )
    if ("tokens" in record) == ("text" in record):
        raise InputError(path, lineno, "give the words as exactly one of 'tokens' or 'text'")
    if "text" in record:
        if not isinstance(record["text"], str):
            raise InputError(path, lineno, "'text' must be a string")
        tokens = record["text"].split()
    else:
        tokens = record["tokens"]
    if (
        not isinstance(tokens, list)
        or not tokens
        or not all(isinstance(t, str) and t and not t.isspace() for t in tokens)
    ):
        raise InputError(path, lineno, "'tokens' must be a non-empty list of non-empty strings")
    label = record.get("label")
    if not isinstance(label, str) or not label.strip():
        raise InputError(path, lineno, "'label' must be a non-empty string")
    given = [k for k in _UNIT_FIELDS if k in record]
    try:
        if not given:
            unit = Unit.sentence()
        elif given == ["index"]:
            unit = Unit.word(_int(path, lineno, "index", record["index"]))
        elif given == ["indices"]:
            values = record["indices"]
            if not isinstance(values, list) or not values:
                raise InputError(path, lineno, "'indices' must be a non-empty list of positions")
            idx = [_int(path, lineno, "indices", v) for v in values]
            if idx != sorted(set(idx)):
                raise InputError(path, lineno, f"'indices' {idx} must be increasing, no repeats")
            unit = Unit.span(idx)
        elif given == ["span"]:
            span = record["span"]
            if not isinstance(span, list) or len(span) != 2:
                raise InputError(path, lineno, "'span' must be [start, end] (end exclusive)")
            start, end = (_int(path, lineno, "span", v) for v in span)
            if not 0 <= start < end:
                raise InputError(path, lineno, f"'span' [{start}, {end}) is empty or negative")
            unit = Unit.span(range(start, end))
        elif sorted(given) == ["dependent", "head"]:
            unit = Unit.pair(
                _int(path, lineno, "head", record["head"]),
                _int(path, lineno, "dependent", record["dependent"]),
            )
        else:
            raise InputError(
                path,
                lineno,
                f"conflicting unit fields {given}: give one of index, indices, span, "
                "or head with dependent",
            )
        sent_id = record.get("id")
        return Example(
            tuple(tokens),
            unit,
            label.strip(),
            None if sent_id is None else str(sent_id),
            f"{path}:{lineno}",
        )
    except ValueError as exc:  # a position outside the sentence, or a negative one
        raise InputError(path, lineno, str(exc)) from None


def user_examples(path: PathLike, fmt: str | None = None) -> tuple[list[Example], UnitKind]:
    """Read a user file (format from ``fmt`` or the file's suffix) and its common unit kind."""
    fmt = fmt or Path(path).suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise InputError(path, None, f"unknown format {fmt!r}: use .jsonl or .tsv")
    examples: list[Example] = []
    kind: UnitKind | None = None
    for lineno, record in FORMATS[fmt](path):
        ex = _example(path, lineno, record)
        if kind is None:
            kind = ex.unit.kind
        elif ex.unit.kind != kind:
            raise InputError(
                path, lineno, f"a {ex.unit.kind} unit, but earlier lines have {kind} units"
            )
        examples.append(ex)
    if kind is None:
        raise InputError(path, None, "no examples in the file")
    return examples, kind


def read_user_file(
    path: PathLike,
    split: str | None = None,
    labels: LabelSet | None = None,
    name: str | None = None,
    fmt: str | None = None,
) -> Task:
    """A task from one JSONL/TSV file.

    ``split`` defaults to the file name without suffix (``dev.jsonl`` -> ``dev``);
    ``labels`` to the sorted labels found in the file (a label outside a given
    set is an :class:`InputError` naming its line).
    """
    examples, kind = user_examples(path, fmt)
    if labels is None:
        labels = LabelSet.from_labels(ex.label for ex in examples)
    check_labels(examples, labels)
    p = Path(path)
    return Task(name or p.stem, split or p.stem, examples, labels, kind)
