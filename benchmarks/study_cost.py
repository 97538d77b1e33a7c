"""What a full study costs: job counts per stage from the planner, times per-job seconds.

Run from the repository root::

    PYTHONPATH=src python benchmarks/study_cost.py \
        [--from OUT_DIR ...] [--seconds KIND=SECONDS ...] \
        [--gpus 100] [--cpus 800] [--checkpoints 30] [--layers all|ends] [--seeds 1]

1. Job counts: the paper's full study (BERT-tiny, mini, small, medium and base,
   i.e. 2, 4, 4, 8 and 12 transformer layers; POS, DEP, PS-role, PS-fxn and
   TREC-50 with the sizes of their full training splits (estimated, below); the cross-task pairs
   PS-role -> PS-fxn and POS -> PS-fxn; every layer at every checkpoint, as the
   layer-similarity analysis needs (``--layers ends``: every layer at the first
   and last checkpoint, the last layer at the others, as the quick start);
   DirectProbe and classifier probes on both splits) is planned with
   ``ftprobe.study.plan.plan_study``, the planner ``ftprobe run`` uses, so the
   counts are the jobs it would run.
   Each task's fine-tuning saves about ``--checkpoints`` checkpoints (its
   ``save_every`` is chosen from its number of updates).
2. Per-job seconds: the median of the ``seconds`` field of every finished job's
   ``jobs/<key>/result.json`` in the study folders given with ``--from``
   (e.g. the smoke or quick-start study), per job kind; ``--seconds`` sets or
   overrides a kind's figure. Figures measured on MiniLM-L6 on CPUs are a
   lower bound for BERT-base: scale them with ``--seconds`` for other models.
3. Time per stage: a stage's jobs run in waves of as many jobs as the cluster
   holds at once (fine-tuning and extraction: one GPU each when ``--gpus`` > 0,
   else their CPUs; probes: their CPUs), so wall time = waves x seconds per
   job. Stages follow one another (extraction needs fine-tuning, probes need
   extraction), so the study's wall time is about their sum.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from dataclasses import replace
from pathlib import Path

from ftprobe.encode.settings import FinetuneSettings
from ftprobe.study.plan import Plan, checkpoint_steps, plan_study
from ftprobe.study.spec import parse_study

# Transformer layers of the BERT family the paper studies (layer 0, the
# embeddings, comes on top).
MODELS = {
    "bert-tiny": ("google/bert_uncased_L-2_H-128_A-2", 2),
    "bert-mini": ("google/bert_uncased_L-4_H-256_A-4", 4),
    "bert-small": ("google/bert_uncased_L-4_H-512_A-8", 4),
    "bert-medium": ("google/bert_uncased_L-8_H-512_A-8", 8),
    "bert-base": ("bert-base-uncased", 12),
}
# Distinct training sentences of the full training splits, which fix the number
# of fine-tuning updates (fine-tuning batches sentences): EWT train has 12,543
# sentences, ~12,000 distinct (the shared dev split: 1,913 of 2,001), for POS and
# DEP alike; STREUSLE train has ~4,300 adpositions/possessives in ~2,500 sentences
# (dev: 462 in 266); TREC train has 5,452 questions, ~5,380 distinct. Estimates:
# the full training splits are not in the shared corpora.
TRAIN_SIZES = {"pos": 12_000, "dep": 12_000, "ps-role": 2_500, "ps-fxn": 2_500, "trec-50": 5_380}
CROSS = [("ps-role", "ps-fxn"), ("pos", "ps-fxn")]
GPU_KINDS = ("finetune", "extract")


def full_study_raw(
    finetune_task: str,
    save_every: int,
    seeds: int,
    epochs: int,
    batch_size: int,
    all_layers_at: list[str],
) -> dict:
    """The study file (as parsed TOML) of the full study, restricted to one fine-tuned task."""
    return {
        "name": "full",
        "seeds": list(range(13, 13 + seeds)),
        "model": [{"name": name, "path": path} for name, (path, _) in MODELS.items()],
        "task": [
            {"name": task, "train_split": "train", "test_split": "test"} for task in TRAIN_SIZES
        ],
        "finetune": {
            "tasks": [finetune_task],
            "epochs": epochs,
            "batch_size": batch_size,
            "save_every": save_every,
        },
        "representations": {"all_layers_at": all_layers_at, "every_checkpoint": ["last"]},
        "cross": [{"finetune": a, "probe": b} for a, b in CROSS if a == finetune_task],
    }


def plan_full_study(
    checkpoints: int, seeds: int, epochs: int, batch_size: int, every_layer_everywhere: bool
) -> Plan:
    """Every job of the full study, each task fine-tuned with about ``checkpoints`` saves."""
    layers = {name: n for name, (_, n) in MODELS.items()}
    merged = Plan()
    for task, size in TRAIN_SIZES.items():
        settings = FinetuneSettings(epochs=epochs, batch_size=batch_size)
        updates = settings.total_updates(size)
        save_every = max(1, math.ceil(updates / max(1, checkpoints - 1)))
        steps = checkpoint_steps(size, replace(settings, save_every=save_every))
        at = [str(s) for s in steps] if every_layer_everywhere else ["first", "last"]
        raw = full_study_raw(task, save_every, seeds, epochs, batch_size, at)
        for job in plan_study(
            parse_study(raw, Path("full.toml")), TRAIN_SIZES, layers
        ).jobs.values():
            merged.add(job)  # shared jobs (the base models' extractions) count once
        print(
            f"  {task:8s} {size:>7,} training sentences, {updates:>6,} updates, "
            f"{len(steps)} checkpoints"
        )
    return merged


def measured_seconds(folders: list[Path]) -> dict[str, list[float]]:
    """Per job kind, the ``seconds`` of every finished job found in ``folders``."""
    found: dict[str, list[float]] = {}
    for folder in folders:
        for path in sorted((folder / "jobs").glob("*/result.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            seconds = record.get("seconds")
            if isinstance(seconds, int | float):
                kind = path.parent.name.split("-")[0]
                found.setdefault(kind, []).append(float(seconds))
    return found


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="folders", type=Path, nargs="*", default=[])
    parser.add_argument("--seconds", nargs="*", default=[], metavar="KIND=SECONDS")
    parser.add_argument("--gpus", type=int, default=100)
    parser.add_argument("--cpus", type=int, default=800)
    parser.add_argument("--checkpoints", type=int, default=30)
    parser.add_argument("--layers", choices=("all", "ends"), default="all")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    print("Full study: 5 models x 5 tasks, cross pairs " + ", ".join(f"{a}->{b}" for a, b in CROSS))
    plan = plan_full_study(
        args.checkpoints, args.seeds, args.epochs, args.batch_size, args.layers == "all"
    )
    counts = plan.count()
    samples = measured_seconds(args.folders)
    figures = {kind: statistics.median(values) for kind, values in samples.items()}
    source = {kind: f"median of {len(values)} measured" for kind, values in samples.items()}
    for item in args.seconds:
        kind, _, value = item.partition("=")
        figures[kind] = float(value)
        source[kind] = "given"
    need = {}
    for job in plan.jobs.values():
        need.setdefault(job.kind, job.resources)

    print(f"\n{len(plan.jobs):,} jobs on {args.gpus} GPUs and {args.cpus} CPUs\n")
    columns = ["stage", "jobs", "s/job", "runs on", "at once", "job-hours", "wall time", "figure"]
    rows = []
    total_wall = 0.0
    for kind in ("finetune", "extract", "directprobe", "classifier", "curve"):
        if kind not in counts:
            continue
        n, res = counts[kind], need[kind]
        if kind in GPU_KINDS and args.gpus > 0 and res.gpus > 0:
            slots, where = int(args.gpus // res.gpus), f"1 GPU + {res.cpus:g} CPUs"
        else:
            slots, where = int(args.cpus // res.cpus), f"{res.cpus:g} CPU(s)"
        seconds = figures.get(kind)
        if seconds is None:
            cells = ["n/a", "n/a", "n/a", "none: give --seconds or --from"]
        else:
            wall = math.ceil(n / slots) * seconds
            total_wall += wall
            cells = [f"{seconds:.1f}", f"{n * seconds / 3600:,.1f}", _duration(wall), source[kind]]
        rows.append([kind, f"{n:,}", cells[0], where, f"{slots:,}", *cells[1:]])
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    for row in [columns, ["-" * w for w in widths], *rows]:
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
    print(f"\nwall time, stages one after another: {_duration(total_wall)} (known stages only)")


if __name__ == "__main__":
    main()
