"""A study bound to its output folder: inspect, plan, run, gather tables."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ftprobe.data.atomic import atomic_path, sha256_file, write_json
from ftprobe.data.paths import data_dir
from ftprobe.errors import ConfigError, FtprobeError
from ftprobe.study.executor_base import Executor
from ftprobe.study.jobs_model import Job
from ftprobe.study.plan import Plan, plan_study
from ftprobe.study.runner import RunReport, StudyFailed, read_result, run_plan
from ftprobe.study.spec import Study, load_study
from ftprobe.study.tables import collect_tables, write_tables


def inspect_study(study: Study) -> tuple[dict[str, int], dict[str, int]]:
    """Check that every task split and model exists; return training sentences and model depths.

    Reads the task files and each model's configuration only, so a wrong name
    fails here, in seconds, before any job starts.
    """
    from transformers import AutoConfig

    from ftprobe.data.registry import load_task
    from ftprobe.encode.models import resolve_model

    sizes: dict[str, int] = {}
    for task in study.tasks:
        for split, limit in ((task.train_split, task.max_train), (task.test_split, task.max_test)):
            loaded = load_task(task.name, split, data_dir=study.data_dir, **task.options)
            if len(loaded) == 0:
                raise ConfigError(f"{study.path}: task {task.name} split {split} has no examples")
            if split == task.train_split:
                # Fine-tuning batches distinct sentences: they set the number of updates.
                sizes[task.name] = len(loaded.first(limit).sentence_groups())
    layers: dict[str, int] = {}
    for model in study.models:
        ref = resolve_model(model.path)
        try:
            config = AutoConfig.from_pretrained(ref.path)
        except OSError as exc:
            raise ConfigError(f"{study.path}: model {model.name} ({model.path}): {exc}") from None
        layers[model.name] = int(config.num_hidden_layers)
    return sizes, layers


def corpus_files(study: Study) -> dict[str, dict[str, str]]:
    """For each task of ``study``, the SHA-256 of every file its data is read from."""
    from ftprobe.data.registry import task_files

    hashes: dict[Path, str] = {}
    files: dict[str, dict[str, str]] = {}
    for task in study.tasks:
        paths = task_files(task.name, data_dir=study.data_dir)
        for path in paths:
            if path not in hashes:
                hashes[path] = sha256_file(path)
        files[task.name] = {str(path): hashes[path] for path in paths}
    return files


def corpus_digest(files: dict[str, str]) -> str:
    """One digest of a task's files: their names and contents, not where they lie, so a
    moved data folder is still the same data and an edited file never is."""
    lines = sorted(f"{Path(path).name}\t{sha}" for path, sha in files.items())
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


@dataclass
class StudySession:
    """A validated study, its plan, and the folder its results go to.

    ``inputs`` maps each task to the SHA-256 of every corpus file it reads
    (:func:`corpus_files`); :meth:`record_inputs` writes it to ``inputs.json``.
    """

    study: Study
    out: Path
    plan: Plan
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def open(cls, study_file: Path, out: Path) -> StudySession:
        """Load, inspect and plan a study for the output folder ``out``."""
        study = load_study(study_file)
        sizes, layers = inspect_study(study)
        files = corpus_files(study)
        study = replace(study, corpus={task: corpus_digest(f) for task, f in files.items()})
        plan = plan_study(study, sizes, layers)
        return cls(study=study, out=Path(out), plan=plan, inputs=files)

    def pending(self) -> list[Job]:
        """Planned jobs that have not finished, in plan order."""
        return [j for k, j in self.plan.jobs.items() if read_result(self.out, k) is None]

    def record_inputs(self) -> None:
        """Write the study file, the plan and inputs.json (data folder, SHA-256 of every
        corpus file the jobs read) into the output folder."""
        self.out.mkdir(parents=True, exist_ok=True)
        target = self.out / "study.toml"
        if self.study.path.resolve() != target.resolve():
            with atomic_path(target) as tmp:
                shutil.copyfile(self.study.path, tmp)
        plan = {
            "jobs": {
                k: {"kind": j.kind, "label": j.describe(), "params": dict(j.params), "deps": j.deps}
                for k, j in self.plan.jobs.items()
            },
            "rows": [asdict(r) for r in self.plan.rows],
        }
        write_json(self.out / "plan.json", plan, indent=1, default=str)
        record = {
            "data_dir": str(data_dir(self.study.data_dir).resolve()),
            "tasks": {
                task: {"digest": self.study.corpus.get(task), "files": files}
                for task, files in self.inputs.items()
            },
        }
        write_json(self.out / "inputs.json", record, indent=1)

    def run(self, executor: Executor, progress: bool = True) -> RunReport:
        """Run what is missing, then write the tables from every finished job."""
        from ftprobe.study.execute import execute_job

        self.record_inputs()
        report = run_plan(self.plan, self.out, execute_job, executor, progress=progress)
        write_tables(collect_tables(self.plan, self.out), self.out)
        return report

    def run_or_raise(self, executor: Executor, progress: bool = True) -> RunReport:
        """Like :meth:`run`, raising :class:`StudyFailed` when a job failed."""
        report = self.run(executor, progress=progress)
        if report.failed:
            first = next(iter(report.failed.items()))
            raise StudyFailed(
                f"{len(report.failed)} job(s) failed, e.g. {self.plan.jobs[first[0]].describe()}: "
                f"{first[1]}"
            )
        return report


__all__ = ["FtprobeError", "StudySession", "corpus_digest", "corpus_files", "inspect_study"]
