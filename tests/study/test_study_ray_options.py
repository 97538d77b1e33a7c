"""The Ray executor's decisions that need no Ray: addresses, resources, missing extra."""

from __future__ import annotations

import sys

import pytest

from ftprobe.errors import ConfigError, FtprobeError
from ftprobe.study.jobs_model import Job, Resources
from ftprobe.study.ray_executor import parse_address, ray_task_options


def test_addresses_are_parsed_or_rejected_with_the_expected_form():
    assert parse_address("head-node:6379") == ("head-node", 6379)
    assert parse_address("ray://10.0.0.5:10001") == ("10.0.0.5", 10001)
    assert parse_address("[::1]:6379") == ("::1", 6379)
    assert parse_address("auto") is None
    for bad in ("head-node", "head-node:", ":6379", "head:port", "head:70000"):
        with pytest.raises(ConfigError, match="expected HOST:PORT"):
            parse_address(bad)


def test_gpu_jobs_get_a_gpu_only_where_the_cluster_has_one():
    finetune = Job("finetune", {"m": 1}, resources=Resources(cpus=2, gpus=1))
    probe = Job("directprobe", {"m": 1}, resources=Resources(cpus=1, gpus=0))
    on_gpus = ray_task_options(finetune, max_node_cpus=16, max_node_gpus=8, max_retries=3)
    assert (on_gpus["num_cpus"], on_gpus["num_gpus"]) == (2, 1)
    on_cpus = ray_task_options(finetune, max_node_cpus=16, max_node_gpus=0, max_retries=3)
    assert (on_cpus["num_cpus"], on_cpus["num_gpus"]) == (2, 0)
    assert ray_task_options(probe, 16, 8, 3)["num_gpus"] == 0
    # A request larger than any node would never be scheduled: capped to the largest node.
    small = ray_task_options(finetune, max_node_cpus=1, max_node_gpus=0.5, max_retries=3)
    assert (small["num_cpus"], small["num_gpus"]) == (1, 0.5)
    assert on_gpus["max_retries"] == 3 and on_gpus["retry_exceptions"] is False


def test_missing_ray_says_how_to_install_the_extra(monkeypatch: pytest.MonkeyPatch):
    from ftprobe.study.executors import make_executor

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(FtprobeError, match=r"pip install 'ftprobe\[ray\]'"):
        make_executor("ray")
