"""Test distances started before the clustering ends, in a second process
(``geometry.ahead``), and the clustering's word that a label is whole."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest

from ftprobe.geometry import ahead as ahead_module
from ftprobe.geometry.ahead import HullsAhead
from ftprobe.geometry.hulls import cluster_distance_matrix, point_hull_distances
from ftprobe.geometry.hulls.matrix import pair_distance
from ftprobe.geometry.hulls.point import point_hull_column
from ftprobe.geometry.merging import ClusteringStats, SupervisedClustering
from ftprobe.geometry.merging.frame import Frame
from ftprobe.geometry.merging.label_pairs import LabelPairs, label_pair_verdict
from ftprobe.geometry.runner import ProbeJob, run_probe

NAMES = ("far", "left", "right")


def _task(seed: int = 0, n: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """Label 0 a box beside the others' (separable from both, near enough that merges
    meet it); labels 1 and 2 interleaved in theirs (their hulls overlap, so they end as
    several clusters each)."""
    rng = np.random.default_rng(seed)
    k = n // 3
    box = rng.uniform(-1.0, 1.0, size=(n, 4))
    box[:k, 0] += 2.5
    mixed = box[k:]
    side = np.where(np.sin(3 * mixed[:, 0]) + mixed[:, 1] * mixed[:, 2] > 0, 1, 2)
    return box, np.r_[np.zeros(k, int), side]


def test_a_whole_label_is_announced_once_and_ends_as_one_cluster() -> None:
    X, y = _task()
    heard: list[int] = []
    clustering = SupervisedClustering(X, y, NAMES, on_whole_label=heard.append).run()
    assert heard == [0]
    ids = np.unique(clustering.assignment[y == 0])
    assert len(ids) == 1 and np.array_equal(
        np.flatnonzero(clustering.assignment == ids[0]), np.flatnonzero(y == 0)
    )
    # the overlapping labels are never announced, and indeed split
    assert (clustering.cluster_labels == 1).sum() > 1 and (clustering.cluster_labels == 2).sum() > 1


def test_columns_from_the_second_process_equal_the_ones_computed_here() -> None:
    X, y = _task()
    T, _ = _task(seed=1, n=90)
    clustering = SupervisedClustering(X, y, NAMES).run()
    dist, errs = point_hull_distances(
        T, X, clustering, device="cpu", progress=False, with_errors=True
    )
    with HullsAhead(X, y, T) as h:
        h.whole_label(0)
        got = h.collect(clustering)
        (ci,) = got
        assert clustering.cluster_labels[ci] == 0
        d0, e0 = got[ci].result(timeout=120)
        np.testing.assert_array_equal(d0, dist[:, ci])
        np.testing.assert_array_equal(e0, errs[:, ci])
        other = int(np.flatnonzero(clustering.cluster_labels == 1)[0])
        d1, _ = h.column(np.flatnonzero(clustering.assignment == other)).result(timeout=120)
        np.testing.assert_array_equal(d1, dist[:, other])
        folder = h._folder
        assert folder is not None and folder.exists()
    assert not folder.exists()  # closing removes the process's files
    with pytest.raises(RuntimeError, match="closed"):
        h.column(np.arange(3)).result(timeout=5)


def test_distances_take_columns_from_elsewhere_and_compute_failed_ones_here() -> None:
    X, y = _task()
    T, _ = _task(seed=2, n=60)
    clustering = SupervisedClustering(X, y, NAMES).run()
    plain = point_hull_distances(T, X, clustering, device="cpu", progress=False)
    asked: list[np.ndarray] = []

    def helper(members: np.ndarray) -> Future:
        fut: Future = Future()
        asked.append(members)
        if len(asked) % 2:
            fut.set_result(point_hull_column(T, X, members, device="cpu"))
        else:
            fut.set_exception(RuntimeError("lost"))
        return fut

    failed: Future = Future()
    failed.set_exception(RuntimeError("lost"))
    ci = int(clustering.assignment[0])
    mixed = point_hull_distances(
        T, X, clustering, device="cpu", progress=False, ahead={ci: failed}, helper=helper
    )
    np.testing.assert_array_equal(mixed, plain)
    assert asked  # the helper took part, and never on the column computed ahead
    assert not any(np.array_equal(m, np.flatnonzero(clustering.assignment == ci)) for m in asked)


def test_verdicts_finished_on_the_second_thread_announce_whole_labels() -> None:
    X, y = _task()
    heard: list[int] = []
    pairs = LabelPairs(Frame.of(X), y, ClusteringStats(), heard.append)
    for key in [(0, 1), (0, 2), (1, 2)]:
        done: Future = Future()
        done.set_result(label_pair_verdict(pairs.frame.Xs, y, *key))
        pairs.pending[key] = done
    pairs.harvest()
    assert heard == [0]
    assert pairs.status == {(0, 1): True, (0, 2): True, (1, 2): False}
    assert not pairs.pending


def _probe_job(tmp_path: Path) -> Callable[[str], ProbeJob]:
    """A probing job with a test set on :func:`_task` data, by output folder name."""
    X, y = _task(seed=4)
    T, Ty = _task(seed=5, n=90)
    data = tmp_path / "data"
    data.mkdir()
    (data / "labels.txt").write_text("".join(f"{v}\n" for v in NAMES))
    for split, (A, lab) in {"train": (X, y), "test": (T, Ty)}.items():
        (data / f"{split}.txt").write_text(
            "".join(f"w{i}\t{NAMES[v]}\n" for i, v in enumerate(lab))
        )
        (data / f"{split}-vec.txt").write_text(
            "".join(" ".join(f"{v:.6f}" for v in r) + "\n" for r in A)
        )

    def job(out: str) -> ProbeJob:
        return ProbeJob(
            train_embeddings=data / "train-vec.txt",
            train_entities=data / "train.txt",
            labels=data / "labels.txt",
            test_embeddings=data / "test-vec.txt",
            test_entities=data / "test.txt",
            out=tmp_path / out,
            device="cpu",
        )

    return job


def _same_files(a: Path, b: Path) -> None:
    for name in ("clusters.txt", "dis.txt", "prediction.txt", "vec.txt", "inside_mean.txt"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_probe_with_the_second_process_writes_the_same_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _probe_job(tmp_path)
    run_probe(job("here"), progress=False)  # too small for the process
    used: list[int] = []
    real = HullsAhead.column

    def counted(self: HullsAhead, members: np.ndarray) -> Future:
        used.append(len(members))
        return real(self, members)

    monkeypatch.setattr(ahead_module, "AHEAD_MIN_WORK", 0)
    monkeypatch.setattr(ahead_module, "cpus", lambda: 2)
    monkeypatch.setattr(HullsAhead, "column", counted)
    run_probe(job("ahead"), progress=False)
    _, y = _task(seed=4)
    assert used and used[0] == int((y == 0).sum())  # the whole label went first
    _same_files(tmp_path / "ahead", tmp_path / "here")


def test_a_second_process_that_cannot_start_only_costs_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _probe_job(tmp_path)
    run_probe(job("here"), progress=False)

    def full_disk(*args: object, **kwargs: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ahead_module, "AHEAD_MIN_WORK", 0)
    monkeypatch.setattr(ahead_module, "cpus", lambda: 2)
    monkeypatch.setattr(ahead_module.tempfile, "mkdtemp", full_disk)
    run_probe(job("ahead"), progress=False)
    _same_files(tmp_path / "ahead", tmp_path / "here")


def test_the_process_removes_its_folder_when_its_caller_is_gone() -> None:
    X, y = _task()
    T, _ = _task(seed=1, n=30)
    h = HullsAhead(X, y, T)
    h.column(np.flatnonzero(y == 0)).result(timeout=120)
    proc, folder = h._proc, h._folder
    assert proc is not None and proc.stdin is not None and folder is not None
    proc.stdin.close()  # what a killed caller does to the process's input
    assert proc.wait(timeout=60) == 0
    assert not folder.exists()
    h.close()


def test_pair_distances_from_the_second_process_equal_the_ones_computed_here() -> None:
    X, y = _task(n=600)
    clustering = SupervisedClustering(X, y, NAMES).run()
    here = cluster_distance_matrix(X, clustering, device="cpu", progress=False, workers=1)
    asked: list[int] = []
    with HullsAhead(X, y, X[:5]) as h:

        def counted(ia: np.ndarray, ib: np.ndarray, rtol: float, atol: float) -> Future:
            asked.append(len(ia) + len(ib))
            return h.pair(ia, ib, rtol, atol)

        there = cluster_distance_matrix(X, clustering, device="cpu", progress=False, helper=counted)
        ia, ib = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
        alone = h.pair(ia, ib, 1e-7, 1e-9).result(timeout=120)
    assert alone == pair_distance(X, ia, ib, 1e-7, 1e-9) > 0
    np.testing.assert_array_equal(there, here)  # nan on the same-label pairs in both
    assert asked  # the process took its share
