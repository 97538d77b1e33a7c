"""The job functions: what each kind of planned job does.

``execute_job(job, out_dir)`` is the one entry point every executor calls (in
this process, in a worker process or on a Ray node), so it takes only
picklable arguments and finds everything else on disk under ``out_dir``:

- ``store/``: the representation store shared by all extraction jobs;
- ``jobs/<key>/``: each job's own outputs, with ``result.json`` written last.

A job reads the results of the jobs it depends on from their ``result.json``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from ftprobe.encode.models import ModelRef, resolve_model
from ftprobe.encode.store import EntryKey, RepresentationStore
from ftprobe.errors import FtprobeError
from ftprobe.study import job_specs as jobs
from ftprobe.study.jobs_model import Job
from ftprobe.study.runner import job_dir, read_result, write_result

if TYPE_CHECKING:
    from ftprobe.encode.subsplit import SubSplit
    from ftprobe.probes.classifier import ClassifierProbe

STORE = "store"
FINETUNE_RUN = "run"
"""The run folder of a fine-tuning job, inside its job folder."""

_Spec = TypeVar("_Spec")


def _spec(job: Job, kind: type[_Spec]) -> _Spec:
    """The typed settings of ``job``, which the planner built (see :meth:`Job.of`)."""
    if not isinstance(job.spec, kind):
        raise FtprobeError(
            f"job {job.describe()} carries no {kind.__name__}: plan it with Job.of(...)"
        )
    return job.spec


def _needed(out_dir: Path, key: str) -> dict[str, Any]:
    result = read_result(out_dir, key)
    if result is None:
        raise FtprobeError(f"job {key} has not finished, but a job that needs it was started")
    return result


def _encoder(out_dir: Path, encoder: jobs.EncoderRef) -> tuple[ModelRef, str]:
    """The encoder of an extraction: the base model, or a fine-tuning checkpoint."""
    base = resolve_model(encoder.model)
    if encoder.random_init:
        run = _needed(out_dir, encoder.random_init)
        ref = resolve_model(str(out_dir / run["path"]))
        return ref, f"{_slug(base.name)}--{encoder.random_init}"
    if encoder.finetune is None:
        return base, f"{_slug(base.name)}--base"
    run = _needed(out_dir, encoder.finetune)
    checkpoints = {int(step): path for step, path in run["checkpoints"].items()}
    step = encoder.step
    if step not in checkpoints:
        raise FtprobeError(
            f"fine-tuning run {encoder.finetune} saved no checkpoint at step {step} "
            f"(it saved {sorted(checkpoints)})"
        )
    ref = resolve_model(str(out_dir / checkpoints[step]))
    return ref, f"{_slug(base.name)}--{encoder.finetune}--step-{step:06d}"


def _slug(name: str) -> str:
    return name.replace("\\", "/").strip("/").replace("/", "--")


def run_extract(job: Job, out_dir: Path) -> dict[str, Any]:
    """Extract the planned layers of one split of a task with one encoder into the store."""
    spec = _spec(job, jobs.ExtractJob)
    task = spec.task.load()
    ref, name = _encoder(out_dir, spec.encoder)
    store = RepresentationStore(out_dir / STORE)
    entry = store.get_or_extract(
        task, ref, list(spec.layers), spec.pooling, model_name=name, progress=False
    )
    return {
        "store_key": list(entry.key.relpath.parts),
        "n_examples": entry.n_examples,
        "layers": entry.layers,
        "dim": entry.dim,
        "label_names": entry.label_names,
    }


def load_vectors(
    out_dir: Path, extract_key: str, layer: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The vectors of one layer, the label indices and the label names of an extraction."""
    result = _needed(out_dir, extract_key)
    entry = RepresentationStore(out_dir / STORE).get(EntryKey(*result["store_key"]))
    return entry.load(layer), entry.labels(), entry.label_names


def _search_part(folder: Path, probe: ClassifierProbe) -> dict[str, Any]:
    """Write the search's table, if there was one; its summary for ``result.json``."""
    table = probe.search_results_
    if table.empty:
        return {}
    table.to_parquet(folder / "search.parquet")
    chosen = table[table["selected"]].iloc[0]
    return {"search_points": len(table), "search_heldout_accuracy": float(chosen.heldout_accuracy)}


def run_classifier(job: Job, out_dir: Path) -> dict[str, Any]:
    """Train the classifier probe on the training split (searching its settings there when
    asked, with its restarts), score it on the test split."""
    spec = _spec(job, jobs.ClassifierJob)
    X, y, names = load_vectors(out_dir, spec.train, spec.layer)
    Xt, yt, _ = load_vectors(out_dir, spec.test, spec.layer)
    probe = spec.classifier.probe(spec.seed, names).fit(np.asarray(X), y)
    train_scores = probe.report(np.asarray(X), y)
    scores = probe.report(np.asarray(Xt), yt)
    folder = job_dir(out_dir, job.key)
    folder.mkdir(parents=True, exist_ok=True)
    per_label = scores.per_label.rename(columns={"n": "support"})
    per_label[["label", "accuracy", "accuracy_sd", "support"]].to_parquet(
        folder / "per_label.parquet"
    )
    return {
        "accuracy": scores.accuracy,
        "accuracy_sd": scores.accuracy_sd,
        "macro_f1": scores.macro_f1,
        "macro_f1_sd": scores.macro_f1_sd,
        "restart_accuracies": list(scores.restart_accuracies),
        "train_accuracy": train_scores.accuracy,
        "n_train": len(y),
        "n_test": len(yt),
        "restarts": probe.restarts,
        "hidden_sizes": list(probe.hidden_sizes_),
        "l2": probe.l2_,
        "search": probe.search,
        **_search_part(folder, probe),
        "epochs": list(probe.epochs_),
    }


def load_types(out_dir: Path, extract_key: str) -> list[str]:
    """Each unit's type (its text as the store records it; see :mod:`ftprobe.probes.controls`)."""
    result = _needed(out_dir, extract_key)
    entry = RepresentationStore(out_dir / STORE).get(EntryKey(*result["store_key"]))
    return [text for text, _ in entry.entities()]


def control_labels(
    out_dir: Path,
    extracts: tuple[str, str | None],
    seed: int,
    control: str,
    n_labels: int,
    y: np.ndarray,
    yt: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """Training and test labels of a label control, and what to record about them.

    ``extracts`` are the keys of the training and test extractions the labels
    belong to. The control task relabels both splits by type (``yt`` None: the
    training split only); shuffled labels permute the training labels only (the
    test split keeps its gold labels).
    """
    from ftprobe.probes.controls import CONTROL_TASK, SHUFFLED, control_task, shuffled_labels

    if control == SHUFFLED:
        return shuffled_labels(y, seed), yt, {}
    if control != CONTROL_TASK:
        raise FtprobeError(f"unknown label control {control!r}")
    train, test = extracts
    test_types = load_types(out_dir, test) if yt is not None and test is not None else []
    task = control_task(load_types(out_dir, train), y, test_types, n_labels, seed)
    record = {"n_train_types": task.n_train_types}
    if yt is not None:
        record["n_test_types"] = len(set(test_types))
        record["n_test_unseen"] = task.n_unseen_test
    return task.train, (task.test if yt is not None else None), record


def run_control(job: Job, out_dir: Path) -> dict[str, Any]:
    """The classifier probe of the study trained and scored on a label control's labels."""
    spec = _spec(job, jobs.ControlJob)
    X, y, names = load_vectors(out_dir, spec.train, spec.layer)
    Xt, yt, _ = load_vectors(out_dir, spec.test, spec.layer)
    y_control, yt_control, record = control_labels(
        out_dir, (spec.train, spec.test), spec.seed, spec.control, len(names), y, yt
    )
    assert yt_control is not None
    probe = spec.classifier.probe(spec.seed, names).fit(np.asarray(X), y_control)
    scores = probe.report(np.asarray(Xt), yt_control)
    return {
        "control": spec.control,
        "accuracy": scores.accuracy,
        "accuracy_sd": scores.accuracy_sd,
        "macro_f1": scores.macro_f1,
        "restart_accuracies": list(scores.restart_accuracies),
        "train_accuracy": probe.score(np.asarray(X), y_control),
        "n_train": len(y),
        "n_test": len(yt),
        "restarts": probe.restarts,
        **record,
    }


def run_mdl(job: Job, out_dir: Path) -> dict[str, Any]:
    """Online code length of the training split's labels (or its control task's), in bits.

    Writes the blocks as ``blocks.parquet``; the record holds the totals.
    """
    from ftprobe.probes.mdl import online_code_length

    spec = _spec(job, jobs.MdlJob)
    X, y, names = load_vectors(out_dir, spec.train, spec.layer)
    if spec.labels != "task":
        y, _, _ = control_labels(
            out_dir, (spec.train, None), spec.seed, spec.labels, len(names), y, None
        )
    code = online_code_length(
        np.asarray(X),
        y,
        len(names),
        list(spec.fractions),
        spec.seed,
        probe=spec.classifier.probe(spec.seed, names),
    )
    folder = job_dir(out_dir, job.key)
    folder.mkdir(parents=True, exist_ok=True)
    code.blocks.to_parquet(folder / "blocks.parquet")
    return {
        "labels": spec.labels,
        "code_length_bits": code.code_length_bits,
        "uniform_bits": code.uniform_bits,
        "compression": code.compression,
        "first_block_bits": code.first_block_bits,
        "n_coded": code.n_coded,
        "n_blocks": len(code.blocks),
        "n_labels": code.n_labels,
    }


def run_curve(job: Job, out_dir: Path) -> dict[str, Any]:
    """Learning curves of the classifier probe on growing fractions of subtrain.

    With a search, the settings are chosen once on subtrain (on its own held-out
    part, never subtest or test) and every fraction trains with them: the
    smallest fractions are too small to search on.
    """
    from ftprobe.probes.classifier import learning_curve

    spec = _spec(job, jobs.CurveJob)
    X, y, names = load_vectors(out_dir, spec.train, spec.layer)
    Xt, yt, _ = load_vectors(out_dir, spec.test, spec.layer)
    X = np.asarray(X)
    split = saved_split(out_dir, spec)
    sub, held = np.asarray(split.subtrain), np.asarray(split.subtest)
    folder = job_dir(out_dir, job.key)
    folder.mkdir(parents=True, exist_ok=True)
    probe = spec.classifier.probe(spec.seed, names)
    searched: dict[str, Any] = {}
    if probe.search:
        hidden, l2 = probe.select_settings(X[sub], y[sub])
        searched = _search_part(folder, probe)
        probe = spec.classifier.probe(spec.seed, names, hidden_sizes=hidden, l2=l2, search=False)
    curve = learning_curve(
        X[sub],
        y[sub],
        {"subtrain": (X[sub], y[sub]), "subtest": (X[held], y[held]), "test": (np.asarray(Xt), yt)},
        fractions=list(spec.fractions),
        seed=spec.seed,
        probe=probe,
    )
    curve.rename(columns={"split": "eval_split"}).to_parquet(folder / "curve.parquet")
    return {
        "n_subtrain": int(len(sub)),
        "n_subtest": int(len(held)),
        "points": len(curve),
        "restarts": probe.restarts,
        "hidden_sizes": list(probe.hidden_sizes),
        "l2": probe.l2,
        **searched,
    }


def saved_split(out_dir: Path, spec: jobs.CurveJob) -> SubSplit:
    """The subtrain/subtest split that fine-tuning saved for the curve's training vectors.

    Fine-tuning draws it once (``split.json`` in its run folder) and every curve
    reads it, so the probes' subtest is the very split the run recorded. A split
    that does not match the curve's settings or examples is refused, never used.
    """
    from ftprobe.encode.finetune import read_run
    from ftprobe.encode.store import task_fingerprint
    from ftprobe.encode.subsplit import load_split

    _needed(out_dir, spec.split_from)
    run = read_run(job_dir(out_dir, spec.split_from) / FINETUNE_RUN)
    if run.split_file is None:
        raise FtprobeError(f"fine-tuning run {run.out} saved no subtrain/subtest split")
    split = load_split(run.split_file)
    task = spec.task.load()
    if (
        split.fingerprint != task_fingerprint(task)
        or split.seed != spec.seed
        or split.fraction != spec.subtrain_fraction
    ):
        raise FtprobeError(
            f"{run.split_file}: the saved split is of other examples or settings than the "
            f"curve of {task.name}/{task.split} (seed {spec.seed}, fraction "
            f"{spec.subtrain_fraction}) needs"
        )
    return split


def run_randominit(job: Job, out_dir: Path) -> dict[str, Any]:
    """Save the random-init baseline's encoder: the model's architecture, seeded random weights."""
    from ftprobe.encode.models import save_random_init

    spec = _spec(job, jobs.RandomInitJob)
    folder = job_dir(out_dir, job.key) / "model"
    folder.parent.mkdir(parents=True, exist_ok=True)
    ref = save_random_init(resolve_model(spec.model), folder, spec.seed)
    return {
        "path": folder.resolve().relative_to(out_dir.resolve()).as_posix(),
        "identity": ref.identity,
        "seed": spec.seed,
    }


def run_finetune(job: Job, out_dir: Path) -> dict[str, Any]:
    """Fine-tune the encoder on a task's training split, saving the planned checkpoints.

    The run lives in ``jobs/<key>/run``; an interrupted run resumes from its last
    checkpoint when the job runs again.
    """
    from ftprobe.encode.finetune import finetune

    spec = _spec(job, jobs.FinetuneJob)
    train = spec.train.load()
    folder = job_dir(out_dir, job.key) / FINETUNE_RUN
    run = finetune(
        train,
        folder,
        spec.model,
        spec.settings,
        eval_task=spec.dev.load(),
        subtrain_fraction=spec.subtrain_fraction,
        split_seed=spec.settings.seed,
        progress=False,
    )
    return {
        "checkpoints": {
            str(r.step): r.path.resolve().relative_to(out_dir.resolve()).as_posix()
            for r in run.checkpoints
        },
        "train_loss": {str(r.step): r.train_loss for r in run.checkpoints},
        "dev_accuracy": {str(r.step): r.dev_accuracy for r in run.checkpoints},
        "n_train": len(train),
    }


def run_directprobe(job: Job, out_dir: Path) -> dict[str, Any]:
    """DirectProbe on one layer: clusters, distances, statistics, test predictions.

    Writes the published files (clusters.txt, dis.txt, vec.txt, outside_min.txt,
    inside_max.txt, inside_mean.txt, log.txt; the test split's nearest-cluster
    accuracy goes into the record, without prediction.txt) and the study's parts:
    per-label statistics with centroids, and the distance vector as label pairs.
    With a ``control`` parameter ("control-task") both splits carry the control
    task's labels instead of the task's.
    """
    from ftprobe.geometry import outputs
    from ftprobe.geometry.settings import Checkpoints

    spec = _spec(job, jobs.DirectProbeJob)
    folder = job_dir(out_dir, job.key)
    folder.mkdir(parents=True, exist_ok=True)
    X, y, names = load_vectors(out_dir, spec.train, spec.layer)
    X = np.asarray(X, dtype=np.float64)
    test_control = None
    if spec.control:
        if spec.test is None or spec.seed is None:
            raise FtprobeError(f"job {job.describe()}: a control's clustering needs test and seed")
        # A control's clustering: both splits relabelled, the same map on each.
        _, yt_gold, _ = load_vectors(out_dir, spec.test, spec.layer)
        y, test_control, _ = control_labels(
            out_dir, (spec.train, spec.test), spec.seed, spec.control, len(names), y, yt_gold
        )
    log = outputs.RunLog()
    log.info(
        f"DirectProbe on layer {spec.layer} of {spec.train}: {len(y)} points, {X.shape[1]} dims"
    )
    state = folder / "clustering-state"
    probe = spec.directprobe.estimator(names).fit(
        X, y, checkpoints=Checkpoints(state, resume=state.exists())
    )
    clustering = probe.clusters_
    dist = probe.distances()
    stats = probe.statistics()
    outputs.write_clusters(folder / "clusters.txt", clustering)
    outputs.write_dis(folder / "dis.txt", clustering, dist)
    outputs.write_statistics(folder, stats)
    cross = dist[np.isfinite(dist) & (np.triu(np.ones_like(dist, dtype=bool), 1))]
    record: dict[str, Any] = {
        "n_examples": int(len(y)),
        "n_labels": len(names),
        "n_labels_present": int(len(np.unique(y))),
        "n_clusters": int(clustering.n_clusters),
        "n_conflicts": len(clustering.conflicts),
        "dist_min": float(cross.min()) if cross.size else None,
        "dist_mean": float(cross.mean()) if cross.size else None,
        "dist_max": float(cross.max()) if cross.size else None,
        "accuracy": None,
    }
    if spec.test is not None:
        # The study needs the nearest cluster of each test point, not all K distances
        # (prediction.txt, which `ftprobe probe` writes): solving only the clusters that
        # can be nearest is several times faster when there are many clusters.
        Xt, yt, _ = load_vectors(out_dir, spec.test, spec.layer)
        yt = yt if test_control is None else test_control
        record["accuracy"] = probe.score(np.asarray(Xt, dtype=np.float64), yt)
    log.extend(outputs.cluster_summary_lines(clustering.n_clusters, record["accuracy"], dist))
    log.extend(outputs.statistics_summary_lines(stats))
    outputs.write_log(folder / "log.txt", log)

    counts = np.bincount(y, minlength=len(names))
    centroids = np.zeros((len(names), X.shape[1]))
    np.add.at(centroids, y, X)
    present = counts > 0
    centroids[present] /= counts[present, None]
    pd.DataFrame(
        {
            "label": list(names),
            "n_points": counts,
            "counted": stats.labels_counted,
            "outside_min": stats.outside_min,
            "inside_max": stats.inside_max,
            "inside_mean": stats.inside_mean,
            "centroid": [c.astype(np.float32).tolist() for c in centroids],
        }
    ).to_parquet(folder / "labels.parquet")
    pairs = stats.pairs
    pd.DataFrame(
        {
            "label_a": [a for a, _ in pairs],
            "label_b": [b for _, b in pairs],
            "distance": stats.vec,
            "defined": stats.defined,
        }
    ).to_parquet(folder / "label_pairs.parquet")
    return record


_RUNNERS = {
    "directprobe": run_directprobe,
    "finetune": run_finetune,
    "extract": run_extract,
    "classifier": run_classifier,
    "curve": run_curve,
    "control": run_control,
    "randominit": run_randominit,
    "mdl": run_mdl,
}


@contextmanager
def _threads(cpus: float) -> Iterator[None]:
    """Give torch as many threads as the job reserved; small probes run far faster on one."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = max(1, int(cpus))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            yield
    finally:
        torch.set_num_threads(before)


def execute_job(job: Job, out_dir: str) -> dict[str, Any]:
    """Run one job and mark it done; returns its result record."""
    root = Path(out_dir)
    folder = job_dir(root, job.key)
    if folder.exists() and read_result(root, job.key) is None and job.kind != "finetune":
        # Leftovers of an interrupted attempt: start clean.
        shutil.rmtree(folder)
    started = time.perf_counter()
    with _threads(job.resources.cpus):
        record = _RUNNERS[job.kind](job, root)
    record = {"kind": job.kind, "seconds": time.perf_counter() - started, **record}
    write_result(folder, record)
    return record
