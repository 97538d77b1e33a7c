"""Controls for probes: control tasks, shuffled labels, selectivity.

A probe's accuracy alone does not say whether the representation encodes the
labels or the probe learned them itself. Two label controls answer that:

- **Control task** (Hewitt and Liang, "Designing and Interpreting Probes with
  Control Tasks", EMNLP 2019): every *type* gets one random label, drawn from
  the task's training label distribution with a fixed seed, and every unit of
  that type carries it. A probe can only reach a high control accuracy by
  memorising types, so ``selectivity = task accuracy - control accuracy`` is
  high for a probe that reads the labels off the representation and low for
  one that would fit any type-consistent labelling.
- **Shuffled labels**: the training labels permuted with a seed (the test
  labels stay gold), so a probe learns nothing transferable; its test
  accuracy is the floor a probe reaches without any signal.

What a *type* is: the unit's text as the representation store records it
(:attr:`ftprobe.data.task.Example.text`, case kept). For a word that is its
form; for a span (a multiword adposition) its words joined by spaces; for a
(head, dependent) pair the two forms in that order, so ``"saw him"`` and
``"him saw"`` are different types; for a sentence (TREC) the whole sentence,
so repeated questions share a label and every other question is its own type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ftprobe.errors import ConfigError, FtprobeError

CONTROL_TASK = "control-task"
SHUFFLED = "shuffled"
RANDOM_INIT = "random-init"
LABEL_CONTROLS: tuple[str, ...] = (CONTROL_TASK, SHUFFLED)
"""Controls that replace the training labels of the same representation."""
CONTROLS: tuple[str, ...] = (CONTROL_TASK, RANDOM_INIT, SHUFFLED)
"""Every control a study may ask for (``[probes] controls``)."""

# Control labels come from their own stream of the seed, so they are not the same draws
# as any probe's initialisation or held-out split made with that seed.
_CONTROL_STREAM = 7
_SHUFFLE_STREAM = 8


@dataclass(frozen=True)
class ControlTask:
    """A control task: the type -> label map and the control labels of both splits.

    ``train``/``test`` are label indices per unit; ``types`` maps every type
    seen (training types first, in first-seen order, then unseen test types)
    to its label; ``n_unseen_test`` counts test *units* whose type never
    occurs in training (they got a fresh draw from the same generator).
    """

    train: np.ndarray
    test: np.ndarray
    types: dict[str, int]
    n_train_types: int
    n_unseen_test: int


def control_task(
    train_types: Sequence[str],
    train_labels: Sequence[int] | np.ndarray,
    test_types: Sequence[str],
    n_labels: int,
    seed: int,
) -> ControlTask:
    """Build the control task of Hewitt and Liang (2019) for one task's two splits.

    Each distinct training type, in first-seen order, draws a label from the
    empirical distribution of ``train_labels`` (over ``n_labels`` labels);
    test types not seen in training then draw, in their first-seen order, from
    the same seeded generator. The same inputs and seed always give the same
    control labels.
    """
    y = np.asarray(train_labels, dtype=np.int64)
    if len(y) != len(train_types):
        raise FtprobeError(
            f"{len(train_types)} training types but {len(y)} labels: they must pair up"
        )
    if len(y) == 0:
        raise FtprobeError("a control task needs at least one training unit")
    if y.min() < 0 or y.max() >= n_labels:
        raise FtprobeError(f"training label indices must lie in 0..{n_labels - 1}")
    distribution = np.bincount(y, minlength=n_labels) / len(y)
    rng = np.random.default_rng([int(seed), _CONTROL_STREAM])
    seen = list(dict.fromkeys(train_types))
    types = _draw(seen, rng, distribution)
    unseen = [t for t in dict.fromkeys(test_types) if t not in types]
    n_unseen = sum(1 for t in test_types if t not in types)
    # Drawn after every training type, so the training labels never depend on the test split.
    types.update(_draw(unseen, rng, distribution))
    return ControlTask(
        train=np.array([types[t] for t in train_types], dtype=np.int64),
        test=np.array([types[t] for t in test_types], dtype=np.int64),
        types=types,
        n_train_types=len(seen),
        n_unseen_test=n_unseen,
    )


def _draw(types: list[str], rng: np.random.Generator, p: np.ndarray) -> dict[str, int]:
    return dict(zip(types, rng.choice(len(p), size=len(types), p=p).tolist(), strict=True))


def shuffled_labels(labels: Sequence[int] | np.ndarray, seed: int) -> np.ndarray:
    """The labels permuted with ``seed``: the same label counts, no link to the vectors."""
    y = np.asarray(labels, dtype=np.int64)
    return y[np.random.default_rng([int(seed), _SHUFFLE_STREAM]).permutation(len(y))]


def selectivity(task_accuracy: float | None, control_accuracy: float | None) -> float:
    """Task accuracy minus control accuracy; NaN when either is missing or undefined."""
    if task_accuracy is None or control_accuracy is None:
        return float("nan")
    return float(task_accuracy) - float(control_accuracy)


def check_controls(controls: Sequence[str]) -> None:
    """Raise :class:`ConfigError` naming a control that is not one of :data:`CONTROLS`."""
    for name in controls:
        if name not in CONTROLS:
            raise ConfigError(
                f"controls names {name!r}; choose among {', '.join(repr(c) for c in CONTROLS)}"
            )
    dupes = sorted({c for c in controls if list(controls).count(c) > 1})
    if dupes:
        raise ConfigError(f"controls lists {', '.join(dupes)} more than once")
