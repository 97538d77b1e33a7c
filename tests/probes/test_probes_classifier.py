"""The classifier probe: learns what is learnable, nothing more, and reports it per label."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score
from torch import nn

from ftprobe.errors import ConfigError, FtprobeError
from ftprobe.probes import (
    ClassifierProbe,
    learning_curve,
    nested_subsets,
    score_predictions,
)
from ftprobe.probes.classifier import _holdout


def _blobs(n: int, k: int, dim: int, seed: int, spread: float = 0.5):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(scale=4.0, size=(k, dim))
    y = rng.integers(0, k, size=n)
    X = centres[y] + rng.normal(scale=spread, size=(n, dim))
    return X.astype(np.float32), y


def test_learns_a_separable_problem() -> None:
    X, y = _blobs(600, 4, 16, seed=1)
    Xt, yt = _blobs(400, 4, 16, seed=2)
    scores = ClassifierProbe((32, 32), seed=0).fit(X, y).report(Xt, yt)
    assert scores.accuracy >= 0.99
    assert scores.macro_f1 >= 0.99
    assert scores.n == 400


def test_is_at_chance_on_random_labels() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(800, 16)).astype(np.float32)
    y = rng.integers(0, 4, size=800)
    Xt = rng.normal(size=(2000, 16)).astype(np.float32)
    yt = rng.integers(0, 4, size=2000)
    probe = ClassifierProbe((32, 32), seed=0).fit(X, y)
    assert abs(probe.report(Xt, yt).accuracy - 0.25) < 0.05


def test_same_seed_same_probe_other_seed_other_probe() -> None:
    X, y = _blobs(300, 3, 8, seed=4, spread=3.0)
    a = ClassifierProbe((16, 16), seed=5).fit(X, y)
    b = ClassifierProbe((16, 16), seed=5).fit(X, y)
    c = ClassifierProbe((16, 16), seed=6).fit(X, y)
    wa, wb, wc = (p._fitted()[0].hidden[0].weight for p in (a, b, c))
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
    probe = ClassifierProbe((16, 16), labels=["a", "b", "c", "d", "e"], seed=0).fit(X, y)
    assert set(np.unique(probe.predict(X))) <= {"a", "b", "c"}
    yt = y.copy()
    yt[:3] = 4  # a label the probe never saw: always wrong, still reported
    scores = probe.report(X, yt)
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
    assert list(curve.columns) == [
        "fraction",
        "n_train",
        "split",
        "accuracy",
        "macro_f1",
        "accuracy_sd",
    ]
    assert curve["accuracy_sd"].isna().all()  # one restart: the spread is undefined
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
    probe = ClassifierProbe((4, 4)).fit(np.eye(3), [0, 1, 2])
    with pytest.raises(FtprobeError, match="4 dimensions"):
        probe.predict(np.zeros((2, 4)))


def _linear_widths(probe: ClassifierProbe) -> list[tuple[int, int]]:
    net = probe._fitted()[0]
    return [(m.in_features, m.out_features) for m in net.modules() if isinstance(m, nn.Linear)]


def test_the_probe_has_two_hidden_layers_like_the_papers() -> None:
    X, y = _blobs(200, 3, 8, seed=11)
    default = ClassifierProbe(seed=0).fit(X, y)
    assert default.hidden_sizes_ == (256, 256)
    assert _linear_widths(default) == [(8, 256), (256, 256), (256, 3)]
    chosen = ClassifierProbe((64, 32), seed=0).fit(X, y)
    assert _linear_widths(chosen) == [(8, 64), (64, 32), (32, 3)]


def test_restarts_report_mean_and_sample_sd_and_one_restart_has_no_sd() -> None:
    X, y = _blobs(400, 4, 8, seed=12, spread=4.0)
    Xt, yt = _blobs(400, 4, 8, seed=13, spread=4.0)
    probe = ClassifierProbe((16, 16), restarts=3, seed=2).fit(X, y)
    scores = probe.report(Xt, yt)
    each = [ClassifierProbe((16, 16), seed=s).fit(X, y).report(Xt, yt).accuracy for s in (2, 3, 4)]
    assert scores.restarts == 3 and len(probe.epochs_) == 3
    assert scores.restart_accuracies == pytest.approx(each)  # restart i trains with seed + i
    assert scores.accuracy == pytest.approx(np.mean(each))
    assert scores.accuracy_sd == pytest.approx(np.std(each, ddof=1))
    assert scores.accuracy_sd > 0  # noisy blobs: the seeds disagree
    assert scores.per_label["accuracy_sd"].notna().all()
    single = ClassifierProbe((16, 16), seed=2).fit(X, y).report(Xt, yt)
    assert single.accuracy == pytest.approx(each[0])
    assert math.isnan(single.accuracy_sd) and math.isnan(single.macro_f1_sd)
    assert single.per_label["accuracy_sd"].isna().all()


def test_search_chooses_on_held_out_training_vectors_never_on_test() -> None:
    rng = np.random.default_rng(21)
    centres = np.random.default_rng(99).normal(scale=4.0, size=(3, 8))
    y = rng.integers(0, 3, size=500)
    X = (centres[y] + rng.normal(scale=0.5, size=(500, 8))).astype(np.float32)
    Xt = (centres[rng.integers(0, 3, 200)] + rng.normal(scale=0.5, size=(200, 8))).astype(
        np.float32
    )
    # A test split labelled by what a probe crushed by a huge L2 weight predicts: chosen
    # on test, the crushed setting would win with 100%.
    crushed = ClassifierProbe((8, 8), l2=30.0, seed=0).fit(X, y)
    yt = crushed.predict(Xt)
    assert crushed.report(Xt, yt).accuracy == 1.0

    probe = ClassifierProbe(search=True, search_sizes=(8,), search_l2=(0.0, 30.0), seed=0)
    probe.fit(X, y)
    table = probe.search_results_.set_index("l2")
    # Scored on training vectors held out of the search, the crushed setting loses.
    assert table.loc[0.0, "heldout_accuracy"] > 0.95
    assert table.loc[30.0, "heldout_accuracy"] < 0.5
    assert table.loc[0.0, "selected"] and not table.loc[30.0, "selected"]
    assert probe.l2_ == 0.0 and probe.hidden_sizes_ == (8, 8)
    assert probe.report(Xt, yt).accuracy < 0.7


def test_search_covers_the_papers_sixteen_size_pairs_and_refits_the_choice() -> None:
    X, y = _blobs(300, 3, 8, seed=14, spread=2.0)
    probe = ClassifierProbe(search=True, search_l2=(1e-7, 1e-2), seed=1).fit(X, y)
    table = probe.search_results_
    assert len(table) == 16 * 2
    pairs = {tuple(int(h) for h in s.split("x")) for s in table["hidden_sizes"]}
    assert pairs == {(a, b) for a in (32, 64, 128, 256) for b in (32, 64, 128, 256)}
    best = table[table["selected"]]
    assert len(best) == 1
    assert best["heldout_accuracy"].iloc[0] == table["heldout_accuracy"].max()
    # The first best point in grid order, refitted: the network has its sizes.
    first = table[table["heldout_accuracy"] == table["heldout_accuracy"].max()].iloc[0]
    assert best.index[0] == first.name
    a, b = (int(h) for h in best["hidden_sizes"].iloc[0].split("x"))
    assert _linear_widths(probe) == [(8, a), (a, b), (b, 3)]
    assert probe.l2_ == best["l2"].iloc[0]


def test_search_on_too_few_vectors_is_a_clear_error() -> None:
    X, y = _blobs(60, 3, 4, seed=15)
    with pytest.raises(FtprobeError, match="too few to choose settings"):
        ClassifierProbe(search=True, search_sizes=(4,), seed=0).fit(X, y)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hidden_sizes": 256}, "list of layer widths"),
        ({"hidden_sizes": ()}, "hidden_sizes must be"),
        ({"hidden_sizes": (32, 0)}, "hidden_sizes must be"),
        ({"l2": -1.0}, "l2 must be"),
        ({"search_sizes": ()}, "search_sizes must be"),
        ({"search_l2": ()}, "search_l2 must be"),
        ({"search_fraction": 1.0}, "search_fraction must"),
        ({"restarts": 0}, "restarts must be a positive integer"),
    ],
)
def test_bad_probe_settings_are_clear_errors_at_fit(options: dict, message: str) -> None:
    probe = ClassifierProbe(**options)  # stored as given, as scikit-learn's estimators do
    with pytest.raises(ConfigError, match=message):
        probe.fit(np.eye(3), [0, 1, 2])
