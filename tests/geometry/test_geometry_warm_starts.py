"""The solver's end states kept for warm starts: by memory, not by count. A count that
suits 384-d vectors (2 MB each) threw away most end states of a 128-d run, whose checks
then started cold (18,071 of 39,493 on POS layer 6 in 128-d); one that suits 128-d would
take gigabytes at 768-d."""

from __future__ import annotations

import numpy as np
import pytest

from ftprobe.geometry.merging import warm
from ftprobe.geometry.merging.warm import WarmStarts
from ftprobe.geometry.separability import Factor, Rows, Separation, _dual_columns, decide


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


def test_a_kept_end_state_starts_the_next_problem_where_its_points_now_stand(
    monkeypatch,
) -> None:
    # The next check of a lineage poses other points (merged ones added, the other side
    # renamed, sometimes the sides exchanged): the start must put each kept column where
    # its point now stands, delete the columns of points that are gone, and still be a
    # factorisation of the new problem's columns; a start that no longer fits is refused.
    rng = np.random.default_rng(3)
    d = 6
    X = rng.normal(size=(120, d))
    X[:60] += 2.5
    X /= np.linalg.norm(X, axis=1).max()
    mem, union = np.arange(0, 60), np.arange(60, 120)
    fixed = {"scale": 1.0, "wide": True, "frame": (None, 1.0), "validate": False}
    verdict = decide(Rows(X, mem), Rows(X, union), **fixed)
    assert isinstance(verdict, Separation) and verdict.factor is not None
    starts = WarmStarts(n_points=len(X))
    ids = np.concatenate([mem[verdict.support[0]], union[verdict.support[1]]])
    support = starts.keep(ids, verdict.factor, mem, union)
    gids = np.concatenate([mem, union])[verdict.factor.index]
    on_p, on_q = gids[gids < 60], gids[gids >= 60]
    assert len(on_p) >= 2 and len(on_q) >= 2
    kept_qt = verdict.factor.qt.copy()

    new_mem = rng.permutation(mem)
    new_union = np.setdiff1d(union, on_q[:1])[::-1]  # one support point gone
    for p, q in ((new_mem, new_union), (new_union, new_mem)):  # then the sides exchanged
        factor = starts.start(support, p, q)
        assert factor is not None and len(factor.index) == len(gids) - 1
        cols = _dual_columns(X[p], X[q], factor.index)
        assert np.allclose(factor.q @ factor.r, cols, atol=1e-12)
        assert set(np.concatenate([p, q])[factor.index]) == set(gids) - {on_q[0]}
        assert (starts._scratch == -1).all()
    # a start is handed to the solver once (it changes those arrays); a second use is an
    # error, not a wrong start
    Qt, R = factor.working_copy()
    assert Qt.shape == R.shape == (d + 2, d + 2)
    with pytest.raises(RuntimeError, match="one problem"):
        factor.working_copy()
    # the kept end state itself is untouched by the starts made from it
    assert np.array_equal(verdict.factor.qt, kept_qt)
    # more points gone than a start may miss: none
    monkeypatch.setattr(warm, "_FACTOR_MISSING", 1)
    assert starts.start(support, mem, np.setdiff1d(union, on_q[:2])) is None
    # a support point of each side moved to the other: none
    moved_p = np.concatenate([np.setdiff1d(mem, on_p[:1]), on_q[:1]])
    moved_q = np.concatenate([np.setdiff1d(union, on_q[:1]), on_p[:1]])
    assert starts.start(support, moved_p, moved_q) is None
