"""Test-point distances computed in a second process, starting before the clustering ends.

``ftprobe probe`` with a test set needs every test point's distance to every cluster's
hull (``prediction.txt``), which takes longer than the clustering itself. Three things make
a second process pay:

- A label separable from every other label ends as one cluster of all its points, and the
  clustering knows that as soon as it has decided the label's pairs, usually in its first
  seconds (:mod:`~ftprobe.geometry.merging.label_pairs`), while its merges go on for a
  minute or more on one CPU. :meth:`HullsAhead.whole_label` starts those labels' columns
  on the spare CPU then.
- Once the partition is final, the process takes clusters from the same queue as the
  distances step's own thread (:meth:`HullsAhead.column`). A thread would do the same
  work slower: the solver runs many small operations, and two threads running them (or
  one beside the merges) wait for each other on Python's interpreter lock.
- Then it shares the hull-to-hull distances of ``dis.txt`` (:meth:`HullsAhead.pair`) with
  this process, where worker processes would otherwise be started for them (each spends
  about two CPU-seconds importing torch while this process waits).

The process runs :func:`~ftprobe.geometry.hulls.point.point_hull_column` on the same
points as the distances step, so a column is the same whichever of the two computed it.
It is started on the first request (``python -m ftprobe.geometry.ahead``, about two
seconds to import torch), reads the points from ``.npy`` files in a temporary folder,
and gets requests on its standard input, one per line; :meth:`HullsAhead.close` stops it
and removes the folder. If the caller is killed, the process sees its input close,
finishes the column in hand, removes the folder and ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ftprobe.encode.device import resolve_device
from ftprobe.geometry.hulls.point import Column
from ftprobe.geometry.merging.label_pairs import cpus
from ftprobe.geometry.partition import Clustering

T = TypeVar("T")

# Training points times test points from which a second process pays for its start.
AHEAD_MIN_WORK = 25_000_000


def ahead_pays(n_train: int, n_test: int, device: str = "auto") -> bool:
    """Whether a second process pays for its start: a second CPU, the CPU as the device
    (a GPU does the work faster alone), and at least :data:`AHEAD_MIN_WORK` of work."""
    return cpus() >= 2 and resolve_device(device) == "cpu" and n_train * n_test >= AHEAD_MIN_WORK


class HullsAhead:
    """A second process that computes columns of test distances (see the module), from
    ``X`` the training points, ``y`` their labels and ``test_X`` the test points; start it
    where :func:`ahead_pays`. Use it as a context manager (or call :meth:`close`).
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, test_X: np.ndarray) -> None:
        self.X = X
        self.y = np.asarray(y)
        self.test_X = test_X
        self._proc: subprocess.Popen[str] | None = None
        self._folder: Path | None = None
        self._lock = threading.Lock()
        # request key -> its future, and how to read the process's answer into its result
        self._waiting: dict[str, tuple[Future[Any], Callable[[str, str], Any]]] = {}
        self._count = 0
        self._whole: dict[int, tuple[int, Future[Column]]] = {}
        self._closed = False
        self._failed: BaseException | None = None

    # ------------------------------------------------------------------ requests
    def whole_label(self, label: int) -> None:
        """Start on the hull of all of ``label``'s points (it will be one cluster); the
        clustering's ``on_whole_label``."""
        if label in self._whole:
            return
        members = np.flatnonzero(self.y == label)
        self._whole[label] = (len(members), self.column(members))

    def column(self, members: np.ndarray) -> Future[Column]:
        """The distances from the test points to the hull of ``X[members]``, computed in
        the process (in the order asked). Never raises: a process that cannot start or be
        reached (a full disk, say) gives a failed future, and the caller computes the
        column itself."""

        def read(key: str, _: str) -> Column:
            assert self._folder is not None
            col = np.load(self._folder / f"{key}-column.npy")
            return col[0], col[1]

        return self._request("column", {"members": members}, read)

    def pair(self, ia: np.ndarray, ib: np.ndarray, rtol: float, atol: float) -> Future[float]:
        """The distance between the hulls of ``X[ia]`` and ``X[ib]``, computed in the
        process as :func:`~ftprobe.geometry.hulls.cluster_distance_matrix` computes it (its
        ``helper``), to ``rtol`` and ``atol``. Never raises, as :meth:`column`."""
        return self._request(
            f"pair {rtol.hex()} {atol.hex()}",
            {"ia": ia, "ib": ib},
            lambda _, value: float.fromhex(value),
        )

    def _request(
        self, what: str, arrays: dict[str, np.ndarray], read: Callable[[str, str], T]
    ) -> Future[T]:
        """Send one request (``arrays`` saved as ``.npy`` files beside it); the future gets
        ``read(key, answer)`` once the process answers it."""
        fut: Future[T] = Future()
        with self._lock:
            if self._closed or self._failed is not None:
                fut.set_exception(self._failed or RuntimeError("the second process was closed"))
                return fut
            key = str(self._count)
            self._count += 1
            try:
                proc = self._process()
                assert self._folder is not None and proc.stdin is not None
                for name, values in arrays.items():
                    np.save(self._folder / f"{key}-{name}.npy", np.asarray(values, dtype=np.int64))
                self._waiting[key] = (fut, read)
                proc.stdin.write(f"{key} {what}\n")
                proc.stdin.flush()
            except (OSError, ValueError) as exc:
                self._waiting.pop(key, None)
                self._failed = exc  # later requests fail at once instead of trying again
                fut.set_exception(exc)
        return fut

    def serves(self, X: np.ndarray) -> bool:
        """Whether the process computes on ``X`` (the training points it was given)."""
        return X is self.X or (X.shape == self.X.shape and np.array_equal(X, self.X))

    def collect(self, clustering: Clustering) -> dict[int, Future[Column]]:
        """The whole labels' columns, by the id of their cluster in ``clustering`` (of the
        training points given)."""
        sizes = np.bincount(clustering.assignment, minlength=clustering.n_clusters)
        out: dict[int, Future[Column]] = {}
        for label, (size, job) in self._whole.items():
            ids = np.flatnonzero((clustering.cluster_labels == label) & (sizes == size))
            if len(ids) == 1:
                out[int(ids[0])] = job
        return out

    # ------------------------------------------------------------------ the process
    def _process(self) -> subprocess.Popen[str]:
        if self._proc is not None:
            return self._proc
        folder = Path(tempfile.mkdtemp(prefix="ftprobe-ahead-"))
        self._folder = folder
        np.save(folder / "train.npy", np.ascontiguousarray(self.X, dtype=np.float64))
        np.save(folder / "test.npy", np.ascontiguousarray(self.test_X, dtype=np.float64))
        # One thread for every library in the process: it is the second CPU's only work.
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        # Its errors go to a file in the folder: a process that fails only costs time (the
        # distances step computes what it did not), and its traceback is not the user's.
        with open(folder / "stderr.txt", "w") as err:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "ftprobe.geometry.ahead", str(folder)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                bufsize=1,
                env=env,
            )
        threading.Thread(
            target=self._read, args=(self._proc, folder), name="ftprobe-ahead", daemon=True
        ).start()
        return self._proc

    def _read(self, proc: subprocess.Popen[str], folder: Path) -> None:
        """Resolve each request as the process reports it; fail the rest if it ends."""
        assert proc.stdout is not None
        for line in proc.stdout:
            key, _, status = line.strip().partition(" ")
            with self._lock:
                waiting = self._waiting.pop(key, None)
            if waiting is None:
                continue
            fut, read = waiting
            verdict, _, answer = status.partition(" ")
            try:
                if verdict != "ok":
                    raise RuntimeError(f"the second process failed: {status}")
                fut.set_result(read(key, answer))
            except (OSError, ValueError, RuntimeError) as exc:
                fut.set_exception(exc)
        with self._lock:
            left, self._waiting = self._waiting, {}
        for fut, _ in left.values():
            fut.set_exception(RuntimeError("the second process ended"))

    def __enter__(self) -> HullsAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the process (its unfinished work is dropped) and remove its folder; later
        requests fail at once."""
        with self._lock:
            self._closed = True
            proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


def _serve(folder: Path) -> None:
    """The second process: one column or pair distance per request line, until its input
    closes; then it removes the folder (the caller does too, unless it was killed)."""
    import torch

    from ftprobe.geometry.hulls.matrix import pair_distance
    from ftprobe.geometry.hulls.point import point_hull_column

    torch.set_num_threads(1)
    x = np.load(folder / "train.npy", mmap_mode="r")
    pts = np.load(folder / "test.npy", mmap_mode="r")
    x, pts = np.asarray(x), np.asarray(pts)
    for line in sys.stdin:
        key, what, *tolerances = line.split()
        try:
            if what == "pair":
                ia, ib = (np.load(folder / f"{key}-{name}.npy") for name in ("ia", "ib"))
                rtol, atol = (float.fromhex(v) for v in tolerances)
                print(f"{key} ok {pair_distance(x, ia, ib, rtol, atol).hex()}", flush=True)
                continue
            members = np.load(folder / f"{key}-members.npy")
            dist, err = point_hull_column(pts, x, members, device="cpu")
            tmp = folder / f"{key}-column.tmp.npy"
            np.save(tmp, np.stack([dist, err]))
            tmp.replace(folder / f"{key}-column.npy")
            print(f"{key} ok", flush=True)
        except Exception as exc:  # reported to the caller, which computes it itself
            print(f"{key} {type(exc).__name__}: {exc}".replace("\n", " "), flush=True)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    _serve(Path(sys.argv[1]))
