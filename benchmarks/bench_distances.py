"""Speed of DirectProbe's distances: hull-to-hull (dis.txt, label distances) and predictions.

Reference task (the shared published run, its own partition ``results/SS6/clusters.txt``):
all cross-label cluster distances, label statistics, and point-to-hull distances of the
485 test points to the 40 clusters (nearest-cluster prediction). Median of ``--repeat``.

POS (optional; EWT dev as training set, EWT test as test set): pass ``.npy`` arrays and
label files (one label per line). Without ``--pos-clusters`` (a ``clusters.txt`` from the
clustering) a stand-in partition is used and said so: ``label`` (one cluster per label)
or ``kmeans:N`` (each label split by k-means into clusters of about N points).
``--pos-test-limit`` times a random subset of the test points and extrapolates linearly
(point-to-hull work is per test point), printed as such.

Each stage runs in a forked child process so that its peak resident memory (``VmHWM``,
including the loaded arrays) can be reported.

Usage:  PYTHONPATH=src python benchmarks/bench_distances.py [--threads 2] [--repeat 5]
          [--pos-train dev.npy --pos-train-labels dev.txt --pos-test test.npy
           --pos-test-labels test.txt [--pos-clusters clusters.txt | --standin kmeans:500]]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ftprobe.geometry import outputs
from ftprobe.geometry.clustering import Clustering
from ftprobe.geometry.distances import cluster_distance_matrix, point_hull_distances
from ftprobe.geometry.statistics import label_statistics

REPO = Path(__file__).resolve().parents[1]


def _peak_rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _child(fn: Callable[[], Any], threads: int, conn: Any) -> None:
    torch.set_num_threads(threads)
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    conn.send((elapsed, _peak_rss_mib(), result))
    conn.close()


def run_stage(fn: Callable[[], Any], threads: int) -> tuple[float, float, Any]:
    """Run ``fn`` in a forked process: (seconds, peak RSS MiB, its picklable result)."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, threads, child))
    proc.start()
    out = parent.recv()
    proc.join()
    return out


def timed(name: str, fn: Callable[[], Any], threads: int, repeat: int) -> Any:
    runs = [run_stage(fn, threads) for _ in range(repeat)]
    times = [r[0] for r in runs]
    peak = max(r[1] for r in runs)
    spread = f"(min {min(times):.2f}, max {max(times):.2f})" if repeat > 1 else ""
    print(
        f"  {name:<44} {statistics.median(times):8.2f} s {spread:<22} peak {peak:7.0f} MiB",
        flush=True,
    )
    return runs[-1][2]


def reference(root: Path, threads: int, repeat: int) -> None:
    data = root / "data" / "SS"
    tags = (data / "labels" / "tags.txt").read_text(encoding="utf-8").splitlines()
    names = sorted({t.strip() for t in tags} - {""})
    idx = {n: i for i, n in enumerate(names)}

    def labels(split: str) -> list[str]:
        lines = (data / "entities" / f"{split}.txt").read_text(encoding="utf-8").splitlines()
        return [line.split("\t")[1] for line in lines]

    x_train = np.loadtxt(data / "embeddings" / "layers" / "train" / "6.txt")
    x_test = np.loadtxt(data / "embeddings" / "layers" / "test" / "6.txt")
    y_test = labels("test")
    clustering = outputs.read_clustering(
        root / "results" / "SS6" / "clusters.txt", [idx[t] for t in labels("train")], names
    )
    print(
        f"reference task: {len(x_train)} training / {len(x_test)} test points, "
        f"{clustering.n_clusters} clusters, median of {repeat}, {threads} torch thread(s)"
    )
    dist = timed(
        "cluster distances (780 pairs, dis.txt)",
        lambda: cluster_distance_matrix(x_train, clustering, progress=False),
        threads,
        repeat,
    )
    timed(
        "label statistics (given cluster distances)",
        lambda: label_statistics(x_train, clustering, cluster_distances=dist, progress=False).vec,
        threads,
        repeat,
    )
    pred = timed(
        "point-hull distances (485 x 40, predictions)",
        lambda: point_hull_distances(x_test, x_train, clustering, progress=False),
        threads,
        repeat,
    )
    acc = outputs.accuracy_from(y_test, pred, clustering)
    print(f"  accuracy {acc:.4f} ({round(acc * len(y_test))}/{len(y_test)})")


def _read_labels(path: Path, n: int) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[:n]


def standin_partition(y: np.ndarray, names: list[str], spec: str, x: np.ndarray) -> Clustering:
    """One cluster per label, or each label split by k-means into ~N-point clusters."""
    if spec == "label":
        return Clustering.from_assignment(y, y, names)
    if not spec.startswith("kmeans:"):
        raise SystemExit(f"unknown --standin {spec!r}")
    from sklearn.cluster import KMeans

    size = int(spec.split(":", 1)[1])
    assignment = np.zeros(len(y), dtype=np.int64)
    next_id = 0
    for lab in np.unique(y):
        members = np.flatnonzero(y == lab)
        k = max(1, round(len(members) / size))
        if k == 1:
            part = np.zeros(len(members), dtype=np.int64)
        else:
            part = KMeans(k, n_init=1, random_state=0).fit_predict(x[members])
        assignment[members] = next_id + part
        next_id += k
    return Clustering.from_assignment(assignment, y, names)


def pos(args: argparse.Namespace) -> None:
    x_train = np.load(args.pos_train).astype(np.float64)
    x_test = np.load(args.pos_test).astype(np.float64)
    y_train_s = _read_labels(Path(args.pos_train_labels), len(x_train))
    y_test_s = _read_labels(Path(args.pos_test_labels), len(x_test))
    names = sorted(set(y_train_s) | set(y_test_s))
    idx = {n: i for i, n in enumerate(names)}
    y_train = np.array([idx[t] for t in y_train_s])
    if args.pos_clusters:
        clustering = outputs.read_clustering(args.pos_clusters, y_train, names)
        kind = f"partition from {args.pos_clusters}"
    else:
        clustering = standin_partition(y_train, names, args.standin, x_train)
        kind = f"STAND-IN partition ({args.standin}; not a DirectProbe clustering)"
    sizes = clustering.sizes()
    print(
        f"POS: {len(x_train)} training / {len(x_test)} test points, {clustering.n_clusters} "
        f"clusters ({kind}; {int((sizes > 5).sum())} with more than 5 points), "
        f"{args.threads} torch thread(s)"
    )
    t0 = time.perf_counter()
    stats = timed(
        "label distances (clusters > 5 points)",
        lambda: label_statistics(x_train, clustering, progress=False),
        args.threads,
        1,
    )
    del t0
    print(f"  defined label pairs: {int(stats.defined.sum())} of {len(stats.vec)}")
    test = x_test
    gold = y_test_s
    if args.pos_test_limit and args.pos_test_limit < len(x_test):
        pick = np.random.default_rng(0).choice(len(x_test), args.pos_test_limit, replace=False)
        test = x_test[pick]
        gold = [y_test_s[i] for i in pick]
    pred = timed(
        f"point-hull distances ({len(test)} x {clustering.n_clusters})",
        lambda: point_hull_distances(test, x_train, clustering, progress=False),
        args.threads,
        1,
    )
    acc = outputs.accuracy_from(gold, pred, clustering)
    print(f"  nearest-cluster accuracy {acc:.4f} on {len(test)} test points")
    if len(test) < len(x_test):
        print(f"  (a subset of {len(test)} of {len(x_test)} test points: scale time linearly)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference",
        type=Path,
        default=Path(os.environ.get("FTPROBE_REFERENCE") or REPO.parent / "shared" / "reference")
        / "directprobe-ss-minilm-l6",
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--pos-train", help=".npy array of training vectors")
    parser.add_argument("--pos-train-labels", help="one label per line")
    parser.add_argument("--pos-test", help=".npy array of test vectors")
    parser.add_argument("--pos-test-labels", help="one label per line")
    parser.add_argument("--pos-clusters", help="clusters.txt of the training set")
    parser.add_argument("--standin", default="label", help="label | kmeans:N")
    parser.add_argument("--pos-test-limit", type=int, default=0)
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    if not args.skip_reference:
        reference(args.reference, args.threads, args.repeat)
    if args.pos_train:
        pos(args)


if __name__ == "__main__":
    main()
