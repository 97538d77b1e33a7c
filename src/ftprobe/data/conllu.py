"""CoNLL-U files (Universal Dependencies): POS and DEP tasks.

The sentence reader here is shared with the STREUSLE ``.conllulex`` reader
(same layout with 19 columns instead of 10).

- Words are the lines whose ID is an integer. Multiword-token ranges
  (``1-2 can't``) and empty nodes (``8.1``) are skipped; word positions are
  0-based positions among the real words, so they line up with the FORM
  column the sentence text is built from.
- POS: one example per word, label = UPOS (column 4), label set = the 17 UD
  tags (:data:`UPOS_TAGS`), fixed, so every split and corpus shares it.
- DEP: one example per word with a head, unit = the ``(head, dependent)``
  pair, label = DEPREL (column 8) with its subtype (``nmod:poss``);
  ``subtypes=False`` keeps only the universal part. The root word (HEAD 0)
  has no head word and is excluded by default; ``include_root=True`` keeps it
  as the pair ``(root, root)`` labelled ``root``.

Every problem is an :class:`~ftprobe.errors.InputError` naming the file and
line: a wrong number of columns, a bad ID, IDs out of order, a HEAD outside
the sentence, HEADs that make no tree (a word its own head, a second root, a
cycle), an unknown UPOS, a repeated ``# sent_id``, bytes that are not
UTF-8, an empty file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ftprobe.data.task import Example, LabelSet, Task, Unit
from ftprobe.data.textfile import read_lines
from ftprobe.errors import InputError

__all__ = [
    "UPOS_TAGS",
    "Sentence",
    "dep_examples",
    "pos_examples",
    "read_dep",
    "read_pos",
    "read_sentences",
]

PathLike = str | os.PathLike[str]

#: The 17 universal part-of-speech tags of UD v2, in sorted (label index) order.
UPOS_TAGS: tuple[str, ...] = (
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM",
    "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
)  # fmt: skip

# 0-based column positions of the CoNLL-U fields used here.
ID, FORM, UPOS, HEAD, DEPREL = 0, 1, 3, 6, 7


@dataclass(frozen=True)
class Sentence:
    """One sentence's real words: their columns and the file lines they came from."""

    sent_id: str
    rows: tuple[tuple[str, ...], ...]
    lines: tuple[int, ...]
    path: str

    @property
    def words(self) -> tuple[str, ...]:
        """The FORM column of the real words, in order."""
        return tuple(row[FORM] for row in self.rows)

    def source(self, position: int) -> str:
        """``file:line`` of the word at 0-based ``position``."""
        return f"{self.path}:{self.lines[position]}"


def read_sentences(path: PathLike, n_columns: int = 10) -> list[Sentence]:
    """Read every sentence of a CoNLL-U(-like) file with ``n_columns`` tab-separated columns.

    A sentence without ``# sent_id`` gets ``FILE:LINE`` of its first line as id.
    """
    path_str = str(path)
    lines = read_lines(path)
    sentences: list[Sentence] = []
    seen_ids: dict[str, int] = {}
    rows: list[tuple[str, ...]] = []
    row_lines: list[int] = []
    sent_id: str | None = None
    start = 0

    def finish(end_line: int) -> None:
        nonlocal rows, row_lines, sent_id, start
        if not rows:
            raise InputError(path, end_line, "a sentence header without any word lines")
        n = len(rows)
        for row, lineno in zip(rows, row_lines, strict=True):
            head = row[HEAD]
            if head != "_" and not (head.isdigit() and int(head) <= n):
                raise InputError(
                    path, lineno, f"HEAD {head!r} is not a word of this {n}-word sentence (or 0)"
                )
        _check_tree(path, rows, row_lines)
        sid = sent_id if sent_id is not None else f"{path_str}:{start}"
        sentences.append(Sentence(sid, tuple(rows), tuple(row_lines), path_str))
        rows, row_lines, sent_id, start = [], [], None, 0

    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            if rows or sent_id is not None:
                finish(lineno)
            start = 0
            continue
        if start == 0:
            start = lineno
        if line.startswith("#"):
            key, sep, value = line[1:].partition("=")
            if sep and key.strip() == "sent_id":
                if rows:
                    raise InputError(
                        path, lineno, "# sent_id inside a sentence (missing blank line?)"
                    )
                sent_id = value.strip()
                if sent_id in seen_ids:
                    raise InputError(
                        path,
                        lineno,
                        f"duplicate sentence id {sent_id!r} (first on line {seen_ids[sent_id]})",
                    )
                seen_ids[sent_id] = lineno
            continue
        fields = line.split("\t")
        if len(fields) != n_columns:
            raise InputError(
                path,
                lineno,
                f"expected {n_columns} tab-separated columns, found {len(fields)} "
                "(truncated line or spaces instead of tabs?)",
            )
        token_id = fields[ID]
        if token_id.isdigit():
            if int(token_id) != len(rows) + 1:
                raise InputError(
                    path, lineno, f"word ID {token_id} out of order (expected {len(rows) + 1})"
                )
            rows.append(tuple(fields))
            row_lines.append(lineno)
        elif not _is_range_or_empty(token_id):
            raise InputError(path, lineno, f"bad ID {token_id!r} (expected N, N-M or N.M)")
    if rows or sent_id is not None:
        finish(len(lines))
    if not sentences:
        raise InputError(path, None, "no sentences in the file")
    return sentences


def _check_tree(path: PathLike, rows: list[tuple[str, ...]], lines: list[int]) -> None:
    """The HEAD column must make a tree: one root, no word its own head, no cycle.

    Words whose HEAD is ``_`` are left out (a file without dependencies), so
    only the heads given are checked.
    """
    heads = [None if row[HEAD] == "_" else int(row[HEAD]) for row in rows]
    root: int | None = None
    for i, head in enumerate(heads):
        if head == i + 1:
            raise InputError(path, lines[i], f"word {i + 1} is its own HEAD (a self-loop)")
        if head == 0:
            if root is not None:
                raise InputError(
                    path,
                    lines[i],
                    f"a second root (HEAD 0): word {root + 1} on line {lines[root]} is the "
                    "sentence's root already",
                )
            root = i
    # Walk up from every word; meeting a word of the current walk again is a cycle.
    done = [False] * len(heads)
    for start in range(len(heads)):
        walk: dict[int, int] = {}  # word -> its place in the walk
        i: int | None = start
        while i is not None and not done[i]:
            if i in walk:
                cycle = list(walk)[walk[i] :]
                first = min(cycle)
                order = cycle[cycle.index(first) :] + cycle[: cycle.index(first)]
                chain = " -> ".join(str(w + 1) for w in [*order, first])
                raise InputError(
                    path,
                    lines[first],
                    f"the HEAD column makes a cycle ({chain}): these words never reach the root",
                )
            walk[i] = len(walk)
            head = heads[i]
            i = head - 1 if head else None
        for w in walk:
            done[w] = True


def _is_range_or_empty(token_id: str) -> bool:
    for sep in ("-", "."):
        a, found, b = token_id.partition(sep)
        if found and a.isdigit() and b.isdigit():
            return True
    return False


def pos_examples(sentences: list[Sentence]) -> list[Example]:
    """One example per real word, labelled with its UPOS (checked against :data:`UPOS_TAGS`)."""
    allowed = set(UPOS_TAGS)
    examples: list[Example] = []
    for sent in sentences:
        words = sent.words
        for i, row in enumerate(sent.rows):
            if row[UPOS] not in allowed:
                raise InputError(
                    sent.path, sent.lines[i], f"UPOS {row[UPOS]!r} is not one of the 17 UD tags"
                )
            examples.append(Example(words, Unit.word(i), row[UPOS], sent.sent_id, sent.source(i)))
    return examples


def dep_examples(
    sentences: list[Sentence], include_root: bool = False, subtypes: bool = True
) -> list[Example]:
    """One example per dependency: unit = ``(head, dependent)``, label = DEPREL.

    See the module docstring for the root and subtypes options.
    """
    examples: list[Example] = []
    for sent in sentences:
        words = sent.words
        for i, row in enumerate(sent.rows):
            head, rel = row[HEAD], row[DEPREL]
            if head == "_" or rel == "_":
                raise InputError(sent.path, sent.lines[i], "a word without HEAD or DEPREL")
            label = rel if subtypes else rel.split(":", 1)[0]
            if head == "0":
                if include_root:
                    examples.append(
                        Example(words, Unit.pair(i, i), label, sent.sent_id, sent.source(i))
                    )
                continue
            examples.append(
                Example(words, Unit.pair(int(head) - 1, i), label, sent.sent_id, sent.source(i))
            )
    return examples


def read_pos(path: PathLike, split: str, name: str = "pos") -> Task:
    """A POS task from one CoNLL-U file, with the fixed 17-tag label set."""
    return Task(name, split, pos_examples(read_sentences(path)), LabelSet(UPOS_TAGS), "word")


def read_dep(
    path: PathLike,
    split: str,
    name: str = "dep",
    labels: LabelSet | None = None,
    include_root: bool = False,
    subtypes: bool = True,
) -> Task:
    """A DEP task from one CoNLL-U file.

    ``labels`` defaults to the relations found in this file; pass the union
    over all splits (as :func:`ftprobe.data.registry.load_splits` does) so that
    label indices agree between splits. A relation outside ``labels`` is an
    :class:`InputError` naming its line.
    """
    examples = dep_examples(read_sentences(path), include_root, subtypes)
    if labels is None:
        labels = LabelSet.from_labels(ex.label for ex in examples)
    check_labels(examples, labels)
    return Task(name, split, examples, labels, "pair")


def check_labels(examples: list[Example], labels: LabelSet) -> None:
    """Raise an :class:`InputError` at the first example whose label is not in ``labels``."""
    for ex in examples:
        if ex.label not in labels:
            path, _, line = (ex.source or "?:0").rpartition(":")
            raise InputError(
                path,
                int(line) if line.isdigit() else None,
                f"label {ex.label!r} is not in the label set",
            )
