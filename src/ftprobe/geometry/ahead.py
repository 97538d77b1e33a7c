"""Test-point distances computed in a second process, starting before the clustering ends.

``ftprobe probe`` with a test set needs every test point's distance to every cluster's
hull (``prediction.txt``), which takes longer than the clustering itself. Two things make
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
from concurrent.futures import Future
from pathlib import Path

import numpy as np

from ftprobe.encode.device import resolve_device
from ftprobe.geometry.hulls.point import Column
from ftprobe.geometry.merging.label_pairs import cpus
from ftprobe.geometry.partition import Clustering

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
        self._waiting: dict[str, Future[Column]] = {}
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
        fut: Future[Column] = Future()
        with self._lock:
            if self._closed or self._failed is not None:
                fut.set_exception(self._failed or RuntimeError("the second process was closed"))
                return fut
            key = str(self._count)
            self._count += 1
            try:
                proc = self._process()
                assert self._folder is not None and proc.stdin is not None
                np.save(self._folder / f"{key}-members.npy", np.asarray(members, dtype=np.int64))
                self._waiting[key] = fut
                proc.stdin.write(key + "\n")
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
                fut = self._waiting.pop(key, None)
            if fut is None:
                continue
            try:
                if status != "ok":
                    raise RuntimeError(f"the second process failed: {status}")
                col = np.load(folder / f"{key}-column.npy")
            except (OSError, ValueError, RuntimeError) as exc:
                fut.set_exception(exc)
                continue
            fut.set_result((col[0], col[1]))
        with self._lock:
            left, self._waiting = self._waiting, {}
        for fut in left.values():
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
    """The second process: one column per request line, until its input closes; then it
    removes the folder (the caller does too, unless it was killed)."""
    import torch

    from ftprobe.geometry.hulls.point import point_hull_column

    torch.set_num_threads(1)
    x = np.load(folder / "train.npy", mmap_mode="r")
    pts = np.load(folder / "test.npy", mmap_mode="r")
    x, pts = np.asarray(x), np.asarray(pts)
    for line in sys.stdin:
        key = line.strip()
        try:
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
