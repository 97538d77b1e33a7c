"""The memorization study's subtrain/subtest split of a training set.

The study fine-tunes on the whole training set, then trains classifier probes
on growing fractions of *subtrain* and evaluates them on *subtest* and on the
test set (see the experiments spec). The split is seeded and saved as a JSON
file of example positions, so every later stage reuses exactly the same one.

Examples that share a sentence (every word of a POS sentence, several
adpositions of one STREUSLE sentence) always fall on the same side: a probe's
subtest vectors then never come from a sentence whose other words it was
trained on, which keeps subtest as independent of subtrain as the test set is.
Sentences are drawn in a seeded random order into subtrain until it holds at
least ``fraction`` of the examples; the rest is subtest.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ftprobe.data.atomic import write_json
from ftprobe.data.task import Task
from ftprobe.encode.store import task_fingerprint
from ftprobe.errors import ConfigError, InputError

SUBTRAIN = "subtrain"
SUBTEST = "subtest"
_FORMAT = "ftprobe-subsplit"


@dataclass(frozen=True)
class SubSplit:
    """Which positions of a training task are subtrain and which subtest.

    ``task``, ``split`` and ``fingerprint`` identify the task the positions
    refer to (see :func:`ftprobe.encode.store.task_fingerprint`); applying the
    split to another task is refused.
    """

    task: str
    split: str
    fingerprint: str
    fraction: float
    seed: int
    subtrain: tuple[int, ...]
    subtest: tuple[int, ...]

    def apply(self, task: Task) -> tuple[Task, Task]:
        """``(subtrain, subtest)`` tasks of ``task``, whose splits are named accordingly."""
        if task_fingerprint(task) != self.fingerprint:
            raise ConfigError(
                f"this subtrain/subtest split was made for {self.task}/{self.split} "
                f"with other examples than {task.name}/{task.split}"
            )
        return task.subset(self.subtrain, SUBTRAIN), task.subset(self.subtest, SUBTEST)


def plan_split(task: Task, fraction: float = 0.8, seed: int = 13) -> SubSplit:
    """A seeded split of ``task`` keeping each sentence's examples together."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"the subtrain fraction must be between 0 and 1, got {fraction}")
    members = list(task.sentence_groups().values())
    if len(members) < 2:
        raise ConfigError(
            f"task {task.name}/{task.split} has {len(members)} sentence(s): "
            "a subtrain/subtest split needs at least two"
        )
    order = np.random.default_rng(seed).permutation(len(members))
    want = fraction * len(task)
    taken = 0
    cut = 0
    # Leave at least one sentence for subtest whatever the fraction.
    while cut < len(order) - 1 and taken < want:
        taken += len(members[order[cut]])
        cut += 1
    cut = max(cut, 1)
    subtrain = sorted(i for g in order[:cut] for i in members[g])
    subtest = sorted(i for g in order[cut:] for i in members[g])
    return SubSplit(
        task=task.name,
        split=task.split,
        fingerprint=task_fingerprint(task),
        fraction=float(fraction),
        seed=int(seed),
        subtrain=tuple(subtrain),
        subtest=tuple(subtest),
    )


def split_train(task: Task, fraction: float = 0.8, seed: int = 13) -> tuple[Task, Task]:
    """``(subtrain, subtest)`` of a training task (see :func:`plan_split`)."""
    return plan_split(task, fraction, seed).apply(task)


def save_split(split: SubSplit, path: str | os.PathLike[str]) -> Path:
    """Write the split as JSON (atomically); returns the path."""
    target = Path(path)
    record = {
        "format": _FORMAT,
        "version": 1,
        "task": split.task,
        "split": split.split,
        "fingerprint": split.fingerprint,
        "fraction": split.fraction,
        "seed": split.seed,
        "n_examples": len(split.subtrain) + len(split.subtest),
        SUBTRAIN: list(split.subtrain),
        SUBTEST: list(split.subtest),
    }
    return write_json(target, record, newline=True)


def load_split(path: str | os.PathLike[str]) -> SubSplit:
    """Read a split written by :func:`save_split`, checking that it is one."""
    source = Path(path)
    try:
        record = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(source, None, "no such subtrain/subtest split file") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(source, None, f"unreadable subtrain/subtest split ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != _FORMAT:
        raise InputError(source, None, "not an ftprobe subtrain/subtest split file")
    try:
        sub = SubSplit(
            task=str(record["task"]),
            split=str(record["split"]),
            fingerprint=str(record["fingerprint"]),
            fraction=float(record["fraction"]),
            seed=int(record["seed"]),
            subtrain=tuple(int(i) for i in record[SUBTRAIN]),
            subtest=tuple(int(i) for i in record[SUBTEST]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(source, None, f"malformed subtrain/subtest split ({exc})") from None
    both = sub.subtrain + sub.subtest
    if sorted(both) != list(range(len(both))):
        raise InputError(source, None, "subtrain and subtest must partition the examples")
    return sub
