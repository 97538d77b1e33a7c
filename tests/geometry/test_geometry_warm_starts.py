"""The solver's end states kept for warm starts: by memory, not by count. A count that
suits 384-d vectors (2 MB each) threw away most end states of a 128-d run, whose checks
then started cold (18,071 of 39,493 on POS layer 6 in 128-d); one that suits 128-d would
take gigabytes at 768-d."""

from __future__ import annotations

import numpy as np

from ftprobe.geometry.merging import warm
from ftprobe.geometry.merging.warm import WarmStarts
from ftprobe.geometry.separability import Factor


def _factor(d: int, ks: int) -> Factor:
    m = d + 2
    return Factor(np.arange(ks), np.eye(m), np.zeros((m, ks), order="F"))


def test_end_states_are_kept_within_the_memory_budget_newest_first(monkeypatch) -> None:
    monkeypatch.setattr(warm, "_FACTOR_BYTES", 10 * _factor(30, 20).q.nbytes)
    starts = WarmStarts(n_points=100)
    mem, union = np.arange(50), np.arange(50, 100)
    kept = [starts.keep(np.arange(3), _factor(30, 20), mem, union) for _ in range(40)]
    held = [s for s in kept if s.factor is not None]
    total = sum(s.factor[2].q.nbytes + s.factor[2].r.nbytes for s in held)
    assert total <= warm._FACTOR_BYTES
    # the most recent end states are the ones kept, and as many as fit
    assert held == kept[-len(held) :] and len(held) >= 6
    # narrower vectors: smaller end states, more of them in the same memory
    narrow = [starts.keep(np.arange(3), _factor(10, 8), mem, union) for _ in range(40)]
    assert sum(s.factor is not None for s in narrow) > len(held)
