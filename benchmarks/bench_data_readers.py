"""Reader speed: embedding text files and the corpora.

Embeddings: a synthetic file of N x 384 floats printed with 6 decimals (the
published format), read by ``read_embeddings`` and, for comparison, by
``np.loadtxt`` and by the published code's approach (``float()`` per value).
Corpora: every built-in task's splits through the registry.

Usage:  PYTHONPATH=src python benchmarks/bench_data_readers.py [--rows 25147] [--repeat 5]
Prints the median wall time of ``--repeat`` runs of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ftprobe.data.prepacked import read_embeddings, write_embeddings
from ftprobe.data.registry import TASK_NAMES, load_splits


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def plain_float_parse(path: Path) -> np.ndarray:
    with open(path, encoding="utf8") as f:
        return np.array([[float(v) for v in line.split()] for line in f])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=25_147, help="vectors (POS dev has 25,147)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data-dir", default=os.environ.get("FTPROBE_DATA"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "emb.txt"
        vectors = np.random.default_rng(0).standard_normal((args.rows, args.dim))
        t_write = median_time(lambda: write_embeddings(path, vectors), 1)
        size_mb = path.stat().st_size / 1e6
        print(f"embeddings {args.rows} x {args.dim} ({size_mb:.0f} MB), median of {args.repeat}:")
        print(f"  write_embeddings            {t_write:6.2f} s (1 run)")
        for name, fn in (
            ("read_embeddings", lambda: read_embeddings(path, args.rows)),
            ("np.loadtxt", lambda: np.loadtxt(path, dtype=np.float32)),
            ("float() per value", lambda: plain_float_parse(path)),
        ):
            print(f"  {name:<27} {median_time(fn, args.repeat):6.2f} s")

    if args.data_dir:
        print(f"tasks from {args.data_dir}, all splits, median of {args.repeat}:")
        for task in TASK_NAMES:
            options = {"on_bad_line": "skip"} if task.startswith("trec") else {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = median_time(
                    lambda task=task, options=options: load_splits(task, args.data_dir, **options),
                    args.repeat,
                )
            print(f"  {task:<10} {t:6.2f} s")


if __name__ == "__main__":
    main()
