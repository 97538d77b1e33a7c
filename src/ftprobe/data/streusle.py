"""STREUSLE ``.conllulex`` files: the preposition-supersense tasks PS-role and PS-fxn.

A unit is a supersense-tagged *strong lexical expression* whose scene role
(column 14, ``SS``) is an adposition supersense (starts with ``p.``): single
adpositions and possessives (``of``, ``'s``, ``my``) and multiword ones
(``because of``, ``on top of``). The supersense is written on the
expression's first word; a multiword expression (column 11, ``SMWE`` =
``group:position``) becomes a span over all of its words, in sentence order,
possibly with gaps. Units come in file order (the order of their first words).

- PS-role: label = ``SS`` (the scene role);
- PS-fxn: label = ``SS2`` (column 15, the function), on the same units.

``SS`` values that are not adposition supersenses (``n.*``, ``v.*``, the
special ```$`` and ``??``) are not units. Word positions count real words only
(multiword-token ranges and empty nodes are skipped), as in
:mod:`ftprobe.data.conllu`.

The published DirectProbe pre-packed folders list each unit by the form of
its first word (``because`` for *because of*); ``example.tokens[example.unit.indices[0]]``
gives that text.
"""

from __future__ import annotations

import os
from typing import Literal

from ftprobe.data.conllu import Sentence, check_labels, read_sentences
from ftprobe.data.task import Example, LabelSet, Task, Unit
from ftprobe.errors import InputError

__all__ = ["N_COLUMNS", "ps_examples", "read_ps"]

PathLike = str | os.PathLike[str]
Column = Literal["role", "fxn"]

#: Columns of a ``.conllulex`` line: the 10 of CoNLL-U and 9 lexical ones.
N_COLUMNS = 19
SMWE, SS, SS2 = 10, 13, 14


def ps_examples(sentences: list[Sentence], column: Column = "role") -> list[Example]:
    """The adposition-supersense units of ``sentences``, labelled by SS (role) or SS2 (fxn)."""
    if column not in ("role", "fxn"):
        raise ValueError(f"column must be 'role' or 'fxn', not {column!r}")
    examples: list[Example] = []
    for sent in sentences:
        words = sent.words
        groups = _strong_groups(sent)
        for i, row in enumerate(sent.rows):
            if not row[SS].startswith("p."):
                continue
            role, fxn = row[SS], row[SS2]
            if not fxn.startswith("p."):
                raise InputError(
                    sent.path,
                    sent.lines[i],
                    f"SS is {role!r} but SS2 is {fxn!r} (adpositions carry a p.* label in both)",
                )
            smwe = row[SMWE]
            if smwe == "_":
                unit = Unit.span([i])
            else:
                group, position = smwe.split(":")
                if position != "1":
                    raise InputError(
                        sent.path,
                        sent.lines[i],
                        f"supersense on word {position} of strong MWE {group} "
                        "(it belongs on the first word)",
                    )
                unit = Unit.span(groups[group])
            label = role if column == "role" else fxn
            examples.append(Example(words, unit, label, sent.sent_id, sent.source(i)))
    return examples


def _strong_groups(sent: Sentence) -> dict[str, list[int]]:
    """Word positions of each strong MWE of a sentence, checked to be numbered 1..m."""
    members: dict[str, list[tuple[int, int]]] = {}
    for i, row in enumerate(sent.rows):
        smwe = row[SMWE]
        if smwe == "_":
            continue
        group, sep, position = smwe.partition(":")
        if not (sep and group.isdigit() and position.isdigit()):
            raise InputError(
                sent.path, sent.lines[i], f"SMWE {smwe!r} is not GROUP:POSITION (e.g. 1:2)"
            )
        members.setdefault(group, []).append((int(position), i))
    groups: dict[str, list[int]] = {}
    for group, items in members.items():
        positions = sorted(p for p, _ in items)
        if positions != list(range(1, len(items) + 1)) or len(items) < 2:
            first = sent.lines[min(i for _, i in items)]
            raise InputError(
                sent.path,
                first,
                f"strong MWE {group} has positions {positions} (expected 1..m, m >= 2)",
            )
        groups[group] = sorted(i for _, i in items)
    return groups


def read_ps(
    path: PathLike,
    split: str,
    column: Column = "role",
    labels: LabelSet | None = None,
    name: str | None = None,
) -> Task:
    """A PS-role (``column="role"``) or PS-fxn (``"fxn"``) task from one ``.conllulex`` file.

    ``labels`` defaults to the labels found in this file; pass the union over
    the splits (as :func:`ftprobe.data.registry.load_splits` does) so that
    label indices agree between splits.
    """
    examples = ps_examples(read_sentences(path, n_columns=N_COLUMNS), column)
    if not examples:
        raise InputError(path, None, "no adposition supersense (SS = p.*) in the file")
    if labels is None:
        labels = LabelSet.from_labels(ex.label for ex in examples)
    check_labels(examples, labels)
    return Task(name or f"ps-{column}", split, examples, labels, "span")
