"""Exact separability: verdicts agree with an LP, and every certificate is checked."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from ftprobe.geometry.separability import (
    TOUCH_TOL,
    Overlap,
    Rows,
    Separation,
    _active_set_nnls,
    _dual_columns,
    decide,
    overlap_holds,
    separation_holds,
)


def _lp_separable(P: np.ndarray, Q: np.ndarray) -> bool:
    """Independent judge: is {w.p + b >= 1, w.q + b <= -1} feasible? (HiGHS)"""
    d = P.shape[1]
    A = np.vstack([np.hstack([-P, -np.ones((len(P), 1))]), np.hstack([Q, np.ones((len(Q), 1))])])
    res = linprog(np.zeros(d + 1), A_ub=A, b_ub=-np.ones(len(A)), bounds=(None, None))
    assert res.status in (0, 2)
    return res.status == 0


def _scale(P: np.ndarray, Q: np.ndarray) -> float:
    allp = np.vstack([P, Q])
    return float(np.linalg.norm(allp - allp.mean(0), axis=1).max())


@pytest.mark.parametrize("seed", range(12))
def test_verdicts_agree_with_an_lp_and_certificates_hold(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d = int(rng.integers(2, 12))
    n_p, n_q = int(rng.integers(1, 60)), int(rng.integers(1, 60))
    shift = rng.uniform(0.0, 3.0)
    P = rng.normal(size=(n_p, d))
    Q = rng.normal(size=(n_q, d)) + shift * rng.normal(size=d)
    verdict = decide(P, Q)
    assert isinstance(verdict, Separation) == _lp_separable(P, Q)
    if isinstance(verdict, Separation):
        assert separation_holds(verdict, P, Q, _scale(P, Q))
        assert np.all(verdict.side(P) > 0) and np.all(verdict.side(Q) < 0)
    else:
        assert overlap_holds(verdict, P, Q, _scale(P, Q))
        common_p = verdict.p_weights @ P[verdict.p_index]
        common_q = verdict.q_weights @ Q[verdict.q_index]
        # an overlap proof stops once the common point is within the tolerance
        assert np.linalg.norm(common_p - common_q) <= TOUCH_TOL * _scale(P, Q)


def test_tampered_certificates_are_rejected() -> None:
    rng = np.random.default_rng(1)
    P = rng.normal(size=(30, 5)) + 4.0
    Q = rng.normal(size=(30, 5))
    sep = decide(P, Q)
    assert isinstance(sep, Separation)
    s = _scale(P, Q)
    assert separation_holds(sep, P, Q, s)
    # moving the hyperplane past the last point of P breaks it
    worst = float(sep.side(P).min())
    assert not separation_holds(Separation(sep.w, sep.b - 2 * worst, sep.gap), P, Q, s)
    # a hyperplane of the wrong length is not accepted either
    assert not separation_holds(Separation(2 * sep.w, 2 * sep.b, sep.gap), P, Q, s)

    A = rng.normal(size=(40, 3))
    B = rng.normal(size=(40, 3))
    ovl = decide(A, B)
    assert isinstance(ovl, Overlap)
    s = _scale(A, B)
    assert overlap_holds(ovl, A, B, s)
    bad = ovl.p_weights.copy()
    bad[0] += 0.5
    bad /= bad.sum()
    if len(bad) > 1:
        assert not overlap_holds(
            Overlap(ovl.p_index, bad, ovl.q_index, ovl.q_weights, ovl.residual), A, B, s
        )
    neg = ovl.q_weights.copy()
    neg[0] = -neg[0]
    assert not overlap_holds(
        Overlap(ovl.p_index, ovl.p_weights, ovl.q_index, neg, ovl.residual), A, B, s
    )


def test_touching_and_identical_points() -> None:
    # a point of Q inside P's hull (the midpoint of a segment): overlap
    P = np.array([[0.0, 0.0], [2.0, 2.0]])
    Q = np.array([[1.0, 1.0]])
    v = decide(P, Q)
    assert isinstance(v, Overlap)
    assert np.allclose(v.p_weights @ P[v.p_index], Q[0])
    # the same point in both sets: overlap
    assert isinstance(decide(np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 2.0, 3.0]])), Overlap)
    # slightly off the segment: separable
    assert isinstance(decide(P, np.array([[1.0, 1.001]])), Separation)


def test_general_position_up_to_d_plus_1_points_is_always_separable() -> None:
    rng = np.random.default_rng(7)
    d = 20
    X = rng.normal(size=(d + 1, d))
    for split in (1, 7, 10, 20):
        v = decide(X[:split], X[split:])
        assert isinstance(v, Separation)


def test_hints_are_used_and_bad_inputs_rejected() -> None:
    rng = np.random.default_rng(3)
    P = rng.normal(size=(50, 4)) + np.array([12.0, 0, 0, 0])
    Q = rng.normal(size=(50, 4))
    v = decide(P, Q, hints=[np.array([-1.0, 0, 0, 0])])  # either orientation is accepted
    assert isinstance(v, Separation) and v.w[0] > 0.99
    with pytest.raises(ValueError):
        decide(P, np.zeros((0, 4)))
    with pytest.raises(ValueError):
        decide(P, np.full((2, 4), np.nan))


def _pair_at_distance(gap: float, n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """P in x0 >= 0 and Q in x0 <= -gap, each with a point on its face that faces the other
    set at the same place: their hulls are exactly ``gap`` apart, along e0."""
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(n, d))
    Q = rng.normal(size=(n, d))
    P[:, 0] = np.abs(P[:, 0]) + 0.1
    Q[:, 0] = -np.abs(Q[:, 0]) - 0.1 - gap
    P[0, 0], Q[0, 0] = 0.0, -gap
    Q[0, 1:] = P[0, 1:]
    return P, Q


@pytest.mark.parametrize("n", [40, 1500])  # 1500 a side: the working-set path
def test_touching_is_decided_by_the_distance_whatever_the_path(n: int) -> None:
    # Hulls closer than TOUCH_TOL (relative to the scale) touch, and touching counts as
    # overlap; farther apart they are separated. The verdict must not depend on how it was
    # reached: a hint, a wide run, or a large problem. Before, a hint or a lucky pivot
    # that found a hyperplane clearing both sides by 1e-9 of the scale separated hulls
    # that dis.txt then put at distance 0, and the same pair could come out either way.
    e0 = np.eye(6)[0]
    for factor, touching in ((0.1, True), (0.6, True), (3.0, False), (30.0, False)):
        P, Q = _pair_at_distance(1.0, n, 6, seed=n)
        scale = _scale(P, Q)
        gap = factor * TOUCH_TOL * scale
        P, Q = _pair_at_distance(gap, n, 6, seed=n)
        scale = _scale(P, Q)
        for kwargs in ({}, {"hints": [e0]}, {"wide": True}, {"hints": [-e0], "wide": True}):
            verdict = decide(P, Q, scale=scale, **kwargs)
            assert isinstance(verdict, Overlap) == touching, (factor, kwargs)
            if touching:
                assert overlap_holds(verdict, P, Q, scale, TOUCH_TOL)
            else:
                assert separation_holds(verdict, P, Q, scale)
                assert verdict.gap > TOUCH_TOL * scale


@pytest.mark.parametrize("seed", range(4))
def test_large_problems_on_a_working_set_agree_with_an_lp(seed: int) -> None:
    # Over _WORKING_MIN points most steps price only a working set; the verdict must be
    # the one an LP gives on all points, and the certificate must hold on all of them.
    rng = np.random.default_rng(100 + seed)
    d = 12
    P = rng.normal(size=(900, d))
    Q = rng.normal(size=(800, d)) + (1.0 + 0.6 * seed) * rng.normal(size=d) / np.sqrt(d) * 3
    verdict = decide(P, Q)
    assert isinstance(verdict, Separation) == _lp_separable(P, Q)
    if isinstance(verdict, Separation):
        assert separation_holds(verdict, P, Q, _scale(P, Q))
    else:
        assert overlap_holds(verdict, P, Q, _scale(P, Q))


def test_a_start_from_a_related_problem_gives_the_cold_verdict() -> None:
    # The clustering starts each check of a lineage where the last one ended (its
    # factorisation included): one point more on one side, one fewer on the other, and
    # sometimes with the sides exchanged. The verdict and the optimal hyperplane must be
    # the ones a cold start finds.
    rng = np.random.default_rng(11)
    d = 8
    P = rng.normal(size=(80, d)) + 1.5
    Q = rng.normal(size=(70, d)) - 1.5
    scale = float(np.abs(np.vstack([P, Q])).max()) * np.sqrt(d)
    P, Q = P / scale, Q / scale  # a fixed frame: unit-scaled coordinates
    fixed = {"scale": 1.0, "wide": True, "frame": (None, 1.0)}
    first = decide(P, Q, **fixed)
    assert isinstance(first, Separation) and first.factor is not None
    idx = first.factor.index
    assert np.all(np.diff(np.sort(idx)) > 0) and idx.max() < len(P) + len(Q)

    extra = P.mean(axis=0, keepdims=True) * 0.2  # inside the margin: the support changes
    P2, Q2 = np.vstack([P, extra]), Q[:-1]
    on_p = idx < len(P)
    present = on_p | (idx - len(P) < len(Q2))
    cold = decide(P2, Q2, **fixed)
    assert isinstance(cold, Separation) and _lp_separable(P2, Q2)

    moved = np.where(on_p, idx, idx + 1)  # Q's points now come after one more P point
    warm = decide(P2, Q2, start=first.factor.renumbered(moved, present, False), **fixed)
    assert isinstance(warm, Separation) and separation_holds(warm, P2, Q2, 1.0)
    assert np.allclose(warm.w, cold.w, atol=1e-6)

    swapped = np.where(on_p, idx + len(Q2), idx - len(P))  # the same problem, sides exchanged
    for a, b, where, exchanged in ((P2, Q2, moved, False), (Q2, P2, swapped, True)):
        factor = first.factor.renumbered(where, present, exchanged)
        assert np.allclose(factor.q @ factor.r, _dual_columns(a, b, factor.index), atol=1e-12)
    flip = decide(Q2, P2, start=first.factor.renumbered(swapped, present, True), **fixed)
    assert isinstance(flip, Separation) and separation_holds(flip, Q2, P2, 1.0)
    assert np.allclose(flip.w, -cold.w, atol=1e-6)

    # A start cannot make overlapping sets separable.
    Q3 = np.vstack([Q2, P2.mean(axis=0, keepdims=True)])
    start = first.factor.renumbered(moved, present, False)
    assert isinstance(decide(P2, Q3, start=start, **fixed), Overlap)


def test_a_start_stops_at_the_first_separating_hyperplane_unless_wide() -> None:
    rng = np.random.default_rng(5)
    P = rng.normal(size=(60, 6)) / 10 + 0.3
    Q = rng.normal(size=(60, 6)) / 10 - 0.3
    first = decide(P, Q, scale=1.0, wide=True, frame=(None, 1.0))
    assert isinstance(first, Separation) and first.factor is not None
    present = np.ones(len(first.factor.index), dtype=bool)
    start = first.factor.renumbered(first.factor.index, present, False)
    quick = decide(P, Q, scale=1.0, frame=(None, 1.0), start=start)
    # The same problem: the start is already optimal, so it is returned as it is, with
    # the same support and an end state for the next problem.
    assert isinstance(quick, Separation) and separation_holds(quick, P, Q, 1.0)
    assert np.allclose(quick.w, first.w, atol=1e-9)
    assert quick.factor is not None and len(quick.factor.index) == len(first.factor.index)


@pytest.mark.parametrize("n", [120, 1600])
def test_points_read_where_they_lie_give_the_verdict_of_their_copies(n: int) -> None:
    # The clustering passes a merged cluster and a union of clusters as rows of the run's
    # vectors; the verdict, its certificate and the end state must be those of the same
    # points copied out (over 1,024 points the solver also keeps a working set of them).
    rng = np.random.default_rng(21)
    d = 9
    X = rng.normal(size=(2 * n, d))
    X /= np.linalg.norm(X, axis=1).max()
    order = rng.permutation(2 * n)
    for shift, kind in ((0.8, Separation), (0.05, Overlap)):
        Y = X.copy()
        ip, iq = order[: n // 2], order[n : n + n // 3]
        Y[ip] += shift / 2
        Y[iq] -= shift / 2
        Y /= np.linalg.norm(Y, axis=1).max()
        # wide: the exact method runs to its end state (no cheap witness settles it)
        fixed = {"scale": 1.0, "frame": (None, 1.0), "validate": False, "wide": True}
        copied = decide(Y[ip], Y[iq], **fixed)
        lying = decide(Rows(Y, ip), Rows(Y, iq), **fixed)
        assert isinstance(copied, kind) and isinstance(lying, kind)
        if isinstance(copied, Separation):
            assert np.array_equal(copied.w, lying.w) and copied.b == lying.b
            assert np.array_equal(copied.factor.index, lying.factor.index)
            # and a start from that end state reads them in place too
            present = np.ones(len(copied.factor.index), dtype=bool)
            again = copied.factor.renumbered(copied.factor.index, present, False)
            warm = decide(Rows(Y, ip), Rows(Y, iq), start=again, **fixed)
            assert isinstance(warm, Separation) and separation_holds(warm, Y[ip], Y[iq], 1.0)
        else:
            assert np.array_equal(copied.p_index, lying.p_index)
            assert np.array_equal(copied.q_weights, lying.q_weights)
            assert overlap_holds(lying, Y[ip], Y[iq], 1.0)


@pytest.mark.parametrize("vanish", [0.1, 0.01, 1e-3])
def test_an_overlap_proof_stops_at_a_short_residual_and_its_means_meet_within_the_bound(
    vanish: float,
) -> None:
    # Overlap proofs stop once the dual's residual is short enough (decide sets it at a
    # quarter of the tolerance), not at the exact common point: the weights' means must
    # then lie within (1 + 2R) rho / (1 - rho) of each other, R the largest norm (1 here),
    # which is what makes the early stop's certificate verify.
    rng = np.random.default_rng(3)
    d = 40
    X = rng.normal(size=(600, d))
    X[300:, 0] += 1.0
    X -= X.mean(axis=0)
    X /= np.linalg.norm(X, axis=1).max()
    P, Q = X[:300], X[300:]
    found = _active_set_nnls(Rows(P), Rows(Q), P.mean(0) - Q.mean(0), vanish=vanish)
    assert found is not None and found[0] == "ovl"
    _, ip, lp, iq, lq = found
    assert np.all(lp >= 0) and np.all(lq >= 0)
    gap = lp @ P[ip] - lq @ Q[iq]
    rho = float(np.sqrt(gap @ gap + (1 - lp.sum()) ** 2 + (1 - lq.sum()) ** 2))
    assert rho <= vanish
    # it stopped short of the exact common point (which this problem reaches at 1e-16)
    assert rho > vanish / 100
    means = lp @ P[ip] / lp.sum() - lq @ Q[iq] / lq.sum()
    assert np.linalg.norm(means) <= 3 * rho / (1 - rho)


def test_a_large_warm_set_factorised_at_once_ends_where_its_insertions_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Warm sets of _BATCH_MIN points or more are factorised by one library call instead
    # of one insertion per point (on 384-d clusters they hold about 300 points). The
    # solver must end where the insertions lead: the same optimal hyperplane and support.
    from ftprobe.geometry import separability

    rng = np.random.default_rng(21)
    d = 150
    shift = np.zeros(d)
    shift[0] = 2.0
    P = rng.normal(size=(220, d)) + shift
    Q = rng.normal(size=(200, d)) - shift
    scale = float(np.linalg.norm(np.vstack([P, Q]), axis=1).max())
    P, Q = P / scale, Q / scale
    # the points of each side nearest the other along the means' direction
    u = P.mean(axis=0) - Q.mean(axis=0)
    warm = (np.argsort(P @ u)[:70], np.argsort(-(Q @ u))[:70])
    m = d + 2
    idx = np.unique(np.concatenate([warm[0], len(P) + warm[1]]))
    factor = separability._factored(Rows(P), Rows(Q), idx, m)
    assert factor is not None and np.array_equal(factor.index, idx)
    assert np.allclose(factor.q @ factor.r, _dual_columns(P, Q, idx), atol=1e-12)
    assert np.allclose(factor.qt @ factor.q, np.eye(m), atol=1e-12)

    def solve() -> tuple:
        return _active_set_nnls(Rows(P), Rows(Q), None, optimal=True, warm=warm)

    batched = solve()
    monkeypatch.setattr(separability, "_BATCH_MIN", 10**9)
    one_by_one = solve()
    assert batched[0] == one_by_one[0] == "sep"
    assert np.allclose(batched[1], one_by_one[1], atol=1e-9)
    for side in (0, 1):
        assert np.array_equal(np.sort(batched[2][side]), np.sort(one_by_one[2][side]))
    assert isinstance(decide(P, Q, warm=warm, wide=True), Separation) == _lp_separable(P, Q)

    # A point on the segment between two others gives a dependent column: left to the
    # insertions, which skip it.
    P_dep = np.vstack([P, (P[warm[0][0]] + P[warm[0][1]]) / 2])
    with_dep = np.append(idx[idx < len(P)], len(P)).tolist() + (idx[idx >= len(P)] + 1).tolist()
    assert separability._factored(Rows(P_dep), Rows(Q), np.array(with_dep), m) is None
