"""The study's classifier job: settings chosen on training vectors only, restarts in the tables."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ftprobe.study import execute
from ftprobe.study.job_specs import ClassifierJob
from ftprobe.study.jobs_model import Job
from ftprobe.study.runner import job_dir
from ftprobe.study.spec import ProbeSpec
from ftprobe.study.tables import _classifier_columns

# Trains small networks: one thread, for the same sums on any machine.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training blobs and two test splits: the same vectors, different gold labels."""
    rng = np.random.default_rng(5)
    centres = np.random.default_rng(99).normal(scale=4.0, size=(3, 8))
    y = rng.integers(0, 3, size=400)
    X = (centres[y] + rng.normal(scale=0.5, size=(400, 8))).astype(np.float32)
    yt = rng.integers(0, 3, size=150)
    Xt = (centres[yt] + rng.normal(scale=0.5, size=(150, 8))).astype(np.float32)
    splits = {"train": (X, y), "test-right": (Xt, yt), "test-shifted": (Xt, (yt + 1) % 3)}
    names = ["a", "b", "c"]
    monkeypatch.setattr(execute, "load_vectors", lambda out, key, layer: (*splits[key], names))


def _run(tmp_path: Path, probes: ProbeSpec, test: str) -> tuple[dict, Path]:
    job = Job.of(ClassifierJob("train", test, 6, probes.classifier_params(), seed=3))
    return execute.run_classifier(job, tmp_path), job_dir(tmp_path, job.key)


def test_the_search_never_sees_the_test_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _vectors(monkeypatch)
    probes = ProbeSpec(search=True, search_sizes=(8, 16), search_l2=(1e-4, 30.0), restarts=2)
    right, right_dir = _run(tmp_path, probes, "test-right")
    shifted, shifted_dir = _run(tmp_path, probes, "test-shifted")
    # Different test labels, the same search table and the same choice...
    search = pd.read_parquet(right_dir / "search.parquet")
    pd.testing.assert_frame_equal(search, pd.read_parquet(shifted_dir / "search.parquet"))
    assert len(search) == 2 * 2 * 2 and search["selected"].sum() == 1
    assert (right["hidden_sizes"], right["l2"]) == (shifted["hidden_sizes"], shifted["l2"])
    assert right["l2"] == 1e-4  # the crushing weight loses on held-out training vectors
    # ...but not the same test accuracy: the test split only scores the chosen probe.
    assert right["accuracy"] > 0.95 and shifted["accuracy"] < 0.05
    columns = _classifier_columns(right)
    assert columns["clf_search"] is True and columns["clf_restarts"] == 2
    assert columns["clf_hidden_sizes"] == "x".join(str(h) for h in right["hidden_sizes"])
    assert columns["clf_l2"] == 1e-4
    assert columns["clf_accuracy"] == pytest.approx(np.mean(right["restart_accuracies"]))
    assert columns["clf_accuracy_sd"] == pytest.approx(np.std(right["restart_accuracies"], ddof=1))


def test_one_restart_has_an_undefined_sd_in_the_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _vectors(monkeypatch)
    result, folder = _run(tmp_path, ProbeSpec(hidden_sizes=(16, 16)), "test-right")
    columns = _classifier_columns(result)
    assert columns["clf_restarts"] == 1 and columns["clf_search"] is False
    assert columns["clf_hidden_sizes"] == "16x16" and columns["clf_l2"] == 1e-4
    assert math.isnan(columns["clf_accuracy_sd"]) and math.isnan(columns["clf_macro_f1_sd"])
    assert not (folder / "search.parquet").exists()
    per_label = pd.read_parquet(folder / "per_label.parquet")
    assert list(per_label.columns) == ["label", "accuracy", "accuracy_sd", "support"]
    assert per_label["accuracy_sd"].isna().all()
