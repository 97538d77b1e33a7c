"""The merge queue sweeps out entries that can never come out again. Late in a run nearly
all of its entries are such leftovers (a slot is queued again each time a merge brings a
cluster nearer), and popping them one by one cost seconds; sweeping them must not change
which pair is merged next, ever."""

from __future__ import annotations

import numpy as np

from ftprobe.geometry.merging import SupervisedClustering, blocks
from ftprobe.geometry.merging.blocks import MergeQueue


def _run(X: np.ndarray, y: np.ndarray) -> SupervisedClustering:
    eng = SupervisedClustering(X, y, background=False)
    eng.run()
    return eng


def test_sweeping_stale_entries_changes_no_merge(monkeypatch) -> None:
    # two labels scattered through 40 dimensions: slots are requeued often
    rng = np.random.default_rng(2)
    X = rng.standard_normal((600, 40))
    y = rng.integers(0, 2, 600)
    monkeypatch.setattr(blocks, "_SWEEP_MIN", 10**9)
    unswept = _run(X, y)

    dropped: list[int] = []
    sweep = MergeQueue._sweep

    def counted(self: MergeQueue) -> None:
        before = len(self.heap)
        sweep(self)
        dropped.append(before - len(self.heap))

    # sweep at every growth of the queue
    monkeypatch.setattr(blocks, "_SWEEP_MIN", 0)
    monkeypatch.setattr(blocks, "_SWEEP_GROWTH", 1)
    monkeypatch.setattr(MergeQueue, "_sweep", counted)
    swept = _run(X, y)

    assert sum(dropped) > 1000  # leftovers went, thousands of them
    assert len(unswept.decisions) > 900
    assert swept.decisions == unswept.decisions  # every pair, in the same order
    assert swept.run().digest() == unswept.run().digest()
