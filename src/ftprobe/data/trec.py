"""TREC question classification (Li & Roth 2002): TREC-50 and TREC-6.

Each line is ``COARSE:fine question words ...``; the question is already
tokenized (words separated by spaces). One example per question; its unit is
the whole sentence.

- TREC-50: label = ``COARSE:fine``, out of the 50 fine labels of the original
  release (:data:`FINE_LABELS`, fixed, sorted);
- TREC-6: label = ``COARSE`` (:data:`COARSE_LABELS`).

A line whose label is not one of the 50 (for example line 4,451 of the
shared ``train_5500.label``: ``NUM:How count many innings ...``, where a word
of the question took the place of the fine label) is malformed, and never
becomes a new label. ``on_bad_line="error"`` (the default) raises an
:class:`~ftprobe.errors.InputError` naming the file and line;
``on_bad_line="skip"`` leaves the line out with a
:class:`~ftprobe.data.textfile.SkippedLineWarning` naming it. The same lines are
skipped for TREC-6 as for TREC-50, so both see the same questions.

The files must be UTF-8 by default. The canonical release from cogcomp has
one non-UTF-8 byte; read it with ``encoding="latin-1"``.
"""

from __future__ import annotations

import os
import warnings
from typing import Literal

from ftprobe.data.task import Example, LabelSet, Task, Unit
from ftprobe.data.textfile import SkippedLineWarning, read_lines
from ftprobe.errors import InputError

__all__ = ["COARSE_LABELS", "FINE_LABELS", "OnBadLine", "read_trec", "trec_examples"]

OnBadLine = Literal["error", "skip"]
Granularity = Literal["fine", "coarse"]

_FINE = {
    "ABBR": "abb exp",
    "DESC": "def desc manner reason",
    "ENTY": "animal body color cremat currency dismed event food instru lang letter other "
    "plant product religion sport substance symbol techmeth termeq veh word",
    "HUM": "desc gr ind title",
    "LOC": "city country mount other state",
    "NUM": "code count date dist money ord other perc period speed temp volsize weight",
}
#: The 6 coarse classes, sorted.
COARSE_LABELS: tuple[str, ...] = tuple(sorted(_FINE))
#: The 50 fine classes as ``COARSE:fine``, sorted (label index order).
FINE_LABELS: tuple[str, ...] = tuple(
    sorted(f"{coarse}:{fine}" for coarse, fines in _FINE.items() for fine in fines.split())
)
assert len(FINE_LABELS) == 50


def trec_examples(
    path: str | os.PathLike[str],
    granularity: Granularity = "fine",
    on_bad_line: OnBadLine = "error",
    encoding: str = "utf-8",
) -> list[Example]:
    """The questions of a TREC label file, labelled fine (``COARSE:fine``) or coarse."""
    if on_bad_line not in ("error", "skip"):
        raise ValueError(f"on_bad_line must be 'error' or 'skip', not {on_bad_line!r}")
    if granularity not in ("fine", "coarse"):
        raise ValueError(f"granularity must be 'fine' or 'coarse', not {granularity!r}")
    allowed = set(FINE_LABELS)
    try:
        lines = read_lines(path, encoding=encoding)
    except InputError as exc:
        if exc.line is None or "not valid" not in exc.reason:
            raise
        hint = "; the canonical TREC release is Latin-1: read it with encoding='latin-1'"
        raise InputError(path, exc.line, exc.reason + hint) from None
    while lines and not lines[-1].strip():
        lines.pop()
    name = os.path.basename(os.fspath(path))
    examples: list[Example] = []
    for lineno, line in enumerate(lines, start=1):
        label, _, question = line.strip().partition(" ")
        words = tuple(question.split())
        problem = None
        if not line.strip():
            problem = "blank line (expected 'COARSE:fine question')"
        elif label not in allowed:
            problem = (
                f"label {label!r} is not one of the 50 TREC labels COARSE:fine "
                "(malformed line: a word of the question in the label's place?)"
            )
        elif not words:
            problem = f"label {label!r} without a question"
        if problem is not None:
            if on_bad_line == "error":
                raise InputError(
                    path,
                    lineno,
                    problem
                    + "; to leave such lines out, use on_bad_line='skip' (--on-bad-line skip)",
                )
            warnings.warn(SkippedLineWarning(path, lineno, problem), stacklevel=2)
            continue
        if granularity == "coarse":
            label = label.split(":", 1)[0]
        examples.append(
            Example(words, Unit.sentence(), label, f"{name}:{lineno}", f"{path}:{lineno}")
        )
    return examples


def read_trec(
    path: str | os.PathLike[str],
    split: str,
    granularity: Granularity = "fine",
    on_bad_line: OnBadLine = "error",
    encoding: str = "utf-8",
    name: str | None = None,
) -> Task:
    """A TREC-50 (``granularity="fine"``) or TREC-6 (``"coarse"``) task from one label file.

    The label set is the fixed list (:data:`FINE_LABELS` or :data:`COARSE_LABELS`).
    """
    examples = trec_examples(path, granularity, on_bad_line, encoding)
    if not examples:
        raise InputError(path, None, "no questions in the file")
    labels = LabelSet(FINE_LABELS if granularity == "fine" else COARSE_LABELS)
    default = "trec-50" if granularity == "fine" else "trec-6"
    return Task(name or default, split, examples, labels, "sentence")
