"""Label pairs: is all of label K separable from all of label L? Decided once per pair.

Glossary:

- *label pair* ``(K, L)``, ``K < L``: two labels; *separable* when one hyperplane puts every
  K point on one side and every L point on the other;
- *verdict*: True (separable, the hyperplane is kept as the pair's certificate) or False
  (the labels' hulls overlap somewhere);
- *second thread*: where the verdicts are decided from the start of a run, closest labels
  first, so that most are there before the merges first need them.

When two labels are separable, no cluster of one can ever overlap a cluster of the other
(subsets of separable sets are separable): their clusters are never checked against each
other. A verdict that comes from elsewhere (the second thread, a state file) is checked
before it is trusted.

A label separable from every other label is *whole*: no merge within it can be rejected,
so the run ends with all its points in one cluster. Whoever needs that cluster's hull can
start on it long before the run ends (``on_whole_label``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from ftprobe.geometry.merging.frame import Frame
from ftprobe.geometry.merging.stats import ClusteringStats
from ftprobe.geometry.separability import Separation, decide, separation_holds

# Points from which deciding the label pairs on a second thread pays for the thread.
BACKGROUND_MIN_POINTS = 5000


def cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def label_pair_verdict(
    Xs: np.ndarray, y: np.ndarray, K: int, L: int
) -> tuple[bool, np.ndarray | None, float]:
    """Is all of label K separable from all of L? (separable, w, b), in the run's unit-scaled
    frame, as the cluster checks; on the main thread or the second one."""
    v = decide(Xs[y == K], Xs[y == L], scale=1.0, frame=(None, 1.0), validate=False)
    if isinstance(v, Separation):
        return True, v.w, v.b
    return False, None, 0.0


def pair_key(k: int, m: int) -> tuple[int, int]:
    """The label pair of labels ``k`` and ``m``, smaller label first."""
    return (k, m) if k < m else (m, k)


class LabelPairs:
    """The run's label-pair verdicts: ``status[(K, L)]`` (True: separable) and, for the
    separable ones, ``cert[(K, L)] = (w, b)`` in the run's centred coordinates.

    ``on_whole_label(K)`` is called (on the thread that records the verdict, once per
    label) when label K is known to be separable from every other label present.
    """

    def __init__(
        self,
        frame: Frame,
        y: np.ndarray,
        stats: ClusteringStats,
        on_whole_label: Callable[[int], None] | None = None,
    ) -> None:
        self.frame = frame
        self.y = y
        self.stats = stats
        self.status: dict[tuple[int, int], bool] = {}
        self.cert: dict[tuple[int, int], tuple[np.ndarray, float]] = {}
        self.on_whole_label = on_whole_label
        self.labels = [int(v) for v in np.unique(y)]  # the labels present
        self.whole: set[int] = set()
        # verdicts being decided elsewhere (the second thread), taken by settle()
        self.pending: dict[tuple[int, int], Future] = {}

    def start(self) -> ThreadPoolExecutor | None:
        """Hand every undecided label pair to a second thread, closest labels first, so
        that most verdicts are there before the merges first need them. Returns the pool
        (the caller shuts it down), None when no pair is left to decide."""
        Xs, y, labels = self.frame.Xs, self.y, self.labels
        means = {k: Xs[y == k].mean(axis=0) for k in labels}
        keys = [
            (a, b)
            for i, a in enumerate(labels)
            for b in labels[i + 1 :]
            if (a, b) not in self.status
        ]
        if not keys:
            return None
        keys.sort(key=lambda k: float(np.linalg.norm(means[k[0]] - means[k[1]])))
        # A thread, not a process: the solver spends most of its time in LAPACK and BLAS,
        # which release the GIL, and a process would have to re-import the caller's main
        # module (a script without a __main__ guard would start again).
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ftprobe-label-pairs")
        self.pending = {k: pool.submit(label_pair_verdict, Xs, y, k[0], k[1]) for k in keys}
        return pool

    def busy(self) -> bool:
        """Is the second thread still deciding label pairs?"""
        return any(not fut.done() for fut in self.pending.values())

    def stop(self) -> None:
        """Forget the verdicts still being decided elsewhere (their pool is shut down)."""
        self.pending = {}

    def settle(self, K: int, L: int) -> bool:
        """The label pair's verdict (True: separable): the second thread's when it has it
        or is working on it (then it is waited for), else decided here.

        Going on without it would cost more than the wait: until a separable pair is known
        as such, every merge near the other label is checked against its clusters in vain.
        """
        key = pair_key(K, L)
        fut = self.pending.pop(key, None)
        if fut is None:
            return self.decide(K, L)
        if fut.cancel():  # not started: deciding it here beats waiting behind the others
            return self.decide(K, L)
        try:
            sep, w, b = fut.result()
        except Exception:  # a lost worker only costs the time: decide it here
            return self.decide(K, L)
        if sep:
            # checked here before it is trusted, as a certificate from a state file is
            cert = Separation(np.asarray(w), float(b) * self.frame.scale, 0.0)
            if not self.holds(key, cert):
                return self.decide(K, L)
            return self._record(key, cert.w, cert.b)
        return self._record(key, None, 0.0)

    def harvest(self) -> None:
        """Record the verdicts the second thread has finished, so that whole labels are
        announced without waiting for a merge to ask (only with ``on_whole_label``)."""
        if self.on_whole_label is None:
            return
        for key in [k for k, fut in self.pending.items() if fut.done()]:
            self.settle(*key)

    def decide(self, K: int, L: int) -> bool:
        """Decide (once) whether all of K is separable from all of L; True if separable."""
        key = pair_key(K, L)
        t0 = time.perf_counter()
        _, w, b = label_pair_verdict(self.frame.Xs, self.y, key[0], key[1])
        self.stats.oracle_seconds += time.perf_counter() - t0
        return self._record(key, w, b * self.frame.scale)

    def holds(self, key: tuple[int, int], cert: Separation) -> bool:
        """Does ``cert`` (centred coordinates) separate the two labels of ``key``?"""
        Xc = self.frame.Xc
        return separation_holds(cert, Xc[self.y == key[0]], Xc[self.y == key[1]], self.frame.scale)

    def restore(self, key: tuple[int, int], cert: Separation | None) -> None:
        """Take a recorded verdict (from a state file): an overlap as recorded (it only adds
        checks), a separation only when its hyperplane is verified again."""
        if cert is None:
            self.status[key] = False
        elif self.holds(key, cert):
            self.status[key] = True
            self.cert[key] = (cert.w, cert.b)
            self._announce(key)

    def _record(self, key: tuple[int, int], w: np.ndarray | None, b: float) -> bool:
        self.stats.label_pair_checks += 1
        sep = w is not None
        self.status[key] = sep
        if sep:
            self.cert[key] = (w, b)
            self.stats.separable_label_pairs += 1
            self._announce(key)
        else:
            self.stats.overlapping_label_pairs += 1
        return sep

    def _announce(self, key: tuple[int, int]) -> None:
        """Tell ``on_whole_label`` about the labels of ``key`` that are now whole."""
        if self.on_whole_label is None:
            return
        for k in key:
            if k not in self.whole and all(
                self.status.get(pair_key(k, m), False) for m in self.labels if m != k
            ):
                self.whole.add(k)
                self.on_whole_label(k)
