"""DirectProbe at the paper's scale: every speed target of the project, as one table.

What it measures (MiniLM-L6 representations of the shared corpora, first word piece):

* ``cli-pos6``: ``ftprobe probe --config`` on POS layer 6 end to end (25,147 EWT dev
  training words, 25,094 EWT test words, every published file written, ``prediction.txt``
  with all cluster distances per test word), under ``/usr/bin/time``;
* the supervised clustering of POS (layers 0 and 6, the 128-d projection of layer 6, EWT
  dev and test as one 50,241-word training set), DEP (23,146 dev pairs, 768-d, layers 0
  and 6), TREC-50 (5,443 training questions, layers 0 and 6) and PS-role layer 0 (the
  462 STREUSLE dev points, for the published code's figure beside ours);
* label distances and statistics, and the nearest-cluster predictions of every test point,
  on the partitions found (POS layer 0, DEP layer 6);
* a scaling table: POS layer 6 on random subsets of 3,000 / 6,000 / 12,000 words, and
  widths 128 / 384 / 768 / 1,536 (the last: DEP layers 6 and 0 side by side).

Every timing is the median of ``--repeat`` runs (a run longer than ``--once-after``
seconds runs once: the table lists every run), each in a forked process whose peak
resident memory (``VmHWM``) is reported; BLAS and torch get ``--threads`` threads. Each
clustering's partition (ids included) is compared with ``benchmarks/partitions.json``,
recorded once per input: ``same``, ``DIFFERENT`` (a speed-up changed a result: the script
exits 1) or ``no fixture`` / ``other input`` (no fixture for these inputs' SHA-256: another
CPU or torch build made the vectors). ``--record`` adds (or replaces) the fixtures of the
rows run for their inputs, keeping those of other inputs, and says what the comparison
would have said (``recorded (was: same)``).

The store is made once (about 10 minutes on 2 cores)::

    S=bench-store
    ftprobe embed --out $S --task pos --layers 0,6
    ftprobe embed --out $S --task dep --layers 0,6
    ftprobe embed --out $S --task ps-role --layers 0,6
    ftprobe embed --out $S --task trec-50 --split train --split test --layers 0,6 \\
        --on-bad-line skip
    ftprobe embed --out $S --task pos --layers 6 --export-prepacked pos6

Usage::

    python benchmarks/bench_targets.py --store $S --prepacked pos6 [--repeat 3]
        [--only cli-pos6,pos-L0,...] [--threads 2] [--limit 900] [--once-after 120]
        [--json out.json] [--record]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_directprobe import run_stage  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "benchmarks" / "partitions.json"
MODEL = "all-MiniLM-L6-v2"
GIB = 1024.0


@dataclass(frozen=True)
class Row:
    """One line of the table: what runs, and the target it must meet (None: no target)."""

    key: str
    what: str
    kind: str  # cli | cluster | stats | predict
    workload: str
    target_s: float | None = None
    target_gib: float | None = None


ROWS = [
    Row("cli-pos6", "`ftprobe probe --config`, POS layer 6, end to end", "cli", "pos-L6", 180),
    Row("pos-L0", "POS layer 0, 25,147 words: clustering", "cluster", "pos-L0", 60, 4),
    Row("pos-L0-predict", "POS layer 0: predictions, 25,094 test words", "predict", "pos-L0", 60),
    Row("pos-L6-128", "POS layer 6 projected to 128-d: clustering", "cluster", "pos-L6-128", 60),
    Row("pos-L6-50k", "POS layer 6, 50,241 words: clustering", "cluster", "pos-L6-50k", 180, 6),
    Row("dep-L6", "DEP layer 6, 23,146 pairs (768-d): clustering", "cluster", "dep-L6", 120),
    Row("dep-L0", "DEP layer 0: clustering", "cluster", "dep-L0", 120),
    Row("dep-L6-stats", "DEP layer 6: distances and statistics", "stats", "dep-L6", 60),
    Row("dep-L6-predict", "DEP layer 6: predictions, 23,017 test pairs", "predict", "dep-L6", 60),
    Row("trec-L0", "TREC-50 layer 0, 5,443 questions: clustering", "cluster", "trec-L0", 30),
    Row("trec-L6", "TREC-50 layer 6: clustering", "cluster", "trec-L6", 30),
    Row("psrole-L0", "PS-role layer 0, 462 points: clustering (published: 20 min 29 s)",
        "cluster", "psrole-L0"),
    Row("pos-L6", "scaling: POS layer 6, 25,147 words, 384-d", "cluster", "pos-L6"),
    Row("pos-L6-3k", "scaling: POS layer 6, 3,000 words", "cluster", "pos-L6-3k"),
    Row("pos-L6-6k", "scaling: POS layer 6, 6,000 words", "cluster", "pos-L6-6k"),
    Row("pos-L6-12k", "scaling: POS layer 6, 12,000 words", "cluster", "pos-L6-12k"),
    Row("dep-L6L0", "scaling: DEP layers 6 and 0 side by side, 1,536-d", "cluster", "dep-L6L0"),
]  # fmt: skip


class Store:
    """The representation store's arrays: vectors (float64), label indices, label names."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def entry(self, task: str, split: str, layer: int) -> tuple[np.ndarray, np.ndarray, list]:
        folder = self.root / MODEL / task / split / "first"
        if not folder.is_dir():
            raise SystemExit(f"{folder}: not in the store (see this script's docstring)")
        names = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["labels"]
        x = np.load(folder / f"layer-{layer:02d}.npy").astype(np.float64)
        return x, np.load(folder / "labels.npy").astype(np.int64), names

    def train(self, workload: str) -> tuple[np.ndarray, np.ndarray, list]:
        """The training set of a workload (see the module docstring)."""
        base, _, variant = workload.partition("-L")
        task = {"pos": "pos", "dep": "dep", "trec": "trec-50", "psrole": "ps-role"}[base]
        split = "train" if task == "trec-50" else "dev"
        layer = int(variant[0])
        x, y, names = self.entry(task, split, layer)
        if variant == "6-128":
            # A fixed random projection to BERT-tiny's width, rounded to float32 as a
            # model's vectors are: the product's last bits are the CPU's BLAS's, and the
            # fixture's input must be the same on every machine.
            proj = np.random.default_rng(1).normal(size=(x.shape[1], 128)) / np.sqrt(128)
            x = (x @ proj).astype(np.float32).astype(np.float64)
        elif variant == "6-50k":
            xt, yt, _ = self.entry(task, "test", layer)
            x, y = np.vstack([x, xt]), np.concatenate([y, yt])
        elif variant.endswith("k"):
            n = int(variant[2:-1]) * 1000
            pick = np.sort(np.random.default_rng(0).choice(len(x), n, replace=False))
            x, y = x[pick], y[pick]
        elif variant == "6L0":
            x = np.hstack([x, self.entry(task, split, 0)[0]])
        return x, y, names

    def test(self, workload: str) -> tuple[np.ndarray, np.ndarray]:
        base, _, variant = workload.partition("-L")
        task = {"pos": "pos", "dep": "dep"}[base]
        x, y, _ = self.entry(task, "test", int(variant[0]))
        return x, y


def input_digest(x: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 of a training set's vectors and labels (which input a fixture is for)."""
    h = hashlib.sha256(np.ascontiguousarray(x, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    return h.hexdigest()


def _cluster(x: np.ndarray, y: np.ndarray, names: list) -> dict[str, Any]:
    from ftprobe.geometry.merging import SupervisedClustering

    engine = SupervisedClustering(x, y, names)
    c = engine.run()
    return {
        "assignment": c.assignment,
        "cluster_labels": c.cluster_labels,
        "digest": c.digest(),
        "clusters": c.n_clusters,
        "forced": c.n_forced_clusters,
        "exact_checks": engine.stats.cluster_checks,
    }


def median_run(
    fn: Callable[[], Any], threads: int, repeat: int, limit: float, once_after: float
) -> tuple[list[float], float, Any] | None:
    """Times of ``repeat`` forked runs, the largest peak (MiB) and the last result; a run
    longer than ``once_after`` seconds is not repeated (the table shows how many ran)."""
    times, peak, result = [], 0.0, None
    for _ in range(repeat):
        run = run_stage(fn, threads, limit)
        if run is None:
            return None
        times.append(run[0])
        peak = max(peak, run[1])
        result = run[2]
        if run[0] > once_after:
            break
    return times, peak, result


def cli_run(prepacked: Path, threads: int) -> tuple[float, float, str]:
    """``ftprobe probe --config`` on a copy of the config that writes to a fresh folder:
    wall seconds and peak RSS (MiB) from ``/usr/bin/time``, and the summary line."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        text = (prepacked / "config.ini").read_text(encoding="utf-8")
        lines = [
            f"output_path = {out}/" if line.startswith("output_path") else line
            for line in text.splitlines()
        ]
        config = Path(tmp) / "config.ini"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        ftprobe = shutil.which("ftprobe") or sys.exit("ftprobe is not on PATH")
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        cmd = ["/usr/bin/time", "-f", "%e %M", ftprobe, "probe", "--config", str(config), "--quiet"]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            sys.exit(f"ftprobe probe failed:\n{proc.stderr}")
        *said, timing = (proc.stdout + proc.stderr).strip().splitlines()
        wall, rss_kib = timing.split()
        return float(wall), int(rss_kib) / 1024, said[-1] if said else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--prepacked", type=Path, help="the POS layer-6 pre-packed folder")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=float, default=900.0, help="seconds per run")
    parser.add_argument(
        "--once-after", type=float, default=120.0, help="runs longer than this run once"
    )
    parser.add_argument("--only", default="", help="comma list of row keys")
    parser.add_argument("--record", action="store_true", help="write the partitions' fixtures")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    store = Store(args.store)
    wanted = {k for k in args.only.split(",") if k}
    rows = [r for r in ROWS if not wanted or r.key in wanted]
    fixtures = json.loads(FIXTURES.read_text(encoding="utf-8")) if FIXTURES.exists() else {}
    print(
        f"threads={args.threads}, cpus={os.cpu_count()}, load={os.getloadavg()[0]:.1f}, "
        f"repeat={args.repeat}",
        flush=True,
    )
    partitions: dict[str, Any] = {}
    results, failed = [], False
    for row in rows:
        t0 = time.time()
        note, clusters, fixture = "", "", ""
        if row.kind == "cli":
            if args.prepacked is None:
                print(f"{row.key}: skipped (no --prepacked)")
                continue
            runs = [cli_run(args.prepacked, args.threads)]
            while len(runs) < args.repeat and runs[0][0] <= args.once_after:
                runs.append(cli_run(args.prepacked, args.threads))
            times, peak = [r[0] for r in runs], max(r[1] for r in runs)
            note = runs[-1][2]
        else:
            x, y, names = store.train(row.workload)
            if row.kind == "cluster":
                out = median_run(
                    lambda x=x, y=y, names=names: _cluster(x, y, names),
                    args.threads,
                    args.repeat,
                    args.limit,
                    args.once_after,
                )
                if out is None:
                    print(f"{row.key}: past {args.limit:.0f} s (stopped)", flush=True)
                    results.append({"key": row.key, "what": row.what, "stopped": args.limit})
                    continue
                times, peak, res = out
                partitions[row.workload] = res
                clusters = f"{res['clusters']} ({res['forced']} forced)"
                note = f"{res['exact_checks']} exact checks"
                fixture = _check_fixture(fixtures, row.workload, x, y, res, args.record)
                failed |= fixture == "DIFFERENT"
            else:
                part = partitions.get(row.workload)
                if part is None:
                    print(f"{row.key}: needs the clustering row of {row.workload} first")
                    continue
                from ftprobe.geometry.partition import Clustering

                clustering = Clustering(part["assignment"], part["cluster_labels"], names)
                if row.kind == "stats":
                    from ftprobe.geometry.statistics import label_statistics

                    def fn(clustering=clustering, x=x):  # noqa: ANN202
                        return int(label_statistics(x, clustering, progress=False).defined.sum())
                else:
                    from ftprobe.geometry.hulls import nearest_groups

                    xt, yt = store.test(row.workload)

                    # What DirectProbe.predict and score run: the nearest group of each
                    # test point, its first cluster the prediction.
                    def fn(clustering=clustering, x=x, xt=xt, yt=yt):  # noqa: ANN202
                        near = nearest_groups(xt, x, clustering, progress=False).argmax(axis=1)
                        return float(np.mean(clustering.cluster_labels[near] == yt))

                out = median_run(fn, args.threads, args.repeat, args.limit, args.once_after)
                if out is None:
                    print(f"{row.key}: past {args.limit:.0f} s (stopped)", flush=True)
                    continue
                times, peak, res = out
                note = (
                    f"{res} label pairs defined" if row.kind == "stats" else f"accuracy {res:.4f}"
                )
        med = statistics.median(times)
        ok_s = row.target_s is None or med <= row.target_s
        ok_m = row.target_gib is None or peak / GIB <= row.target_gib
        verdict = "" if row.target_s is None else ("within" if ok_s and ok_m else "OVER")
        entry = {
            "key": row.key,
            "what": row.what,
            "median_s": round(med, 1),
            "runs_s": [round(t, 1) for t in times],
            "peak_gib": round(peak / GIB, 2),
            "target_s": row.target_s,
            "target_gib": row.target_gib,
            "verdict": verdict,
            "clusters": clusters,
            "fixture": fixture,
            "note": note,
        }
        results.append(entry)
        print(
            f"{row.key}: {med:.1f} s (runs {', '.join(f'{t:.1f}' for t in times)}), peak "
            f"{peak / GIB:.2f} GiB {verdict} {clusters} {fixture} {note} "
            f"[{time.time() - t0:.0f} s]",
            flush=True,
        )
    print()
    print("| run | median (runs) | peak | target | | clusters | partition | |")
    print("|---|---|---|---|---|---|---|---|")
    for e in results:
        if "stopped" in e:
            print(f"| {e['what']} | > {e['stopped']:.0f} s (stopped) | | | OVER | | | |")
            continue
        target = "" if e["target_s"] is None else f"<= {e['target_s']:.0f} s"
        if e["target_gib"] is not None:
            target += f", <= {e['target_gib']:.0f} GiB"
        runs = ", ".join(f"{t:.1f}" for t in e["runs_s"])
        print(
            f"| {e['what']} | {e['median_s']:.1f} s ({runs}) | {e['peak_gib']:.2f} GiB | "
            f"{target} | {e['verdict']} | {e['clusters']} | {e['fixture']} | {e['note']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    if args.record:
        FIXTURES.write_text(json.dumps(fixtures, indent=1, sort_keys=True) + "\n", "utf-8")
    if failed:
        sys.exit("a partition differs from its fixture: a change altered a result")


def _check_fixture(
    fixtures: dict, workload: str, x: np.ndarray, y: np.ndarray, res: dict, record: bool
) -> str:
    """Compare a partition with its fixture (or record it): same / DIFFERENT / other input.

    A workload keeps one fixture per input: the MiniLM vectors of layers past the
    embeddings carry the CPU's matrix-product rounding in their last bits, so each kind
    of machine makes its own input (and the partition recorded for it).
    """
    digest = input_digest(x, y)
    found = {
        "input_sha256": digest,
        "points": len(x),
        "width": x.shape[1],
        "clusters": res["clusters"],
        "partition_sha256": res["digest"],
    }
    entries = fixtures.get(workload, [])
    others = [f for f in entries if f["input_sha256"] != digest]
    known = next((f for f in entries if f["input_sha256"] == digest), None)
    if known is None:
        verdict = "other input" if entries else "no fixture"
    else:
        verdict = "same" if known["partition_sha256"] == found["partition_sha256"] else "DIFFERENT"
    if record:
        fixtures[workload] = [*others, found]
        return f"recorded (was: {verdict})"
    return verdict


if __name__ == "__main__":
    main()
