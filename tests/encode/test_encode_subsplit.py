"""The memorization study's subtrain/subtest split: seeded, disjoint, covering, reloadable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftprobe.data.registry import load_task
from ftprobe.data.task import Example, LabelSet, Task, Unit
from ftprobe.encode.subsplit import (
    SUBTEST,
    SUBTRAIN,
    load_split,
    plan_split,
    save_split,
    split_train,
)
from ftprobe.errors import ConfigError, InputError


def _words_task(n_sentences: int = 50) -> Task:
    examples = []
    for s in range(n_sentences):
        tokens = tuple(f"w{s}_{i}" for i in range(1 + s % 4))
        examples += [Example(tokens, Unit.word(i), "AB"[i % 2]) for i in range(len(tokens))]
    return Task("toy", "train", examples, LabelSet(("A", "B")), "word")


def test_split_is_seeded_disjoint_covering_and_near_the_fraction() -> None:
    task = _words_task()
    split = plan_split(task, 0.8, seed=5)
    sub, held = set(split.subtrain), set(split.subtest)
    assert not sub & held
    assert sub | held == set(range(len(task)))
    assert 0.8 <= len(sub) / len(task) < 0.8 + 4 / len(task)
    assert plan_split(task, 0.8, seed=5) == split
    assert plan_split(task, 0.8, seed=6).subtrain != split.subtrain


def test_a_sentence_never_straddles_the_split() -> None:
    task = _words_task()
    subtrain, subtest = split_train(task, 0.8, seed=1)
    assert (subtrain.split, subtest.split) == (SUBTRAIN, SUBTEST)
    assert not {ex.tokens for ex in subtrain.examples} & {ex.tokens for ex in subtest.examples}
    assert subtrain.labels == task.labels == subtest.labels


def test_saved_split_reloads_to_the_same_tasks(tmp_path: Path, shared_data: Path) -> None:
    task = load_task("ps-role", "dev", shared_data)
    split = plan_split(task, 0.8, seed=13)
    path = save_split(split, tmp_path / "split.json")
    again = load_split(path)
    assert again == split
    a_train, a_test = split.apply(task)
    b_train, b_test = again.apply(task)
    assert a_train.examples == b_train.examples and a_test.examples == b_test.examples
    assert len(a_train) + len(a_test) == len(task)


def test_split_refuses_another_task_and_bad_files(tmp_path: Path) -> None:
    task = _words_task()
    split = plan_split(task, 0.8, seed=0)
    with pytest.raises(ConfigError, match="other examples"):
        split.apply(_words_task(49))
    path = save_split(split, tmp_path / "split.json")
    record = json.loads(path.read_text())
    record[SUBTEST] = record[SUBTEST][1:]  # one example lost
    path.write_text(json.dumps(record))
    with pytest.raises(InputError, match="partition"):
        load_split(path)
    with pytest.raises(ConfigError):
        plan_split(task, 1.0, seed=0)
