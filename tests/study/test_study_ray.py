"""The Ray executor against real Ray instances on this machine (loopback addresses only).

A head node started with ``ray start --head --block`` serves as "the cluster"
(the executor connects to it by address, as on a real cluster); one test lets
the executor start its own private instance instead.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# Read by Ray when it is imported: keep this machine's instances on 127.0.0.1, and
# use token authentication as real clusters do, with a token that never touches
# ~/.ray. The module fixture ``ray_env`` removes them again for later tests.
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN": secrets.token_hex(32),
}
SAVED_ENV = {key: os.environ.get(key) for key in RAY_ENV}
os.environ.update(RAY_ENV)
ray = pytest.importorskip(
    "ray", reason="the Ray executor's tests need the ray extra: pip install 'ftprobe[ray]'"
)

from ftprobe.errors import ConfigError, FtprobeError  # noqa: E402
from ftprobe.study.executors import SequentialExecutor, make_executor  # noqa: E402
from ftprobe.study.jobs_model import Job, Resources  # noqa: E402
from ftprobe.study.plan import Plan  # noqa: E402
from ftprobe.study.ray_executor import RayExecutor  # noqa: E402
from ftprobe.study.runner import job_dir, read_result, run_plan, write_result  # noqa: E402

# The toy job function lives in this test module, which Ray workers cannot
# import: send its code along with each task instead.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module", autouse=True)
def ray_env() -> Iterator[None]:
    """Put back the environment this module changed for Ray."""
    yield
    for key, value in SAVED_ENV.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def disconnect_after() -> Iterator[None]:
    """A test that failed half-way leaves no Ray connection to the next one."""
    yield
    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture(scope="module")
def ray_head(repo: Path) -> Iterator[str]:
    """A one-node Ray cluster on 127.0.0.1 with 2 CPUs; yields its address."""
    port = _free_port()
    temp = Path(tempfile.mkdtemp(prefix="ftray-"))  # short: Ray puts unix sockets inside
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(repo / "src"), env.get("PYTHONPATH", "")) if p
    )
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    command = [
        sys.executable,
        "-c",
        "from ray.scripts.scripts import main; main()",
        "start",
        "--head",
        "--block",
        f"--port={port}",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=2",
        "--num-gpus=0",
        "--include-dashboard=false",
        f"--dashboard-agent-listen-port={_free_port()}",
        f"--ray-client-server-port={_free_port()}",
        "--disable-usage-stats",
        f"--temp-dir={temp}",
    ]
    log_path = temp / "head.log"
    with open(log_path, "w") as log:
        head = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log_path.read_text(errors="replace"):
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start --head failed:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.25)
        yield f"127.0.0.1:{port}"
    finally:
        if ray.is_initialized():
            ray.shutdown()
        head.send_signal(signal.SIGTERM)  # --block: stops the processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(timeout=10)
        shutil.rmtree(temp, ignore_errors=True)


def _toy_job(job: Job, out_dir: str) -> dict[str, Any]:
    """A cheap job with the real contract: reads its dependencies' files, writes its own.

    A file ``stall-<key>`` in the output folder makes it record its PID and wait
    to be killed; ``fail`` in its parameters makes it raise and ``die`` kill its
    own process, after noting the attempt.
    """
    out = Path(out_dir)
    folder = job_dir(out, job.key)
    folder.mkdir(parents=True, exist_ok=True)
    if job.params.get("fail") or job.params.get("die"):
        with open(out / f"attempts-{job.key}", "a") as f:
            f.write(f"{os.getpid()}\n")
        if job.params.get("die"):
            os.kill(os.getpid(), signal.SIGKILL)
        raise ValueError(f"bad input for {job.params['name']}")
    if (out / f"stall-{job.key}").exists():
        (out / f"pid-{job.key}.tmp").write_text(str(os.getpid()))
        os.replace(out / f"pid-{job.key}.tmp", out / f"pid-{job.key}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.05)
        raise TimeoutError("the test did not kill this worker")
    seed = int(job.key.split("-")[1][:8], 16)
    vector = np.random.default_rng(seed).normal(size=64)
    for dep in job.deps:
        vector += np.load(job_dir(out, dep) / "vector.npy")
    np.save(folder / "vector.npy", vector)
    record = {"kind": job.kind, "total": float(vector.sum()), "worker": os.getpid()}
    write_result(folder, record)
    return record


def _toy_plan(fail: str | None = None) -> Plan:
    """2 'fine-tunings' (wanting a GPU), 4 'extractions', 12 'probes' in dependency order."""
    plan = Plan()
    for model in ("tiny", "mini"):
        ft = plan.add(
            Job("finetune", {"name": model}, resources=Resources(cpus=2, gpus=1), label=model)
        )
        for split in ("train", "test"):
            name = f"{model}/{split}"
            ex = plan.add(
                Job(
                    "extract",
                    {"name": name, "fail": name == fail},
                    deps=(ft,),
                    resources=Resources(cpus=2),
                )
            )
            for layer in range(3):
                plan.add(Job("directprobe", {"name": f"{name}/L{layer}"}, deps=(ex,)))
    return plan


def _results(out: Path, plan: Plan) -> dict[str, Any]:
    """Every finished job's record (less the worker's PID) and vector."""
    found = {}
    for key in plan.jobs:
        record = read_result(out, key)
        if record is not None:
            record.pop("worker")
            found[key] = (record, np.load(job_dir(out, key) / "vector.npy").tolist())
    return found


def test_ray_runs_a_plan_like_the_local_executor_and_resumes(ray_head: str, tmp_path: Path):
    plan = _toy_plan()
    local = run_plan(plan, tmp_path / "local", _toy_job, SequentialExecutor(), progress=False)
    executor = RayExecutor(address=ray_head)
    assert not executor.has_gpus  # so the 'fine-tunings' ran on CPUs instead of waiting
    report = run_plan(plan, tmp_path / "ray", _toy_job, executor, progress=False)
    assert not ray.is_initialized()  # shutdown() disconnected
    assert not report.failed and sorted(report.ran) == sorted(local.ran) == sorted(plan.jobs)
    assert _results(tmp_path / "ray", plan) == _results(tmp_path / "local", plan)
    workers = {read_result(tmp_path / "ray", key)["worker"] for key in plan.jobs}
    assert os.getpid() not in workers  # they really ran in Ray's worker processes

    again = run_plan(plan, tmp_path / "ray", _toy_job, RayExecutor(address=ray_head))
    assert again.ran == [] and sorted(again.reused) == sorted(plan.jobs)


def test_failed_job_is_reported_like_a_local_one_and_not_retried(ray_head: str, tmp_path: Path):
    plan = _toy_plan(fail="mini/test")
    local = run_plan(plan, tmp_path / "local", _toy_job, SequentialExecutor(), progress=False)
    report = run_plan(
        plan, tmp_path / "ray", _toy_job, make_executor("ray", address=ray_head), progress=False
    )
    assert report.failed == local.failed
    assert list(report.failed.values()) == ["ValueError: bad input for mini/test"]
    assert sorted(report.skipped) == sorted(local.skipped) and len(report.skipped) == 3
    assert _results(tmp_path / "ray", plan) == _results(tmp_path / "local", plan)
    (bad,) = report.failed
    assert len((tmp_path / "ray" / f"attempts-{bad}").read_text().split()) == 1


def test_killed_worker_is_retried_and_results_are_complete(ray_head: str, tmp_path: Path):
    plan = _toy_plan()
    run_plan(plan, tmp_path / "local", _toy_job, SequentialExecutor(), progress=False)
    out = tmp_path / "ray"
    out.mkdir()
    victim = next(k for k, j in plan.jobs.items() if j.kind == "extract")
    (out / f"stall-{victim}").touch()
    killed: list[int] = []

    def kill_when_stalled() -> None:
        deadline = time.monotonic() + 60
        while not (out / f"pid-{victim}").exists():
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        pid = int((out / f"pid-{victim}").read_text())
        (out / f"stall-{victim}").unlink()  # the retry runs normally
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_when_stalled, daemon=True)
    killer.start()
    report = run_plan(plan, out, _toy_job, RayExecutor(address=ray_head), progress=False)
    killer.join(timeout=5)
    assert killed, "the job never stalled"
    assert not report.failed and sorted(report.ran) == sorted(plan.jobs)
    assert read_result(out, victim)["worker"] != killed[0]
    assert _results(out, plan) == _results(tmp_path / "local", plan)


def test_job_whose_worker_always_dies_fails_after_the_retries(ray_head: str, tmp_path: Path):
    plan = Plan()
    first = plan.add(Job("extract", {"name": "doomed", "die": True}))
    after = plan.add(Job("directprobe", {"name": "after"}, deps=(first,)))
    executor = RayExecutor(address=ray_head, max_retries=1)
    report = run_plan(plan, tmp_path, _toy_job, executor, progress=False)
    assert list(report.failed) == [first] and report.skipped == [after]
    assert "retried up to 1 times when its worker died" in report.failed[first]
    assert len((tmp_path / f"attempts-{first}").read_text().split()) == 2


def test_unreachable_address_is_a_clear_error_within_seconds():
    port = _free_port()  # nothing listens there any more
    started = time.monotonic()
    with pytest.raises(FtprobeError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        make_executor("ray", address=f"127.0.0.1:{port}")
    assert time.monotonic() - started < 5
    assert not ray.is_initialized()
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        RayExecutor(address="head-node")


def test_private_local_instance_on_loopback_is_stopped_after_the_run(tmp_path: Path):
    plan = _toy_plan()
    run_plan(plan, tmp_path / "local", _toy_job, SequentialExecutor(), progress=False)
    executor = RayExecutor(num_cpus=2)
    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert [n["NodeManagerAddress"] for n in nodes] == ["127.0.0.1"]
    report = run_plan(plan, tmp_path / "ray", _toy_job, executor, progress=False)
    assert not report.failed
    assert _results(tmp_path / "ray", plan) == _results(tmp_path / "local", plan)
    assert not ray.is_initialized()


def test_address_that_does_not_answer_like_ray_times_out(tmp_path: Path):
    # Something listens but never speaks Ray's protocol: ray.init alone would retry forever.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(FtprobeError, match="did not accept this driver within 3 s"):
            RayExecutor(address=address, init_timeout_s=3)
        assert time.monotonic() - started < 10


# The smoke study cut to one task, one fine-tuning of one update and the last
# layer, so that running it twice (on Ray, then locally) fits the test budget;
# every job kind but DirectProbe runs for real, the controls' and MDL's too.
SMALL_STUDY = """
name = "smoke-on-ray"
seeds = [13]

[[model]]
name = "minilm"
path = "minilm-l6"

[[task]]
name = "ps-role"
train_split = "dev"
test_split = "test"
max_train = 80
max_test = 60

[finetune]
epochs = 1
batch_size = 16
save_every = 1
max_steps = 1

[representations]
all_layers_at = []
every_checkpoint = ["last"]

[probes]
directprobe = false
hidden_sizes = [64, 64]
fractions = [0.5, 1.0]
controls = ["control-task", "shuffled", "random-init"]
mdl = true
"""


@pytest.mark.slow
def test_small_study_on_ray_gives_the_local_tables(
    ray_head: str, tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
):
    import pandas as pd

    from ftprobe.study.session import StudySession
    from ftprobe.study.tables import read_tables

    # Given to the driver only: the executor passes them on to Ray's workers.
    monkeypatch.setenv("FTPROBE_DATA", str(shared_data))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    study = tmp_path / "study.toml"
    study.write_text(SMALL_STUDY, encoding="utf-8")
    on_ray = StudySession.open(study, tmp_path / "ray")
    report = on_ray.run_or_raise(RayExecutor(address=ray_head), progress=False)
    assert sorted(report.ran) == sorted(on_ray.plan.jobs)
    # The local run takes over Ray's fine-tuning (the costliest job) and redoes
    # everything after it: extraction from its checkpoints, and the probes.
    local = StudySession.open(study, tmp_path / "local")
    (finetune,) = [k for k, j in local.plan.jobs.items() if j.kind == "finetune"]
    shutil.copytree(job_dir(tmp_path / "ray", finetune), job_dir(tmp_path / "local", finetune))
    assert local.run_or_raise(SequentialExecutor(), progress=False).reused == [finetune]
    expected, got = read_tables(tmp_path / "local"), read_tables(tmp_path / "ray")
    assert not expected["representations"].empty and not expected["curves"].empty
    assert {j.kind for j in local.plan.jobs.values()} >= {"control", "mdl", "randominit"}
    for name in ("controls", "random_init", "mdl"):
        assert not expected[name].empty, name
    for name, frame in expected.items():
        timing = [c for c in frame.columns if "seconds" in c]
        pd.testing.assert_frame_equal(
            got[name].drop(columns=timing), frame.drop(columns=timing), obj=name
        )
