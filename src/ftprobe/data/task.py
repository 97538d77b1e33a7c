"""The task model every later stage consumes.

A task is a list of examples; each example is one sentence's words, the unit
inside it to represent and that unit's label. The unit kinds cover the study's
tasks: a word (POS), a span of possibly non-contiguous words (a multiword
adposition), a (head, dependent) pair (DEP) and a whole sentence (TREC).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

UnitKind = Literal["word", "span", "pair", "sentence"]


@dataclass(frozen=True)
class Unit:
    """What to represent inside a sentence.

    ``indices`` are 0-based word positions: one for a word, one or more (in
    sentence order, possibly with gaps) for a span, exactly two ``(head,
    dependent)`` for a pair, none for a sentence.
    """

    kind: UnitKind
    indices: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.indices)
        if self.kind == "word" and n != 1:
            raise ValueError(f"a word unit has one index, got {self.indices}")
        if self.kind == "span" and n < 1:
            raise ValueError("a span unit needs at least one index")
        if self.kind == "pair" and n != 2:
            raise ValueError(f"a pair unit has two indices (head, dependent), got {self.indices}")
        if self.kind == "sentence" and n != 0:
            raise ValueError("a sentence unit has no indices")
        if any(i < 0 for i in self.indices):
            raise ValueError(f"negative word index in {self.indices}")

    @classmethod
    def word(cls, i: int) -> Unit:
        return _word_unit(i)

    @classmethod
    def span(cls, indices: Iterable[int]) -> Unit:
        return cls("span", tuple(indices))

    @classmethod
    def pair(cls, head: int, dependent: int) -> Unit:
        return cls("pair", (head, dependent))

    @classmethod
    def sentence(cls) -> Unit:
        return cls("sentence", ())


@cache
def _word_unit(i: int) -> Unit:
    # Units are immutable and a corpus asks for the same few hundred word
    # positions tens of thousands of times: one object each saves the checks.
    return Unit("word", (i,))


@dataclass(frozen=True)
class Example:
    """One labelled unit in its sentence.

    ``source`` says where it came from (``file:line``) so that later errors and
    reports can point back at the input.
    """

    tokens: tuple[str, ...]
    unit: Unit
    label: str
    sent_id: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        if self.unit.indices and max(self.unit.indices) >= len(self.tokens):
            raise ValueError(
                f"unit {self.unit.indices} is outside a sentence of {len(self.tokens)} words"
            )

    @property
    def text(self) -> str:
        """The words of the unit (the whole sentence for a sentence unit), space-joined."""
        if self.unit.kind == "sentence":
            return " ".join(self.tokens)
        return " ".join(self.tokens[i] for i in self.unit.indices)


@dataclass(frozen=True)
class LabelSet:
    """An ordered set of label strings; the order fixes every label index.

    The default order is sorted, which is also the published DirectProbe's
    order, so indices agree with existing pre-packed folders.
    """

    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            dupes = sorted(k for k, v in Counter(self.names).items() if v > 1)
            raise ValueError(f"duplicate labels in label set: {dupes}")

    @classmethod
    def from_labels(cls, labels: Iterable[str]) -> LabelSet:
        """The sorted set of the given labels."""
        return cls(tuple(sorted(set(labels))))

    def index(self, label: str) -> int:
        try:
            return self._positions[label]
        except KeyError:
            raise KeyError(f"label {label!r} is not in the label set") from None

    def __contains__(self, label: object) -> bool:
        return label in self._positions

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    @property
    def _positions(self) -> dict[str, int]:
        cache = self.__dict__.get("_pos_cache")
        if cache is None:
            cache = {name: i for i, name in enumerate(self.names)}
            object.__setattr__(self, "_pos_cache", cache)
        return cache


@dataclass
class Task:
    """The examples of one split of a task, with the task's label set."""

    name: str
    split: str
    examples: list[Example]
    labels: LabelSet
    unit_kind: UnitKind = field(default="word")

    def __post_init__(self) -> None:
        unknown = sorted({ex.label for ex in self.examples} - set(self.labels.names))
        if unknown:
            raise ValueError(
                f"task {self.name}/{self.split}: labels not in the label set: {unknown}"
            )

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def label_ids(self) -> list[int]:
        """Each example's label index in ``labels`` order."""
        return [self.labels.index(ex.label) for ex in self.examples]

    def label_counts(self) -> Counter[str]:
        return Counter(ex.label for ex in self.examples)

    def sentence_groups(self) -> dict[tuple[str, ...], list[int]]:
        """Each distinct sentence's words and the positions of its examples, in first-seen order.

        The one rule for "a sentence" (fine-tuning batches, the memorization split, the
        number of updates): a sentence is its words, so a sentence repeated in the corpus
        (EWT holds many "Thank you." lines) is one group. The encoder gives identical words
        identical vectors, so a repeat split across subtrain and subtest would leak.
        """
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, ex in enumerate(self.examples):
            groups.setdefault(ex.tokens, []).append(i)
        return groups

    def sentences(self) -> list[tuple[str, ...]]:
        """The distinct sentences, in first-seen order (several units can share one)."""
        return list(self.sentence_groups())

    def first(self, n: int) -> Task:
        """The first ``n`` examples as their own split, ``SPLIT-firstN`` (0 keeps them all).

        The one place slices are named: the name keeps a slice's store entry apart from
        the whole split's, whoever takes the slice (``ftprobe embed``, a study's jobs).
        """
        if not n or n >= len(self):
            return self
        return self.subset(range(n), split=f"{self.split}-first{n}")

    def subset(self, positions: Sequence[int], split: str | None = None) -> Task:
        """A task with the examples at ``positions`` (same label set)."""
        return Task(
            name=self.name,
            split=split or self.split,
            examples=[self.examples[i] for i in positions],
            labels=self.labels,
            unit_kind=self.unit_kind,
        )
