"""A study bound to its output folder: inspect, plan, run, gather tables."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from ftprobe.data.atomic import atomic_open, atomic_path
from ftprobe.errors import ConfigError, FtprobeError
from ftprobe.study.executors import Executor
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
                kept = loaded.examples[:limit] if limit else loaded.examples
                # Fine-tuning batches distinct sentences: they set the number of updates.
                sizes[task.name] = len({ex.tokens for ex in kept})
    layers: dict[str, int] = {}
    for model in study.models:
        ref = resolve_model(model.path)
        try:
            config = AutoConfig.from_pretrained(ref.path)
        except OSError as exc:
            raise ConfigError(f"{study.path}: model {model.name} ({model.path}): {exc}") from None
        layers[model.name] = int(config.num_hidden_layers)
    return sizes, layers


@dataclass
class StudySession:
    """A validated study, its plan, and the folder its results go to."""

    study: Study
    out: Path
    plan: Plan

    @classmethod
    def open(cls, study_file: Path, out: Path) -> StudySession:
        """Load, inspect and plan a study for the output folder ``out``."""
        study = load_study(study_file)
        sizes, layers = inspect_study(study)
        return cls(study=study, out=Path(out), plan=plan_study(study, sizes, layers))

    def pending(self) -> list[Job]:
        """Planned jobs that have not finished, in plan order."""
        return [j for k, j in self.plan.jobs.items() if read_result(self.out, k) is None]

    def _record_inputs(self) -> None:
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
        with atomic_open(self.out / "plan.json") as handle:
            handle.write(json.dumps(plan, indent=1, default=str))

    def run(self, executor: Executor, progress: bool = True) -> RunReport:
        """Run what is missing, then write the tables from every finished job."""
        from ftprobe.study.execute import execute_job

        self._record_inputs()
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


__all__ = ["FtprobeError", "StudySession", "inspect_study"]
