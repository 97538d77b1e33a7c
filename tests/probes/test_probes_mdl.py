"""MDL probing: the online code length of labels given vectors (Voita & Titov, 2020)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ftprobe.probes.classifier import ClassifierProbe
from ftprobe.probes.mdl import online_code_length
from ftprobe.study import execute
from ftprobe.study.job_specs import MdlJob
from ftprobe.study.jobs_model import Job
from ftprobe.study.runner import job_dir
from ftprobe.study.spec import ProbeSpec

FRACTIONS = (0.1, 0.2, 0.4, 0.8, 1.0)


def _blobs(n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Four far-apart, tight clusters: each label is perfectly predictable from its vector."""
    rng = np.random.default_rng(0)
    centres = np.random.default_rng(1).normal(scale=10, size=(4, 8))
    y = rng.integers(0, 4, n)
    return (centres[y] + rng.normal(scale=0.1, size=(n, 8))).astype(np.float32), y


def test_a_perfectly_predictable_task_costs_about_its_first_block() -> None:
    X, y = _blobs()
    code = online_code_length(X, y, 4, FRACTIONS, seed=3, probe=ClassifierProbe(seed=3))
    # The first block: 10% of 2,000 labels at log2(4) = 2 bits each.
    assert code.first_block_bits == pytest.approx(400.0)
    assert code.n_coded == 2000 and code.uniform_bits == pytest.approx(4000.0)
    assert code.first_block_bits <= code.code_length_bits < 1.02 * code.first_block_bits
    assert code.compression == pytest.approx(10.0, rel=0.02)  # 4,000 bits / ~400
    assert code.blocks["n_coded"].tolist() == [200, 200, 400, 800, 400]
    assert code.blocks["n_train"].tolist() == [0, 200, 400, 800, 1600]


def test_labels_unrelated_to_the_vectors_do_not_compress() -> None:
    X, _ = _blobs()
    y = np.random.default_rng(9).integers(0, 4, len(X))
    code = online_code_length(X, y, 4, FRACTIONS, seed=3, probe=ClassifierProbe((32, 32), seed=3))
    assert 0.95 < code.compression < 1.01


def test_the_study_job_codes_the_task_and_its_control(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = _blobs(600)
    monkeypatch.setattr(execute, "load_vectors", lambda out, key, layer: (X, y, list("abcd")))
    # Ten types: the control task gives each its own random label.
    monkeypatch.setattr(execute, "load_types", lambda out, key: [f"w{i % 10}" for i in range(600)])
    settings = ProbeSpec(hidden_sizes=(32, 32)).classifier_params()
    task = Job.of(MdlJob("train", 1, settings, seed=2, fractions=FRACTIONS, labels="task"))
    control = Job.of(MdlJob("train", 1, settings, 2, FRACTIONS, "control-task"))
    a = execute.run_mdl(task, tmp_path)
    b = execute.run_mdl(control, tmp_path)
    # The control's labels follow the vectors' types, not their clusters: only the skew of its
    # label counts (ten draws) compresses, far less than the task.
    assert a["compression"] > 3 and b["compression"] < a["compression"] / 2
    assert a["uniform_bits"] == b["uniform_bits"] == pytest.approx(1200.0)
    blocks = pd.read_parquet(job_dir(tmp_path, task.key) / "blocks.parquet")
    assert blocks["bits"].sum() == pytest.approx(a["code_length_bits"])
    assert not math.isnan(a["first_block_bits"])
