"""The matrix of distances between the clusters of a partition (``hulls.matrix``): the
batched small pairs and the worker processes give what the single-pair solver gives."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ftprobe.geometry.hulls import cluster_distance_matrix, hull_distance
from ftprobe.geometry.partition import Clustering


def test_many_clusters_batched_matches_single_pair_solver() -> None:
    rng = np.random.default_rng(7)
    d = 50
    sizes = [1, 2, 3, 7, 12, 30, 45, 70]
    x = np.vstack([rng.normal(size=(n, d)) + 3 * rng.normal(size=d) for n in sizes])
    assignment = np.repeat(np.arange(len(sizes)), sizes)
    labels = np.arange(len(sizes)) % 3
    clustering = Clustering.from_assignment(assignment, labels[assignment], ["a", "b", "c"])
    mat = cluster_distance_matrix(x, clustering, progress=False)
    for i, j in itertools.combinations(range(len(sizes)), 2):
        if labels[i] == labels[j]:
            assert np.isnan(mat[i, j])
            continue
        single = hull_distance(x[assignment == i], x[assignment == j]).distance
        assert mat[i, j] == pytest.approx(single, rel=1e-6)
        assert mat[i, j] == mat[j, i]
    full = cluster_distance_matrix(x, clustering, pairs="all", progress=False)
    assert not np.isnan(full).any()
    sub = cluster_distance_matrix(x, clustering, clusters=[0, 1, 2], progress=False)
    off = ~np.eye(len(sizes), dtype=bool)
    assert np.isnan(sub[3:, :][off[3:, :]]).all() and sub[0, 1] == pytest.approx(mat[0, 1])


def test_worker_processes_give_the_same_matrix_as_this_process() -> None:
    # Pairs of more than 128 points go to Wolfe's method, here in two worker processes.
    rng = np.random.default_rng(5)
    d = 16
    sizes = [90, 120, 70, 150]
    x = np.vstack([rng.normal(size=(n, d)) + 2 * rng.normal(size=d) for n in sizes])
    assignment = np.repeat(np.arange(len(sizes)), sizes)
    labels = np.array([0, 1, 2, 0])
    clustering = Clustering.from_assignment(assignment, labels[assignment], ["a", "b", "c"])
    here = cluster_distance_matrix(x, clustering, progress=False, workers=1)
    spread = cluster_distance_matrix(x, clustering, progress=False, workers=2)
    assert np.array_equal(here, spread, equal_nan=True)
    assert np.isfinite(here[0, 1]) and here[0, 1] > 0


_WORKER_SCRIPT = """
import multiprocessing
import numpy as np
from ftprobe.geometry.partition import Clustering
from ftprobe.geometry.hulls import cluster_distance_matrix

print("script body", flush=True)  # no main guard: worker processes must not run this again
rng = np.random.default_rng(0)
x = np.vstack([rng.normal(size=(100, 8)) + 3 * i for i in range(3)])
assignment = np.repeat(np.arange(3), 100)
clustering = Clustering.from_assignment(assignment, assignment, ["a", "b", "c"])

def run():
    cluster_distance_matrix(x, clustering, progress=False, workers=2)

# A forked child (as a benchmark's runs or a study's workers are) must exit when done,
# not wait for idle worker processes.
child = multiprocessing.get_context("fork").Process(target=run)
child.start()
child.join(60)
print("child exit", child.exitcode, flush=True)
if child.exitcode is None:
    child.kill()
print(cluster_distance_matrix(x, clustering, progress=False, workers=2)[0, 1] > 0)
"""


def test_worker_processes_need_no_main_guard_and_let_their_caller_exit(tmp_path) -> None:
    import subprocess
    import sys

    script = tmp_path / "no_guard.py"
    script.write_text(_WORKER_SCRIPT, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=True
    ).stdout
    assert out.count("script body") == 1
    assert "child exit 0" in out
    assert out.strip().endswith("True")
