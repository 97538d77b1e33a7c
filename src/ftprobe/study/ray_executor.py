"""Running a study's jobs on a Ray cluster (``ftprobe run STUDY --executor ray``).

Each job becomes one Ray task that reserves the job's resources: its CPUs, and
its GPU when the cluster has GPUs (on a cluster without GPUs, jobs that would
like one run on CPUs, as they do locally).

**Results live on shared storage.** Jobs write their outputs (fine-tuned
checkpoints, representation stores, probe tables and ``result.json``) straight
into the study's output folder, exactly as a local run does, so the folder must
be on storage that every node sees at the same path (NFS, Lustre, a mounted
bucket...). Returning artefacts to the driver through Ray's object store would
copy every checkpoint (hundreds of MB for BERT-base, tens of them per run) and
every representation store through the head node's memory only to write them
to disk there, and the next job would need them shipped out again. With shared
storage only each job's small result record travels through Ray, and the
output folder stays one layout for every executor, so resuming, ``ftprobe
status`` and the tables work the same whichever executor wrote it. Before the
first job runs, a check task on every node reads a marker file the driver wrote
into the folder and writes one back; a node that cannot stops the run with a
message that names it.

**Dependencies stay with the runner.** The runner submits a job only once every
job it needs has finished, and a finished job's files are complete on shared
storage before its task returns (each job writes ``result.json`` last, by an
atomic rename), so a dependant always finds its inputs. Chaining Ray object
references instead would only save the driver's round trip, milliseconds
against jobs that run for minutes, and would bypass what the runner does
between jobs: reusing jobs finished by an earlier run (which have no object
reference), and skipping the dependants of a failed job.

**Retries.** A task whose worker process or node dies is resubmitted by Ray up
to ``max_retries`` times; a job that raises an ordinary error is not retried
(a bug would only fail again) and is reported by the runner like a local
failure. A job that was cut off left no ``result.json``, and jobs write their
files atomically, so a retried job starts clean.

Ray stays an optional dependency (``pip install 'ftprobe[ray]'``): it is
imported only here, and only when a :class:`RayExecutor` is made.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import socket
import sys
import threading
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from ftprobe.errors import ConfigError, FtprobeError
from ftprobe.study.executor_base import JobFunction
from ftprobe.study.jobs_model import Job

# Settings the driver's environment gives the jobs (where the corpora are,
# offline model loading, the Hugging Face cache); remote workers get them too.
FORWARDED_ENV_PREFIXES = ("FTPROBE_", "HF_", "TRANSFORMERS_")

INSTALL_HINT = "the Ray executor needs Ray: pip install 'ftprobe[ray]'"


def _import_ray(local: bool) -> ModuleType:
    """Import Ray, or say how to install it."""
    if local and "ray" not in sys.modules:
        # On Linux Ray binds even a single-machine instance to the machine's
        # network address; this setting (read when Ray is imported) keeps a
        # private instance on the loopback interface.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError as exc:
        raise FtprobeError(f"{INSTALL_HINT} ({exc})") from None
    return ray


def parse_address(address: str) -> tuple[str, int] | None:
    """The ``(host, port)`` of a Ray address, or None for ``auto`` (found by Ray itself).

    Accepts ``HOST:PORT`` (the head's GCS port, 6379 by default), ``[IPv6]:PORT``
    and Ray Client addresses ``ray://HOST:PORT``.
    """
    text = address.strip()
    if text == "auto":
        return None
    if text.startswith("ray://"):
        text = text[len("ray://") :]
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"Ray address {address!r}: expected HOST:PORT (e.g. head-node:6379), "
            "ray://HOST:PORT or auto"
        )
    return host, int(port)


def ray_task_options(
    job: Job, max_node_cpus: float, max_node_gpus: float, max_retries: int
) -> dict[str, Any]:
    """Ray task options for ``job``: its resources, capped to what one node offers.

    A job asking for more CPUs or GPUs than the largest node has would wait
    forever, so the request is capped; on a cluster without GPUs a job that
    would like one runs on CPUs. Worker deaths are retried, exceptions are not.
    """
    cpus = min(job.resources.cpus, max_node_cpus) if max_node_cpus > 0 else job.resources.cpus
    gpus = min(job.resources.gpus, max_node_gpus) if max_node_gpus > 0 else 0.0
    return {
        "num_cpus": cpus,
        "num_gpus": gpus,
        "max_retries": max_retries,
        "retry_exceptions": False,
        "name": f"ftprobe:{job.kind}:{job.key}",
    }


def _run_job(fn: JobFunction, job: Job, out_dir: str, threads: int) -> dict[str, Any]:
    """The body of every job task: run ``fn`` with as many torch threads as CPUs reserved."""
    import torch

    torch.set_num_threads(threads)
    return fn(job, out_dir)


def _check_folder_from_node(folder: str, marker: str, token: str, reply: str) -> str | None:
    """Run on one node: None when it sees the driver's marker and can write beside it."""
    path = Path(folder) / marker
    try:
        seen = path.read_text(encoding="utf-8")
    except OSError as exc:
        return f"cannot read {path} ({exc.strerror or exc})"
    if seen != token:
        return f"{path} holds another run's marker: a different folder at the same path"
    try:
        (Path(folder) / reply).write_text(token, encoding="utf-8")
    except OSError as exc:
        return f"cannot write into {folder} ({exc.strerror or exc})"
    return None


class _NotFromMainThread(logging.Filter):
    """Drops Ray's note that a driver connected from a thread sets no SIGTERM handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "not the main thread" not in record.getMessage()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class RayExecutor:
    """Runs each job as a Ray task, on a cluster or on a private local Ray instance.

    ``address`` is a running cluster's head (``HOST:PORT``, ``ray://HOST:PORT`` or
    ``auto``); None starts a local instance with ``num_cpus`` CPUs (default: all),
    on 127.0.0.1 and without dashboard, which :meth:`shutdown` stops again. An
    unreachable or unresponsive address raises :class:`FtprobeError` within
    ``init_timeout_s`` seconds. ``max_retries`` is how often a job whose worker
    died is resubmitted.

    The output folder must be on storage shared by every node (see the module's
    documentation); :meth:`submit` checks that once per folder before its first
    job.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: int | None = None,
        max_retries: int = 3,
        init_timeout_s: float = 30.0,
    ) -> None:
        if address is not None and num_cpus is not None:
            raise ConfigError("num_cpus applies to a local Ray instance, not to --address")
        if max_retries < 0 or init_timeout_s <= 0:
            raise ConfigError("max_retries must be >= 0 and init_timeout_s > 0")
        endpoint = parse_address(address) if address is not None else None
        self.address = address
        self.max_retries = max_retries
        self.init_timeout_s = init_timeout_s
        ray = _import_ray(local=address is None)
        self._ray = ray
        self._owns_connection = False
        if ray.is_initialized():
            pass  # the caller's Ray session: use it, and leave it open
        elif address is None:
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                logging_level="warning",
            )
            self._owns_connection = True
        else:
            self._connect(address, endpoint)
            self._owns_connection = True
        self._run = ray.remote(_run_job)
        self._check = ray.remote(_check_folder_from_node)
        self._checked: set[Path] = set()
        nodes = self._alive_nodes()
        self.max_node_cpus = max((n["Resources"].get("CPU", 0.0) for n in nodes), default=0.0)
        self.max_node_gpus = max((n["Resources"].get("GPU", 0.0) for n in nodes), default=0.0)

    @property
    def has_gpus(self) -> bool:
        """Whether some node of the cluster has a GPU (else GPU-wanting jobs run on CPUs)."""
        return self.max_node_gpus > 0

    def _connect(self, address: str, endpoint: tuple[str, int] | None) -> None:
        timeout = self.init_timeout_s
        if endpoint is not None:
            try:
                socket.create_connection(endpoint, timeout=timeout).close()
            except OSError as exc:
                raise FtprobeError(
                    f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}. "
                    "Is `ray start --head` running there, and is its port open from here?"
                ) from None
        env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES)}
        outcome: dict[str, BaseException] = {}

        def connect() -> None:
            try:
                self._ray.init(
                    address=address,
                    log_to_driver=False,
                    logging_level="warning",
                    runtime_env={"env_vars": env} if env else None,
                )
            except BaseException as exc:  # noqa: BLE001 - reported by the caller's thread
                outcome["error"] = exc

        # ray.init keeps retrying an address that accepts connections but does not
        # answer like a Ray head, so it waits in a thread the driver can give up on.
        thread = threading.Thread(target=connect, name="ftprobe-ray-connect", daemon=True)
        quiet = _NotFromMainThread()
        ray_logger = logging.getLogger("ray._private.worker")
        ray_logger.addFilter(quiet)
        try:
            thread.start()
            thread.join(timeout)
        finally:
            ray_logger.removeFilter(quiet)
        if thread.is_alive():
            raise FtprobeError(
                f"the Ray cluster at {address} did not accept this driver within {timeout:g} s. "
                "Is that the head's GCS port (6379 unless `ray start --head --port` said "
                "otherwise)? A cluster with token authentication (Ray's default) also needs "
                "RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN or ~/.ray/auth_token) here."
            )
        if "error" in outcome:
            error = outcome["error"]
            cause = error.__cause__ or error
            raise FtprobeError(
                f"cannot connect to the Ray cluster at {address}: {_first_line(error)}"
                + (f" ({_first_line(cause)})" if cause is not error else "")
            ) from None

    def _alive_nodes(self) -> list[dict[str, Any]]:
        return [n for n in self._ray.nodes() if n.get("Alive")]

    def check_shared_folder(self, out_dir: Path) -> None:
        """Fail unless every node sees ``out_dir`` at the same path and can write into it."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        ray = self._ray
        folder = Path(out_dir).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        marker = f".ftprobe-shared-{token}"
        (folder / marker).write_text(token, encoding="utf-8")
        probes: dict[str, tuple[str, Any, str]] = {}
        for node in self._alive_nodes():
            node_id = node["NodeID"]
            reply = f"{marker}.{node_id[:12]}"
            ref = self._check.options(
                num_cpus=0,
                max_retries=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
            ).remote(str(folder), marker, token, reply)
            probes[node_id] = (node.get("NodeManagerAddress", node_id), ref, reply)
        problems = []
        try:
            refs = [ref for _, ref, _ in probes.values()]
            _, late = ray.wait(refs, num_returns=len(refs), timeout=self.init_timeout_s)
            for where, ref, reply in probes.values():
                if ref in late:
                    ray.cancel(ref, force=True)
                    problems.append(f"node {where} did not answer within {self.init_timeout_s:g} s")
                    continue
                try:
                    answer = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    problems.append(
                        f"node {where} could not run ftprobe's check ({_first_line(exc)}); "
                        "is ftprobe[ray] installed there, in the same version?"
                    )
                    continue
                if answer is None and not (folder / reply).is_file():
                    answer = "wrote a file this driver cannot see"
                if answer is not None:
                    problems.append(f"node {where}: {answer}")
        finally:
            for path in folder.glob(f"{marker}*"):
                path.unlink(missing_ok=True)
        if problems:
            raise FtprobeError(
                f"the output folder {folder} must be on storage that every Ray node sees at "
                "the same path (a shared filesystem), because jobs write their checkpoints "
                "and tables there: " + "; ".join(problems)
            )
        self._checked.add(folder)

    def submit(self, fn: JobFunction, job: Job, out_dir: Path) -> cf.Future[dict[str, Any]]:
        """Submit ``fn(job, out_dir)`` as a Ray task; a future of its result record."""
        folder = Path(out_dir).resolve()
        if folder not in self._checked:
            self.check_shared_folder(folder)
        options = ray_task_options(job, self.max_node_cpus, self.max_node_gpus, self.max_retries)
        threads = max(1, round(options["num_cpus"]))
        ref = self._run.options(**options).remote(fn, job, str(folder), threads)
        return self._plain_future(ref.future(), job)

    def _plain_future(
        self, inner: cf.Future[dict[str, Any]], job: Job
    ) -> cf.Future[dict[str, Any]]:
        """A future that fails with the job's own exception, as with a local executor."""
        ray_error = self._ray.exceptions.RayError
        task_error = self._ray.exceptions.RayTaskError
        outer: cf.Future[dict[str, Any]] = cf.Future()

        def settle(done: cf.Future[dict[str, Any]]) -> None:
            if done.cancelled():
                outer.set_exception(FtprobeError(f"{job.describe()}: cancelled in Ray"))
                return
            exc = done.exception()
            if exc is None:
                outer.set_result(done.result())
            elif isinstance(exc, task_error):
                # The job itself raised: hand on its own exception when it crossed over.
                cause = getattr(exc, "cause", None)
                if isinstance(cause, Exception) and not isinstance(cause, ray_error):
                    outer.set_exception(cause)
                else:
                    outer.set_exception(FtprobeError(_first_line(exc)))
            elif isinstance(exc, ray_error):
                outer.set_exception(
                    FtprobeError(
                        f"Ray could not finish {job.describe()} (retried up to "
                        f"{self.max_retries} times when its worker died): {_first_line(exc)}"
                    )
                )
            else:
                outer.set_exception(exc)

        inner.add_done_callback(settle)
        return outer

    def shutdown(self) -> None:
        """Disconnect from the cluster, or stop the local instance this executor started."""
        if self._owns_connection:
            self._ray.shutdown()
            self._owns_connection = False
