"""Speed of DirectProbe's supervised clustering (and the whole reference run).

Reference task (the shared published run, ``directprobe-ss-minilm-l6``; 462 training and
485 test points, 384-d): the clustering alone, then clustering + all cross-label hull
distances + nearest-cluster predictions of the test points (what ``ftprobe probe`` does,
without reading and writing files). Median of ``--repeat`` runs.

POS (optional; EWT dev as training set): pass an ``.npy`` array of vectors (rows = words
in file order) and a file of labels (one per line, or a store's ``labels.npy``):
``--pos-train``/``--pos-train-labels``. ``ftprobe embed --task pos --layers 0,6 --out S``
makes them: ``S/all-MiniLM-L6-v2/pos/{dev,test}/first/{layer-06,layer-00,labels}.npy``.
Times the clustering as a scaling table: random subsets of ``--sizes`` points (default
1k, 5k and all), and 128 / 384 / 768 dimensions (128: a fixed random projection of the 384-d
vectors; 768: the vectors concatenated with those of ``--pos-extra``, e.g. layer 0);
``--dims`` picks among them (default ``128,384,concatenated``).
Runs longer than ``--limit`` seconds are stopped and shown as ``> limit``.

Distances and predictions (``--distances``): on the reference task, with its published
partition, all cross-label hull distances (``dis.txt``), the label statistics and the
test points' distances to every cluster; on POS (with ``--pos-test``/``--pos-test-labels``,
EWT test), the same for the partition of ``--pos-clusters`` (a ``clusters.txt``), else a
stand-in given by ``--standin`` (``label``: one cluster per label; ``kmeans:N``: each label
split by k-means into clusters of about N points), else the clustering's own partition
when it finishes within ``--limit``, else the ``label`` stand-in; a stand-in is said so.
POS predictions are timed as ``nearest_groups``, what ``DirectProbe.predict`` runs (the
clusters that tie for the nearest of every test point, exact, pruning clusters that cannot
be nearest); ``--full-matrix`` also times every
point-hull distance (what ``prediction.txt`` lists). ``--pos-test-limit N`` times a
random subset of the test points (time per test point is what matters: scale
linearly); ``--pos-train-limit N`` uses a random subset of N training points throughout
(e.g. 6000 with ``--pos-test-limit 3000``).
Given ``--pos-clusters`` or ``--standin``, the POS clustering timings are skipped.

Every run is a forked child process: its peak resident memory (``VmHWM``, including the
arrays) is reported, and BLAS/torch use ``--threads`` threads.

Usage:  PYTHONPATH=src python benchmarks/bench_directprobe.py [--threads 2] [--repeat 3]
          [--pos-train dev_L6.npy --pos-train-labels dev_labels.txt [--pos-extra dev_L0.npy]]
          [--skip-reference] [--limit 600]
          [--distances [--pos-test test_L6.npy --pos-test-labels test_labels.txt
                        [--pos-clusters clusters.txt | --standin kmeans:500]
                        [--pos-test-limit 2000] [--pos-train-limit 6000]]]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _peak_rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _child(fn: Callable[[], Any], threads: int, conn: Any) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    with threadpool_limits(threads):
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
    conn.send((elapsed, _peak_rss_mib(), result))
    conn.close()


def run_stage(fn: Callable[[], Any], threads: int, limit: float) -> tuple[float, float, Any] | None:
    """Run ``fn`` in a forked process: (seconds, peak RSS MiB, result), None past ``limit``."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, threads, child))
    proc.start()
    if not parent.poll(limit):
        proc.terminate()
        proc.join()
        return None
    out = parent.recv()
    proc.join()
    return out


def timed(name: str, fn: Callable[[], Any], threads: int, repeat: int, limit: float) -> Any:
    runs = []
    for _ in range(repeat):
        r = run_stage(fn, threads, limit)
        if r is None:
            print(f"  {name:<46} > {limit:.0f} s (stopped)", flush=True)
            return None
        runs.append(r)
    times = [r[0] for r in runs]
    peak = max(r[1] for r in runs)
    spread = f"(min {min(times):.2f}, max {max(times):.2f})" if repeat > 1 else ""
    print(
        f"  {name:<46} {statistics.median(times):8.2f} s {spread:<22} peak {peak:7.0f} MiB",
        flush=True,
    )
    return runs[-1][2]


def _cluster(x: np.ndarray, y: np.ndarray, names: list[str]) -> tuple[int, dict]:
    from ftprobe.geometry.merging import SupervisedClustering

    engine = SupervisedClustering(x, y, names)
    c = engine.run()
    return c.n_clusters, vars(engine.stats)


def _reference_task(root: Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, list]:
    """Label names, training vectors and label indices, test vectors and label names."""
    from ftprobe.data.prepacked import read_embeddings, read_entities, read_label_set

    data = root / "data" / "SS"
    names = list(read_label_set(data / "labels" / "tags.txt").names)
    train = read_entities(data / "entities" / "train.txt")
    test = read_entities(data / "entities" / "test.txt")
    x = read_embeddings(data / "embeddings/layers/train/6.txt", len(train), np.float64)
    xt = read_embeddings(data / "embeddings/layers/test/6.txt", len(test), np.float64)
    y = np.array([names.index(lab) for _, lab in train])
    return names, x, y, xt, [lab for _, lab in test]


def reference(root: Path, threads: int, repeat: int, limit: float) -> None:
    from ftprobe.geometry.directprobe import DirectProbe

    names, x, y, xt, yt = _reference_task(root)
    print(f"Reference task: {len(x)} training and {len(xt)} test points, {x.shape[1]}-d")
    out = timed("clustering", lambda: _cluster(x, y, names), threads, repeat, limit)
    if out is not None:
        print(f"    -> {out[0]} clusters; {_stats_line(out[1])}")

    def whole() -> tuple[int, float]:
        probe = DirectProbe(labels=names, device="cpu").fit(x, y)
        probe.distances()
        acc = probe.score(xt, yt)
        return probe.clusters_.n_clusters, acc

    out = timed("clustering + distances + predictions", whole, threads, repeat, limit)
    if out is not None:
        print(f"    -> {out[0]} clusters, nearest-cluster accuracy {out[1]:.4f}")


def _stats_line(st: dict) -> str:
    return (
        f"{st['merges']} merges, {st['rejections']} rejected, "
        f"{st['label_pair_checks']} label-pair and {st['cluster_checks']} cluster-level "
        f"exact checks ({st['oracle_seconds']:.1f} s), {st['certificate_reuses']} "
        f"certificate reuses ({st['centroid_wins']} of {st['centroid_tries']} centroid "
        "directions)"
    )


def _read_labels(path: Path, n: int) -> np.ndarray:
    path = Path(path)
    if path.suffix == ".npy":
        # a representation store's labels.npy: indices into its manifest's label names
        names = json.loads((path.parent / "manifest.json").read_text(encoding="utf-8"))["labels"]
        labels = [names[i] for i in np.load(path).tolist()]
    else:
        labels = path.read_text(encoding="utf-8").split()
    if len(labels) != n:
        raise SystemExit(f"{path}: {len(labels)} labels for {n} vectors")
    return np.array(labels)


def pos(args: argparse.Namespace) -> None:
    x, lab = _pos_train(args)
    names = sorted(set(lab.tolist()))
    y = np.array([names.index(v) for v in lab])
    print(f"POS: {len(x)} training points, {x.shape[1]}-d, {len(names)} labels")
    rng = np.random.default_rng(0)
    sizes = sorted({min(int(v), len(x)) for v in args.sizes.split(",")})
    print("Scaling (clustering time; random subsets, same task):")
    for n in sizes:
        idx = np.sort(rng.choice(len(x), n, replace=False)) if n < len(x) else np.arange(len(x))
        for dim_name, xx in _dims(x[idx], args, idx):
            out = timed(
                f"n={n:<6} d={dim_name}",
                lambda xx=xx, idx=idx: _cluster(xx, y[idx], names),
                args.threads,
                1,
                args.limit,
            )
            if out is not None:
                print(f"    -> {out[0]} clusters; {_stats_line(out[1])}")


def _pos_train(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    x = np.load(args.pos_train).astype(np.float64)
    lab = _read_labels(args.pos_train_labels, len(x))
    if args.pos_train_limit and args.pos_train_limit < len(x):
        pick = np.sort(np.random.default_rng(1).choice(len(x), args.pos_train_limit, replace=False))
        x, lab = x[pick], lab[pick]
    return x, lab


def _dims(x: np.ndarray, args: argparse.Namespace, idx: np.ndarray):
    d = x.shape[1]
    wanted = {v.strip() for v in args.dims.split(",")}
    if "128" in wanted:
        proj = np.random.default_rng(1).normal(size=(d, 128)) / np.sqrt(128)
        yield "128 (projected)", x @ proj
    if str(d) in wanted:
        yield f"{d}", x
    if args.pos_extra and "concatenated" in wanted:
        extra = np.load(args.pos_extra, mmap_mode="r")[idx].astype(np.float64)
        yield f"{d + extra.shape[1]} (concatenated)", np.hstack([x, extra])


def reference_distances(root: Path, threads: int, repeat: int, limit: float) -> None:
    """Distances, statistics and predictions on the reference task's published partition."""
    from ftprobe.geometry import outputs
    from ftprobe.geometry.hulls import (
        cluster_distance_matrix,
        point_hull_distances,
        tie_tolerance,
    )
    from ftprobe.geometry.statistics import label_statistics

    names, x, y, xt, yt = _reference_task(root)
    clustering = outputs.read_clustering(root / "results" / "SS6" / "clusters.txt", y, names)
    print(f"Reference distances (published partition, {clustering.n_clusters} clusters):")
    dist = timed(
        "cluster distances (780 pairs, dis.txt)",
        lambda: cluster_distance_matrix(x, clustering, progress=False),
        threads,
        repeat,
        limit,
    )
    if dist is not None:
        timed(
            "label statistics (given cluster distances)",
            lambda: label_statistics(x, clustering, cluster_distances=dist, progress=False).vec,
            threads,
            repeat,
            limit,
        )
    pred = timed(
        f"point-hull distances ({len(xt)} x {clustering.n_clusters})",
        lambda: point_hull_distances(xt, x, clustering, progress=False),
        threads,
        repeat,
        limit,
    )
    if pred is not None:
        acc = outputs.accuracy_from(yt, pred, clustering, tol=tie_tolerance(x))
        print(f"    -> nearest-cluster accuracy {acc:.4f} ({round(acc * len(yt))}/{len(yt)})")


def _partition(x: np.ndarray, y: np.ndarray, names: list[str]) -> np.ndarray:
    from ftprobe.geometry.merging import SupervisedClustering

    return np.asarray(SupervisedClustering(x, y, names).run().assignment)


def _standin(x: np.ndarray, y: np.ndarray, spec: str) -> np.ndarray:
    if spec == "label":
        return y.copy()
    if not spec.startswith("kmeans:"):
        raise SystemExit(f"unknown --standin {spec!r} (label | kmeans:N)")
    from sklearn.cluster import KMeans

    size = int(spec.split(":", 1)[1])
    assignment = np.zeros(len(y), dtype=np.int64)
    next_id = 0
    for lab in np.unique(y):
        members = np.flatnonzero(y == lab)
        k = max(1, round(len(members) / size))
        part = (
            KMeans(k, n_init=1, random_state=0).fit_predict(x[members])
            if k > 1
            else np.zeros(len(members), dtype=np.int64)
        )
        assignment[members] = next_id + part
        next_id += k
    return assignment


def pos_distances(args: argparse.Namespace) -> None:
    """Label distances and test predictions on POS (EWT dev clusters, EWT test points)."""
    from ftprobe.geometry import outputs
    from ftprobe.geometry.hulls import nearest_groups, point_hull_distances, tie_tolerance
    from ftprobe.geometry.partition import Clustering
    from ftprobe.geometry.statistics import label_statistics

    x, lab = _pos_train(args)
    xt = np.load(args.pos_test).astype(np.float64)
    lab_t = _read_labels(args.pos_test_labels, len(xt))
    names = sorted(set(lab.tolist()) | set(lab_t.tolist()))
    y = np.array([names.index(v) for v in lab])
    if args.pos_clusters:
        clustering = outputs.read_clustering(args.pos_clusters, y, names)
        kind = f"partition of {args.pos_clusters}"
    elif args.standin:
        clustering = Clustering.from_assignment(_standin(x, y, args.standin), y, names)
        kind = f"STAND-IN partition '{args.standin}'"
    else:
        run = run_stage(lambda: _partition(x, y, names), args.threads, args.limit)
        if run is not None:
            clustering = Clustering.from_assignment(run[2], y, names)
            kind = f"the clustering's partition ({run[0]:.0f} s, peak {run[1]:.0f} MiB)"
        else:
            clustering = Clustering.from_assignment(_standin(x, y, "label"), y, names)
            kind = f"STAND-IN partition 'label' (clustering past {args.limit:.0f} s)"
    sizes = clustering.sizes()
    print(
        f"POS distances: {len(x)} training / {len(xt)} test points, {clustering.n_clusters} "
        f"clusters ({int((sizes > 5).sum())} with more than 5 points), {kind}"
    )
    stats = timed(
        "label distances + statistics (clusters > 5 points)",
        lambda: label_statistics(x, clustering, progress=False),
        args.threads,
        1,
        args.limit,
    )
    if stats is not None:
        print(f"    -> {int(stats.defined.sum())} defined label pairs of {len(stats.vec)}")
    gold = lab_t.tolist()
    if args.pos_test_limit and args.pos_test_limit < len(xt):
        pick = np.random.default_rng(0).choice(len(xt), args.pos_test_limit, replace=False)
        xt = xt[pick]
        gold = [gold[i] for i in pick]
    near = timed(
        f"nearest-cluster predictions ({len(xt)} points, {clustering.n_clusters} clusters)",
        lambda: nearest_groups(xt, x, clustering, progress=False).argmax(axis=1),
        args.threads,
        args.repeat,
        args.limit,
    )
    if near is not None:
        names_arr = np.array(clustering.label_names, dtype=object)
        acc = float(np.mean(names_arr[clustering.cluster_labels[near]] == np.array(gold)))
        print(f"    -> nearest-cluster accuracy {acc:.4f} on {len(xt)} test points")
    if not args.full_matrix:
        return
    pred = timed(
        f"all point-hull distances ({len(xt)} x {clustering.n_clusters}, prediction.txt)",
        lambda: point_hull_distances(xt, x, clustering, progress=False),
        args.threads,
        1,
        args.limit,
    )
    if pred is not None:
        acc = outputs.accuracy_from(gold, pred, clustering, tol=tie_tolerance(x))
        print(f"    -> nearest-cluster accuracy {acc:.4f} on {len(xt)} test points")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference",
        type=Path,
        default=Path(os.environ.get("FTPROBE_REFERENCE", REPO.parent / "shared" / "reference"))
        / "directprobe-ss-minilm-l6",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="BLAS and torch threads")
    parser.add_argument("--limit", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--pos-train", help=".npy array of training vectors")
    parser.add_argument("--pos-train-labels", help="one label per line")
    parser.add_argument(
        "--sizes",
        default="1000,5000,25147",
        help="POS subset sizes for the scaling table ('' skips it)",
    )
    parser.add_argument(
        "--dims",
        default="128,384,concatenated",
        help="which of 128 (projected), the vectors' own width, concatenated (--pos-extra)",
    )
    parser.add_argument("--pos-extra", help=".npy of other vectors of the same words (768-d)")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--distances", action="store_true", help="time distances/predictions")
    parser.add_argument("--pos-test", help=".npy array of test vectors (EWT test)")
    parser.add_argument("--pos-test-labels", help="one label per line")
    parser.add_argument("--pos-clusters", help="clusters.txt of the POS training points")
    parser.add_argument("--standin", help="label | kmeans:N (skips the POS clustering)")
    parser.add_argument(
        "--full-matrix", action="store_true", help="also time all point-hull distances"
    )
    parser.add_argument("--pos-test-limit", type=int, default=0, help="time this many")
    parser.add_argument("--pos-train-limit", type=int, default=0, help="train on this many")
    args = parser.parse_args()
    print(f"threads={args.threads}, cpus={os.cpu_count()}, load={os.getloadavg()[0]:.1f}")
    if not args.skip_reference:
        reference(args.reference, args.threads, args.repeat, args.limit)
        if args.distances:
            reference_distances(args.reference, args.threads, args.repeat, args.limit)
    if args.pos_train:
        if not args.pos_train_labels:
            raise SystemExit("--pos-train needs --pos-train-labels")
        if args.sizes and not (args.distances and (args.pos_clusters or args.standin)):
            pos(args)
        if args.distances and args.pos_test:
            pos_distances(args)


if __name__ == "__main__":
    main()
