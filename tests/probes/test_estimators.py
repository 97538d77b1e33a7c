"""DirectProbe and the classifier probe as scikit-learn estimators, through the Python API.

One vocabulary for both: parameters stored as given and checked at ``fit``,
``fit(X, y)`` with label names or indices, ``classes_``, ``predict``, ``score``
(accuracy), ``get_params``/``set_params``/``clone``. The expected partition,
predictions and accuracies are what the earlier API (``fit(X, y, label_names)`` for
DirectProbe, ``fit(X, y, n_labels=4)`` and ``evaluate`` for the classifier) gave on
the same toy data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from ftprobe.errors import ConfigError, FtprobeError
from ftprobe.geometry.directprobe import Checkpoints, DirectProbe
from ftprobe.geometry.merging import ClusteringInterrupted
from ftprobe.probes import ClassifierProbe

NAMES = ("noun", "verb", "adj", "adv")  # "adv" never occurs: the label set is wider than y

# What the earlier API gave on the toy data below.
OLD_ASSIGNMENT = [
    0, 3, 2, 2, 5, 5, 0, 4, 2, 2, 5, 5, 3, 4, 5, 4, 2, 3, 2, 2,
    5, 1, 5, 5, 2, 2, 3, 3, 3, 3, 5, 2, 5, 5, 3, 4, 5, 2, 3, 2,
    5, 2, 4, 5, 4, 5, 2, 5, 3, 3, 2, 3, 4, 4, 3, 2, 1, 5, 4, 3,
]  # fmt: skip
OLD_DP_PREDICTIONS = [
    "noun", "verb", "noun", "adj", "noun", "verb", "adj", "noun", "adj", "verb",
    "verb", "verb", "verb", "verb", "adj", "noun", "noun", "adj", "verb", "verb",
    "verb", "verb", "noun", "noun", "adj", "noun", "adj", "adj", "verb", "adj",
]  # fmt: skip
OLD_CP_PREDICTIONS = [
    1, 1, 1, 2, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 2,
    1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 2, 2, 1, 2,
]  # fmt: skip


@pytest.fixture(scope="module")
def toy() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Three overlapping 2-d blobs: 60 training and 30 test points, labels as indices."""
    rng = np.random.default_rng(17)
    centres = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    y = rng.integers(0, 3, size=60)
    X = centres[y] + rng.normal(scale=0.9, size=(60, 2))
    yt = rng.integers(0, 3, size=30)
    Xt = centres[yt] + rng.normal(scale=0.9, size=(30, 2))
    return X, y, Xt, yt


def _names(indices: np.ndarray) -> np.ndarray:
    return np.array(NAMES, dtype=object)[indices]


# ------------------------------------------------------------------ DirectProbe


def test_directprobe_gives_the_earlier_partition_predictions_and_accuracy(toy) -> None:
    X, y, Xt, yt = toy
    probe = DirectProbe(labels=NAMES, device="cpu").fit(X, y)
    assert probe.clusters_.assignment.tolist() == OLD_ASSIGNMENT
    assert probe.classes_.tolist() == list(NAMES)
    assert probe.n_features_in_ == 2
    assert probe.predict(Xt).tolist() == OLD_DP_PREDICTIONS
    assert probe.score(Xt, yt) == pytest.approx(0.9)
    ties = probe.prediction_ties(Xt, yt)
    assert (ties.n_points, ties.n_tied, ties.accuracy) == (30, 0, pytest.approx(0.9))
    assert float(np.nansum(probe.distances())) == pytest.approx(48.85651103393728)
    # The same labels as names: the same partition, predictions and accuracy.
    by_name = DirectProbe(labels=NAMES, device="cpu").fit(X, _names(y))
    assert by_name.clusters_.same_partition(probe.clusters_)
    assert by_name.score(Xt, _names(yt)) == probe.score(Xt, yt)


def test_directprobe_learns_its_classes_from_y_without_labels(toy) -> None:
    X, y, Xt, yt = toy
    # Names: their sorted set, as scikit-learn's classifiers learn classes_.
    probe = DirectProbe(device="cpu").fit(X, _names(y))
    assert probe.classes_.tolist() == ["adj", "noun", "verb"]
    assert probe.predict(Xt).tolist() == OLD_DP_PREDICTIONS
    assert probe.score(Xt, _names(yt)) == pytest.approx(0.9)
    # Indices: 0 .. max(y), and predictions are indices too.
    by_index = DirectProbe(device="cpu").fit(X, y)
    assert by_index.classes_.tolist() == [0, 1, 2]
    assert by_index.predict(Xt).tolist() == [NAMES.index(n) for n in OLD_DP_PREDICTIONS]


def test_directprobe_params_clone_and_repr() -> None:
    probe = DirectProbe(labels=NAMES, min_cluster_size=2, device="cpu")
    assert probe.get_params() == {
        "labels": NAMES,
        "min_cluster_size": 2,
        "device": "cpu",
        "progress": False,
    }
    # scikit-learn's repr: the parameters that differ from their defaults
    assert " ".join(repr(probe).split()) == (
        "DirectProbe(device='cpu', labels=('noun', 'verb', 'adj', 'adv'), min_cluster_size=2)"
    )
    probe.fit(np.array([[0.0, 0.0], [0.0, 1.0], [3.0, 0.0]]), ["noun", "noun", "verb"])
    copy = clone(probe)
    assert copy.get_params() == probe.get_params()
    assert not hasattr(copy, "clusters_")  # a copy of the method, not of the fit
    with pytest.raises(FtprobeError, match="not fitted"):
        copy.predict(np.zeros((1, 2)))
    assert copy.set_params(min_cluster_size=0) is copy and copy.min_cluster_size == 0
    assert probe.min_cluster_size == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_cluster_size": -1}, "min_cluster_size must be 0 or more"),
        ({"labels": ("noun", "noun")}, "given twice: 'noun'"),
        ({"labels": "noun"}, "list of label names"),
        ({"device": "abacus"}, "unknown device .abacus."),
    ],
)
def test_directprobe_bad_parameters_fail_at_fit(options: dict, message: str) -> None:
    probe = DirectProbe(**options)  # stored as given, as scikit-learn's estimators are
    assert probe.get_params()[next(iter(options))] == next(iter(options.values()))
    with pytest.raises(ConfigError, match=message):
        probe.fit(np.array([[0.0, 0.0], [1.0, 0.0]]), ["noun", "verb"])


def test_directprobe_labels_outside_its_label_set_are_clear_errors(toy) -> None:
    X, y, Xt, _ = toy
    with pytest.raises(FtprobeError, match="not in the label set: 'pron'"):
        DirectProbe(labels=NAMES, device="cpu").fit(X[:3], ["noun", "pron", "verb"])
    probe = DirectProbe(labels=NAMES, device="cpu").fit(X, y)
    with pytest.raises(FtprobeError, match="label index 4 is outside the 4 labels"):
        probe.score(Xt[:2], [0, 4])


def test_directprobe_resumes_from_its_checkpoints_to_the_same_partition(
    toy, tmp_path: Path
) -> None:
    X, y, _, _ = toy
    state = tmp_path / "state"
    probe = DirectProbe(labels=NAMES, device="cpu")
    with pytest.raises(ClusteringInterrupted):
        probe.fit(X, y, checkpoints=Checkpoints(state, every_seconds=0), max_steps=10)
    assert state.exists()
    probe.fit(X, y, checkpoints=Checkpoints(state, resume=True, every_seconds=0))
    assert probe.clusters_.assignment.tolist() == OLD_ASSIGNMENT
    # The checkpoints are not a parameter: a clone carries no state file.
    assert "state_path" not in clone(probe).get_params()
    with pytest.raises(ConfigError, match="0 or more seconds"):
        Checkpoints(state, every_seconds=-1)


# ------------------------------------------------------------ ClassifierProbe


def _classifier(**options) -> ClassifierProbe:
    return ClassifierProbe((8, 8), labels=NAMES, restarts=2, seed=3, **options)


def test_classifier_gives_the_earlier_predictions_and_accuracy(toy) -> None:
    X, y, Xt, yt = (a.astype(np.float32) if a.dtype.kind == "f" else a for a in toy)
    probe = _classifier().fit(X, y)
    assert probe.classes_.tolist() == list(NAMES)
    assert probe.predict(Xt).tolist() == [NAMES[i] for i in OLD_CP_PREDICTIONS]
    scores = probe.report(Xt, yt)
    assert scores.restart_accuracies == pytest.approx((2 / 3, 0.8))
    assert scores.macro_f1 == pytest.approx(0.676557239057239)
    assert probe.score(Xt, yt) == scores.accuracy == pytest.approx(0.7333333333333334)
    assert scores.per_label["label"].tolist() == list(NAMES)  # "adv" too, with n == 0
    assert probe.predict_log_proba(Xt).shape == (30, 4)
    # The same labels as names: the same networks.
    by_name = _classifier().fit(X, _names(y))
    assert by_name.predict(Xt).tolist() == probe.predict(Xt).tolist()
    assert by_name.score(Xt, _names(yt)) == probe.score(Xt, yt)


def test_classifier_learns_its_classes_from_y_without_labels(toy) -> None:
    X, y, Xt, yt = toy
    by_index = ClassifierProbe((8, 8), seed=0).fit(X, y)
    assert by_index.classes_.tolist() == [0, 1, 2]
    assert by_index.predict(Xt).dtype.kind == "i"
    by_name = ClassifierProbe((8, 8), seed=0).fit(X, _names(y))
    assert by_name.classes_.tolist() == ["adj", "noun", "verb"]
    assert set(by_name.predict(Xt)) <= {"adj", "noun", "verb"}


def test_classifier_params_clone_and_repr(toy) -> None:
    X, y, _, _ = toy
    probe = ClassifierProbe((8, 8), labels=NAMES, l2=1e-3, seed=3)
    params = probe.get_params()
    assert params["hidden_sizes"] == (8, 8) and params["labels"] == NAMES
    assert params["l2"] == 1e-3 and params["seed"] == 3 and params["restarts"] == 1
    assert repr(probe).startswith("ClassifierProbe(hidden_sizes=(8, 8), l2=0.001,")
    probe.fit(X, y)
    copy = clone(probe)
    assert copy.get_params() == params
    assert not hasattr(copy, "classes_")
    with pytest.raises(FtprobeError, match="not been trained"):
        copy.predict(X)
    # A refitted clone is the same probe: same seed, same networks.
    assert copy.fit(X, y).predict(X).tolist() == probe.predict(X).tolist()
    copy.set_params(hidden_sizes=(4, 4), restarts=2).fit(X, y)
    assert copy.hidden_sizes_ == (4, 4) and len(copy.epochs_) == 2
    assert probe.hidden_sizes_ == (8, 8)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"restarts": 0}, "restarts must be a positive integer"),
        ({"labels": ("noun",) * 2}, "given twice"),
        ({"learning_rate": 0.0}, "learning_rate must be positive"),
        ({"device": "abacus"}, "device must be"),
    ],
)
def test_classifier_bad_parameters_fail_at_fit(toy, options: dict, message: str) -> None:
    X, y, _, _ = toy
    probe = ClassifierProbe(**options)
    with pytest.raises(ConfigError, match=message):
        probe.fit(X, y)
