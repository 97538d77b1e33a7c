"""The local executors: a pool worker's jobs get the worker's share of threads, told to them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ftprobe.study.executors import ProcessPoolExecutor, SequentialExecutor
from ftprobe.study.jobs_model import Job, Resources


def _what_the_job_was_given(job: Job, out_dir: str) -> dict[str, Any]:
    # Runs in a spawned worker: reports what reached it, and how.
    import torch

    return {
        "cpus": job.resources.cpus,
        "key": job.key,
        "torch_threads": torch.get_num_threads(),
        "environ": sorted(k for k in os.environ if k.startswith("FTPROBE_MAX")),
    }


def test_a_pool_job_reserves_at_most_the_workers_threads(tmp_path: Path) -> None:
    # Fine-tuning asks for 2 threads; in a pool of 1-thread workers it gets one,
    # and the job is still the same job (resources are no part of its key).
    job = Job("finetune", {"seed": 1}, resources=Resources(cpus=2.0))
    small = Job("directprobe", {"seed": 1}, resources=Resources(cpus=0.5))
    pool = ProcessPoolExecutor(workers=1, threads=1)
    try:
        got = pool.submit(_what_the_job_was_given, job, tmp_path).result(timeout=300)
        got_small = pool.submit(_what_the_job_was_given, small, tmp_path).result(timeout=300)
    finally:
        pool.shutdown()
    assert got == {"cpus": 1.0, "key": job.key, "torch_threads": 1, "environ": []}
    assert got_small["cpus"] == 0.5  # a smaller reservation is left as it is


def test_the_sequential_executor_passes_the_job_unchanged(tmp_path: Path) -> None:
    job = Job("finetune", {"seed": 1}, resources=Resources(cpus=2.0))
    got = SequentialExecutor().submit(_what_the_job_was_given, job, tmp_path).result()
    assert got["cpus"] == 2.0 and got["key"] == job.key
