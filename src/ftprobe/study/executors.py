"""Executors: where a study's jobs run (the interface is :mod:`ftprobe.study.executor_base`).

Here are the local ones, in this process or in a pool of worker processes, and
:func:`make_executor`, which also makes Ray's
(:mod:`ftprobe.study.ray_executor`, imported only when asked for).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import multiprocessing
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ftprobe.study.executor_base import Executor, JobFunction
from ftprobe.study.jobs_model import Job


class SequentialExecutor:
    """Runs each job in this process, at once: simplest, and the easiest to debug."""

    name = "local"

    def submit(self, fn: JobFunction, job: Job, out_dir: Path) -> cf.Future[dict[str, Any]]:
        future: cf.Future[dict[str, Any]] = cf.Future()
        try:
            future.set_result(fn(job, str(out_dir)))
        except BaseException as exc:  # noqa: BLE001 - the runner reports it per job
            if isinstance(exc, KeyboardInterrupt):
                raise
            future.set_exception(exc)
        return future

    def shutdown(self) -> None:
        return None


def _init_worker(threads: int, show_warning: Callable[..., None]) -> None:
    import torch

    # A spawned worker starts with Python's default warning format; it shows them
    # as the command that started it does (one line each, unless --debug).
    warnings.showwarning = show_warning

    torch.set_num_threads(threads)


class ProcessPoolExecutor:
    """Runs jobs in a pool of local worker processes (``spawn``, so torch starts clean).

    Each worker gets ``threads`` torch threads, so ``workers * threads`` should not
    exceed the machine's cores.
    """

    name = "process"

    def __init__(self, workers: int = 2, threads: int = 1) -> None:
        self._threads = threads
        self._pool = cf.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(threads, warnings.showwarning),
        )

    def submit(self, fn: JobFunction, job: Job, out_dir: Path) -> cf.Future[dict[str, Any]]:
        """Run ``fn(job, out_dir)`` in a worker, the job's CPUs capped to the worker's share.

        A job asks for its own thread count (fine-tuning: 2), and a job runs with
        as many threads as it reserves; in a pool that would put workers x
        threads spinning threads on the cores, which slows everything down more
        than tenfold. So the job a worker gets reserves at most the worker's
        ``threads``, as a Ray task reserves at most what its node has.
        Resources are no part of a job's key: it is the same job.
        """
        cpus = min(job.resources.cpus, self._threads)
        capped = dataclasses.replace(job, resources=dataclasses.replace(job.resources, cpus=cpus))
        return self._pool.submit(fn, capped, str(out_dir))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_executor(name: str, workers: int = 2, address: str | None = None) -> Executor:
    """The executor called ``name`` ('local', 'process' or 'ray')."""
    from ftprobe.errors import ConfigError

    if name == "local":
        return SequentialExecutor()
    if name == "process":
        return ProcessPoolExecutor(
            workers=workers, threads=max(1, (os.cpu_count() or 2) // workers)
        )
    if name == "ray":
        from ftprobe.study.ray_executor import RayExecutor

        return RayExecutor(address=address)
    raise ConfigError(f"unknown executor {name!r}: choose local, process or ray")
