"""Run DirectProbe on pre-packed files and write the published output files.

This is what ``ftprobe probe`` does, usable from Python: a :class:`ProbeJob` names the
input files (as a published ``config.ini`` does, see :func:`job_from_config`) and the
output folder; :func:`run_probe` reads them, clusters (mode ``probing``) or reads a given
``clusters.txt`` (mode ``prediction``), and writes ``clusters.txt``, ``dis.txt``,
``prediction.txt`` (when there is a test set), ``vec.txt``, ``outside_min.txt``,
``inside_max.txt``, ``inside_mean.txt`` and ``log.txt``.

The output folder must be empty (or absent) unless ``overwrite`` is set, which replaces an
earlier run: its files (:data:`OUTPUT_FILES` and the state file) are removed before the new
run writes any, so none of them is left beside the new results; other files stay. ``resume``
continues an interrupted clustering from the state file this module keeps in the output
folder while clustering (:data:`STATE_FILE`, removed once the run has finished). The state
file's temporary copy, left by a run killed while saving it, is never read: a run removes it
on failure and at its start.
"""

from __future__ import annotations

import os
import time
import zipfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ftprobe.data.prepacked import read_config, read_embeddings, read_entities, read_label_set
from ftprobe.encode.device import resolve_device
from ftprobe.errors import ConfigError, InputError
from ftprobe.geometry.ahead import HullsAhead, ahead_pays
from ftprobe.geometry.fitted import FittedPartition
from ftprobe.geometry.outputs import (
    PredictionTies,
    RunLog,
    cluster_summary_lines,
    read_clustering,
    repeated_vector_lines,
    statistics_summary_lines,
    tie_summary_lines,
    write_clusters,
    write_dis,
    write_log,
    write_predictions,
    write_statistics,
    zero_distance_lines,
)
from ftprobe.geometry.partition import Clustering, find_conflicts
from ftprobe.geometry.settings import MIN_CLUSTER_SIZE, Checkpoints, check_min_cluster_size

STATE_FILE = ".ftprobe-clustering-state.npz"
"""Checkpoint of an unfinished clustering, kept in the output folder."""

OUTPUT_FILES = (
    "clusters.txt",
    "dis.txt",
    "prediction.txt",
    "vec.txt",
    "outside_min.txt",
    "inside_max.txt",
    "inside_mean.txt",
    "log.txt",
)
"""Every file a run may write into its output folder (``prediction.txt`` only with a test set)."""

Mode = Literal["probing", "prediction"]


@dataclass(frozen=True)
class ProbeJob:
    """What to run: input files, output folder and options."""

    train_embeddings: Path
    train_entities: Path
    labels: Path
    out: Path
    test_embeddings: Path | None = None
    test_entities: Path | None = None
    mode: Mode = "probing"
    clusters: Path | None = None
    overwrite: bool = False
    resume: bool = False
    device: str = "auto"
    min_cluster_size: int = MIN_CLUSTER_SIZE
    save_every: float = 30.0

    def __post_init__(self) -> None:
        if self.mode not in ("probing", "prediction"):
            raise ConfigError(f"mode must be 'probing' or 'prediction', not {self.mode!r}")
        if self.mode == "prediction" and self.clusters is None:
            raise ConfigError("prediction mode needs the clusters.txt to use (--clusters)")
        if (self.test_embeddings is None) != (self.test_entities is None):
            raise ConfigError("give both the test embeddings and the test entities, or neither")
        if self.mode == "prediction" and self.resume:
            raise ConfigError("--resume continues a clustering; prediction mode does not cluster")
        check_min_cluster_size(self.min_cluster_size, name="--min-cluster-size")
        if not self.save_every >= 0:
            raise ConfigError(f"--save-every must be 0 or more seconds, not {self.save_every}")
        # Checked here, before any file is read: a typo or a missing GPU fails at once.
        resolve_device(self.device)


@dataclass(frozen=True)
class ProbeResult:
    """Headline figures of a run (also written to ``log.txt``)."""

    clustering: Clustering
    accuracy: float | None
    out: Path
    seconds: float
    ties: PredictionTies | None = None
    """Ties across labels at the nearest distance (with a test set)."""


def job_from_config(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    resume: bool = False,
    device: str | None = None,
    min_cluster_size: int = MIN_CLUSTER_SIZE,
    save_every: float = 30.0,
) -> ProbeJob:
    """A job from a published-style ``config.ini`` (paths, mode, output folder).

    ``enable_cuda`` is read as a real boolean (the published code took ``False`` as true);
    ``device`` overrides it. In prediction mode ``probing_cluster_path`` names the clusters.
    """
    cfg = read_config(path)
    dev = device if device is not None else ("auto" if cfg.enable_cuda else "cpu")
    return ProbeJob(
        train_embeddings=cfg.embeddings_path,
        train_entities=cfg.entities_path,
        labels=cfg.label_set_path,
        out=cfg.output_path,
        test_embeddings=cfg.test_embeddings_path,
        test_entities=cfg.test_entities_path,
        mode=cfg.mode,
        clusters=cfg.probing_cluster_path if cfg.mode == "prediction" else None,
        overwrite=overwrite,
        resume=resume,
        device=dev,
        min_cluster_size=min_cluster_size,
        save_every=save_every,
    )


def _labels_of(path: Path, rows: list[tuple[str, str]], names: tuple[str, ...]) -> np.ndarray:
    pos = {name: i for i, name in enumerate(names)}
    out = np.empty(len(rows), dtype=np.int64)
    for line, (_text, label) in enumerate(rows, start=1):
        idx = pos.get(label)
        if idx is None:
            raise InputError(path, line, f"label {label!r} is not in the label set")
        out[line - 1] = idx
    return out


def _check_out(job: ProbeJob) -> None:
    out = job.out
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: the output path exists and is not a folder")
    if not out.exists():
        if job.resume:
            raise ConfigError(f"{out}: nothing to resume (the output folder does not exist)")
        return
    entries = [p.name for p in out.iterdir()]
    if job.resume:
        if STATE_FILE not in entries:
            raise ConfigError(f"{out}: nothing to resume (no {STATE_FILE} in the output folder)")
        _check_state(out / STATE_FILE)
        return
    if entries and not job.overwrite:
        raise ConfigError(
            f"{out}: the output folder is not empty (use --overwrite to replace its files, "
            "or --resume to continue an interrupted run)"
        )


def _check_state(path: Path) -> None:
    """A state file to resume from must read back whole (every array, checksums included)."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            for name in saved.files:
                saved[name]
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ConfigError(
            f"{path}: the saved clustering state is damaged ({type(exc).__name__}: {exc}); "
            "start again with --overwrite instead of --resume"
        ) from None


def _remove_earlier_run(job: ProbeJob) -> None:
    """Remove what an earlier run wrote into the output folder, except this job's inputs."""
    inputs = {
        p.resolve()
        for p in (
            job.train_embeddings,
            job.train_entities,
            job.labels,
            job.test_embeddings,
            job.test_entities,
            job.clusters,
        )
        if p is not None
    }
    for name in (*OUTPUT_FILES, STATE_FILE):
        path = job.out / name
        if path.resolve() not in inputs:
            path.unlink(missing_ok=True)


def run_probe(job: ProbeJob, *, progress: bool = True, max_steps: int | None = None) -> ProbeResult:
    """Run a job; see the module docstring. ``max_steps`` interrupts the clustering (tests)."""
    t0 = time.perf_counter()
    log = RunLog()
    _check_out(job)
    label_set = read_label_set(job.labels)
    names = tuple(label_set.names)
    log.info(f"Label size={len(names)}")
    rows = read_entities(job.train_entities)
    y = _labels_of(job.train_entities, rows, names)
    log.info(f"Loaded {len(rows)} training examples from {job.train_entities}")
    X = read_embeddings(job.train_embeddings, len(rows), np.float64)
    log.info(
        f"Loaded {X.shape[0]} training vectors of {X.shape[1]} values from {job.train_embeddings}"
    )
    test = None
    if job.test_entities is not None and job.test_embeddings is not None:
        test_rows = read_entities(job.test_entities)
        test_y = _labels_of(job.test_entities, test_rows, names)
        test_X = read_embeddings(job.test_embeddings, len(test_rows), np.float64)
        if test_X.shape[1] != X.shape[1]:
            raise InputError(
                job.test_embeddings,
                1,
                f"{test_X.shape[1]} values per vector, but the training vectors have {X.shape[1]}",
            )
        test = (test_X, test_y)
        log.info(f"Loaded {len(test_rows)} test examples from {job.test_entities}")

    # With a test set, its distances to the hulls of whole labels start during the merges,
    # in a second process (which then shares the rest).
    ahead = None
    if test is not None and job.mode == "probing" and ahead_pays(len(X), len(test[0]), job.device):
        ahead = HullsAhead(X, y, test[0])
    with ahead if ahead is not None else nullcontext():
        out = job.out
        out.mkdir(parents=True, exist_ok=True)
        state = out / STATE_FILE
        if job.overwrite and not job.resume:
            _remove_earlier_run(job)
        computing = {
            "device": job.device,
            "progress": progress,
            "min_cluster_size": job.min_cluster_size,
        }
        if job.mode == "probing":
            log.info("Clustering" + (" (resumed)" if job.resume else ""))
            checkpoints = Checkpoints(state, resume=job.resume, every_seconds=job.save_every)
            fitted, st = FittedPartition.cluster(
                X,
                y,
                names,
                checkpoints=checkpoints,
                max_steps=max_steps,
                on_whole_label=None if ahead is None else ahead.whole_label,
                **computing,
            )
            clustering = fitted.clustering
            log.info(
                f"Clustering: {st.merges} merges, {st.rejections} rejected, "
                f"{st.label_pair_checks} label pairs and {st.cluster_checks} cluster pairs checked "
                f"exactly, {st.seconds:.1f} s"
            )
            for group in clustering.conflicts:
                labels = sorted({names[y[i]] for i in group})
                log.info(
                    "Identical vectors with different labels (one cluster per label, never "
                    "merged): examples "
                    + ", ".join(str(i + 1) for i in group)
                    + f" ({', '.join(labels)})"
                )
            log.extend(repeated_vector_lines(clustering))
            write_clusters(out / "clusters.txt", clustering)
        else:
            assert job.clusters is not None
            given = read_clustering(job.clusters, y, names)
            # the vectors with several labels, for the report on the clusters they force
            clustering = Clustering(
                given.assignment, given.cluster_labels, names, find_conflicts(X, y)
            )
            log.extend(repeated_vector_lines(clustering))
            fitted = FittedPartition(X, clustering, **computing)
            log.info(f"Loaded the clusters from {job.clusters}")
            if job.clusters.resolve() != (out / "clusters.txt").resolve():
                write_clusters(out / "clusters.txt", clustering)
        log.extend(cluster_summary_lines(n_clusters=clustering.n_clusters))

        accuracy = None
        ties = None
        # The second process, where there is one, shares every step after the clustering.
        helper = ahead if ahead is not None and ahead.serves(fitted.X) else None
        if test is not None:
            test_X, test_y = test
            if helper is not None:
                dist = fitted.point_distances(
                    test_X, ahead=helper.collect(clustering), helper=helper.column
                )
            else:
                dist = fitted.point_distances(test_X)
            gold = [names[i] for i in test_y]
            write_predictions(
                out / "prediction.txt", gold, dist, clustering, tol=fitted.tie_tolerance
            )
            accuracy = fitted.accuracy(test_y, None, dist)
            ties = fitted.ties(test_y, None, dist)
            log.extend(cluster_summary_lines(accuracy=accuracy))
            log.extend(tie_summary_lines(ties))
        distances = fitted.distances(helper=None if helper is None else helper.pair)
        write_dis(out / "dis.txt", clustering, distances)
        log.extend(cluster_summary_lines(distances=distances))
        log.extend(zero_distance_lines(clustering, distances))
        stats = fitted.statistics()
        write_statistics(out, stats)
        log.extend(statistics_summary_lines(stats))
        seconds = time.perf_counter() - t0
        log.info(f"Finished in {seconds:.1f} s")
        write_log(out / "log.txt", log)
        state.unlink(missing_ok=True)
        return ProbeResult(clustering, accuracy, out, seconds, ties)
