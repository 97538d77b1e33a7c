"""The classifier probe: learns what is learnable, nothing more, and reports it per label."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from ftprobe.errors import ConfigError, FtprobeError
from ftprobe.probes import (
    ClassifierProbe,
    learning_curve,
    nested_subsets,
    score_predictions,
)
from ftprobe.probes.classifier import _holdout


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _blobs(n: int, k: int, dim: int, seed: int, spread: float = 0.5):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(scale=4.0, size=(k, dim))
    y = rng.integers(0, k, size=n)
    X = centres[y] + rng.normal(scale=spread, size=(n, dim))
    return X.astype(np.float32), y


def test_learns_a_separable_problem() -> None:
    X, y = _blobs(600, 4, 16, seed=1)
    Xt, yt = _blobs(400, 4, 16, seed=2)
    scores = ClassifierProbe(hidden_size=32, seed=0).fit(X, y).evaluate(Xt, yt)
    assert scores.accuracy >= 0.99
    assert scores.macro_f1 >= 0.99
    assert scores.n == 400


def test_is_at_chance_on_random_labels() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(800, 16)).astype(np.float32)
    y = rng.integers(0, 4, size=800)
    Xt = rng.normal(size=(2000, 16)).astype(np.float32)
    yt = rng.integers(0, 4, size=2000)
    probe = ClassifierProbe(hidden_size=32, seed=0).fit(X, y)
    assert abs(probe.evaluate(Xt, yt).accuracy - 0.25) < 0.05


def test_same_seed_same_probe_other_seed_other_probe() -> None:
    X, y = _blobs(300, 3, 8, seed=4, spread=3.0)
    a = ClassifierProbe(hidden_size=16, seed=5).fit(X, y)
    b = ClassifierProbe(hidden_size=16, seed=5).fit(X, y)
    c = ClassifierProbe(hidden_size=16, seed=6).fit(X, y)
    wa, wb, wc = (p._fitted().hidden.weight for p in (a, b, c))
    assert torch.equal(wa, wb)
    assert not torch.equal(wa, wc)
    assert np.array_equal(a.predict(X), b.predict(X))


def test_per_label_accuracy_with_a_label_absent_from_the_eval_split() -> None:
    names = ["A", "B", "C", "D"]
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 3, 2])  # "D" is predicted once but never gold
    scores = score_predictions(y_true, y_pred, names)
    table = scores.per_label.set_index("label")
    assert list(table.index) == names
    assert table.loc["A", "accuracy"] == 0.5
    assert table.loc["B", "accuracy"] == pytest.approx(2 / 3)
    assert table.loc["C", "accuracy"] == 1.0
    assert table.loc["D", "n"] == 0 and math.isnan(table.loc["D", "accuracy"])
    assert scores.accuracy == pytest.approx(4 / 6)
    expected = f1_score(y_true, y_pred, labels=[0, 1, 2], average="macro")
    assert scores.macro_f1 == pytest.approx(expected)


def test_labels_missing_from_training_keep_their_index() -> None:
    X, y = _blobs(200, 3, 8, seed=7)
    probe = ClassifierProbe(hidden_size=16, seed=0).fit(X, y, n_labels=5)
    assert set(np.unique(probe.predict(X))) <= {0, 1, 2}
    yt = y.copy()
    yt[:3] = 4  # a label the probe never saw: always wrong, still reported
    scores = probe.evaluate(X, yt, ["a", "b", "c", "d", "e"])
    assert scores.per_label.set_index("label").loc["e", "accuracy"] == 0.0
    assert scores.per_label.set_index("label").loc["e", "n"] == 3


def test_holdout_never_takes_a_labels_last_example() -> None:
    y = np.array([0] * 200 + [1] + [2] * 2)
    train, held = _holdout(y, 0.1, 20, np.random.default_rng(0))
    assert len(held) == 20
    assert sorted(np.concatenate([train, held])) == list(range(len(y)))
    assert set(y[train]) == {0, 1, 2}
    # Too small to hold anything out: everything trains.
    train, held = _holdout(y[:100], 0.1, 20, np.random.default_rng(0))
    assert len(held) == 0 and len(train) == 100


def test_nested_subsets_are_seeded_nested_and_sized() -> None:
    fractions = [0.1, 0.5, 1.0]
    subsets = nested_subsets(50, fractions, seed=3)
    assert [len(s) for s in subsets] == [5, 25, 50]
    assert set(subsets[0]) <= set(subsets[1]) <= set(subsets[2])
    again = nested_subsets(50, fractions, 3)
    assert all(np.array_equal(a, b) for a, b in zip(subsets, again, strict=True))
    assert not np.array_equal(subsets[1], nested_subsets(50, fractions, 4)[1])
    with pytest.raises(ConfigError):
        nested_subsets(50, [0.0], 3)


def test_learning_curve_rows_and_growth() -> None:
    X, y = _blobs(400, 4, 16, seed=8, spread=2.5)
    evals = {"subtest": _blobs(200, 4, 16, seed=9, spread=2.5), "test": _blobs(200, 4, 16, 10, 2.5)}
    curve = learning_curve(X, y, evals, fractions=[0.05, 0.5, 1.0], seed=0)
    assert list(curve.columns) == ["fraction", "n_train", "split", "accuracy", "macro_f1"]
    assert len(curve) == 6
    assert list(curve["n_train"].unique()) == [20, 200, 400]
    assert set(curve["split"]) == {"subtest", "test"}
    test = curve[curve["split"] == "test"].set_index("fraction")["accuracy"]
    assert test[1.0] > test[0.05]
    again = learning_curve(X, y, evals, fractions=[0.05, 0.5, 1.0], seed=0)
    assert curve.equals(again)


def test_mismatched_inputs_are_clear_errors() -> None:
    with pytest.raises(FtprobeError, match="10 vectors but 9 labels"):
        ClassifierProbe().fit(np.zeros((10, 3)), np.zeros(9, dtype=int))
    with pytest.raises(FtprobeError, match="not been trained"):
        ClassifierProbe().predict(np.zeros((2, 3)))
    probe = ClassifierProbe(hidden_size=4).fit(np.eye(3), [0, 1, 2])
    with pytest.raises(FtprobeError, match="4 dimensions"):
        probe.predict(np.zeros((2, 4)))
