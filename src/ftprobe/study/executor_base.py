"""What an executor is: the small interface every place a study's jobs run implements.

The runner decides *what* runs and *when* (a job is submitted once every job it
needs has finished); an executor only runs one job somewhere and hands back a
:class:`concurrent.futures.Future` of its result. That small interface is what a
distributed engine implements too. It lives apart from the executors
themselves so that one of them (Ray's, imported only when asked for) and
:mod:`ftprobe.study.executors`, which makes it, need not import each other.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ftprobe.study.jobs_model import Job

__all__ = ["Executor", "JobFunction"]

JobFunction = Callable[[Job, str], dict[str, Any]]
"""Runs one job into the study folder ``out_dir`` and returns its result record."""


class Executor(Protocol):
    """Runs one job and returns a future of its result record."""

    name: str

    def submit(self, fn: JobFunction, job: Job, out_dir: Path) -> cf.Future[dict[str, Any]]:
        """Start ``fn(job, out_dir)`` and return a future of what it returns."""
        ...

    def shutdown(self) -> None:
        """Release workers; jobs still running are waited for."""
        ...
