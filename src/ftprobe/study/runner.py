"""Running a study: plan, skip what is done, run the rest in dependency order.

A job is done when its folder ``jobs/<key>/`` holds ``result.json``, which each job
writes last and atomically. So a second run finds every job done and does no
work, and an interrupted run resumes with the jobs that had not finished (a job
that was cut off left no ``result.json`` and runs again).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ftprobe.data.atomic import write_json
from ftprobe.errors import FtprobeError, InputWarning
from ftprobe.study.executor_base import Executor, JobFunction
from ftprobe.study.executors import SequentialExecutor
from ftprobe.study.jobs_model import Job
from ftprobe.study.plan import Plan

RESULT = "result.json"


def job_dir(out_dir: Path, key: str) -> Path:
    """The folder that holds one job's outputs."""
    return out_dir / "jobs" / key


def read_result(out_dir: Path, key: str) -> dict[str, Any] | None:
    """The result record of a finished job, or None when it has not finished.

    A record that does not parse (a truncated or damaged file: ftprobe writes it
    atomically, so something else changed it) counts as not finished, with a
    warning naming the file: the job runs again and rewrites it, and nothing is
    ever reused from a record that cannot be read.
    """
    path = job_dir(out_dir, key) / RESULT
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problem = f"not readable JSON ({exc})"
    else:
        if isinstance(record, dict):
            return record
        problem = f"a JSON {type(record).__name__}, not a job record"
    warnings.warn(
        InputWarning(path, None, f"damaged job result, {problem}; the job will run again"),
        stacklevel=2,
    )
    return None


def write_result(folder: Path, record: dict[str, Any]) -> None:
    """Mark a job done by writing its result record atomically (temporary name, then rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / RESULT, record, indent=1, sort_keys=True, default=str)


@dataclass
class RunReport:
    """What a run did: jobs run, jobs found done, jobs failed (with their errors)."""

    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


class StudyFailed(FtprobeError):
    """Some jobs failed; the others finished and are kept for the next run."""


def run_plan(
    plan: Plan,
    out_dir: Path,
    fn: JobFunction,
    executor: Executor | None = None,
    *,
    progress: bool = True,
    on_done: Callable[[Job, dict[str, Any]], None] | None = None,
) -> RunReport:
    """Run every job of ``plan`` whose result is missing, each after the jobs it needs.

    A failed job is reported and its dependants are skipped; independent jobs
    still run, so a rerun only redoes what failed.
    """
    executor = executor or SequentialExecutor()
    report = RunReport()
    done: set[str] = set()
    for key in plan.jobs:
        if read_result(out_dir, key) is not None:
            done.add(key)
            report.reused.append(key)
    pending = {k: j for k, j in plan.jobs.items() if k not in done}
    running: dict[cf.Future[dict[str, Any]], tuple[str, float]] = {}
    blocked: set[str] = set()

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[current]}"),
    )
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task_id = bar.add_task("study", total=len(plan.jobs), completed=len(done), current="")
        while pending or running:
            ready = [k for k, j in pending.items() if all(d in done for d in j.deps)]
            for key in ready:
                job = pending.pop(key)
                bar.update(task_id, current=job.describe())
                running[executor.submit(fn, job, out_dir)] = (key, time.perf_counter())
            failed_deps = [
                k
                for k, j in pending.items()
                if any(d in report.failed or d in blocked for d in j.deps)
            ]
            for key in failed_deps:
                pending.pop(key)
                blocked.add(key)
                report.skipped.append(key)
            if not running:
                if pending:  # nothing can start: a dependency cycle or a missing job
                    raise FtprobeError(f"{len(pending)} jobs wait on jobs that never finish")
                break
            finished, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
            for future in finished:
                key, started = running.pop(future)
                report.seconds[key] = time.perf_counter() - started
                exc = future.exception()
                if exc is not None:
                    report.failed[key] = "".join(
                        traceback.format_exception_only(type(exc), exc)
                    ).strip()
                    continue
                done.add(key)
                report.ran.append(key)
                if on_done is not None:
                    on_done(plan.jobs[key], future.result())
                bar.update(task_id, advance=1)
    executor.shutdown()
    return report
