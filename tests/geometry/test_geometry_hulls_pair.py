"""The distance between two hulls (``hulls.pair``) on sets whose answer is known by
construction; Wolfe's method against the QP solver, and the LP that proves an overlap."""

from __future__ import annotations

import numpy as np
import pytest

from ftprobe.geometry.hulls import hull_distance, pair
from ftprobe.geometry.hulls.pair import dual_qp, min_norm_pair


def _segment_distance(p0, p1, q0, q1, steps: int = 4001) -> float:
    """Brute-force distance between two segments (dense sampling of one, exact on the other)."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    pts = p0 + t * (p1 - p0)
    d = q1 - q0
    s = np.clip(((pts - q0) @ d) / (d @ d), 0.0, 1.0)[:, None]
    return float(np.linalg.norm(pts - (q0 + s * d), axis=1).min())


def test_skew_segments_have_their_closed_form_distance_and_a_valid_plane() -> None:
    # Two skew segments whose closest points are interior: (1,0,0) and (1,0,1).
    a = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    b = np.array([[1.0, -1.0, 1.0], [1.0, 1.0, 1.0]])
    res = hull_distance(a, b)
    assert res.distance == pytest.approx(1.0, abs=1e-9)
    assert not res.overlap
    assert res.gap <= 1e-8
    # The max-margin plane: +1 on A, -1 on B, margin width 2/||w|| = distance.
    assert np.all(a @ res.w + res.b >= 1 - 1e-7)
    assert np.all(b @ res.w + res.b <= -1 + 1e-7)
    assert 2 / np.linalg.norm(res.w) == pytest.approx(1.0, abs=1e-8)


def test_segments_closest_at_endpoints_match_brute_force() -> None:
    a = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    b = np.array([[3.0, 1.0, 0.0], [3.0, 5.0, 0.0]])
    assert hull_distance(a, b).distance == pytest.approx(np.sqrt(5.0), abs=1e-9)
    rng = np.random.default_rng(3)
    for _ in range(5):
        p0, p1, q0, q1 = rng.normal(size=(4, 4))
        expected = _segment_distance(p0, p1, q0, q1)
        got = hull_distance(np.stack([p0, p1]), np.stack([q0, q1])).distance
        assert got == pytest.approx(expected, abs=1e-5)
        assert got <= expected + 1e-12  # brute force can only overestimate


def test_overlapping_hulls_give_zero_with_an_overlap_flag() -> None:
    square = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    triangle = np.array([[1.0, 1.0], [5.0, 1.5], [5.0, 0.5]])
    res = hull_distance(square, triangle)
    assert res.overlap and res.distance == 0.0
    assert not np.any(res.w)
    # The two explicit hull points coincide: a point in both hulls.
    # (to the QP solver's precision: a distance near 0 is the root of a tiny objective)
    assert np.linalg.norm(res.alpha @ square - res.beta @ triangle) <= 1e-6
    assert hull_distance(square, square[::-1]).distance == 0.0


def test_large_sets_use_few_points_and_certify_a_small_gap() -> None:
    rng = np.random.default_rng(0)
    d = 30
    a = rng.normal(size=(600, d))
    b = rng.normal(size=(500, d)) + np.r_[8.0, np.zeros(d - 1)]
    res = hull_distance(a, b, init_size=16, add_size=16)
    assert res.rounds > 1  # the working set had to grow
    assert res.gap <= 1e-6 * res.distance
    assert res.lower <= res.distance <= res.upper + 1e-15
    # Independent check of the lower bound: the plane separates all points.
    margin_a = (a @ res.w + res.b).min()
    margin_b = (b @ res.w + res.b).max()
    assert margin_a >= 1 - 1e-5 and margin_b <= -1 + 1e-5


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="NaN"):
        hull_distance(np.array([[0.0, np.nan]]), np.array([[1.0, 1.0]]))
    with pytest.raises(ValueError, match="dimension"):
        hull_distance(np.zeros((2, 3)), np.zeros((2, 2)))


@pytest.mark.parametrize("shift", [6.0, 2.0, 0.0])
def test_wolfe_solver_agrees_with_the_qp_solver_on_all_points(shift: float) -> None:
    rng = np.random.default_rng(int(shift * 10) + 5)
    d = 12
    a = rng.normal(size=(150, d))
    b = rng.normal(size=(120, d)) * 0.7 + np.r_[shift, np.zeros(d - 1)]
    alpha, beta = dual_qp(a, b)
    expected = np.linalg.norm(alpha @ a - beta @ b)
    # Wolfe's method from a small working set (the path hull_distance takes first).
    v = b.mean(axis=0) - a.mean(axis=0)
    got = min_norm_pair(
        a,
        b,
        np.argsort(-(a @ v))[:8],
        np.argsort(b @ v)[:8],
        rtol=1e-9,
        atol=1e-12,
        add_size=8,
    )
    assert got is not None
    wa, wb, rounds = got
    assert rounds > 1
    assert np.all(wa >= 0) and np.all(wb >= 0)
    assert wa.sum() == pytest.approx(1.0) and wb.sum() == pytest.approx(1.0)
    dist = np.linalg.norm(wa @ a - wb @ b)
    if expected > 1e-6:
        assert dist == pytest.approx(expected, rel=1e-6)
    else:
        assert dist <= 1e-6
    res = hull_distance(a, b)
    assert res.distance == pytest.approx(dist if dist > 1e-5 else 0.0, rel=1e-7, abs=1e-9)


def test_overlap_is_proven_by_the_lp_once_the_working_sets_could_hold_a_support(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Wolfe's method stalls on some large overlapping pairs (two POS clusters of 1,390 and
    # 2,905 points); the QP rounds then creep towards 0 and cannot certify it. Overlapping
    # clouds with Wolfe's method made to stall must come back as an LP-proven overlap in
    # the first rounds, not after many.
    monkeypatch.setattr(pair, "min_norm_pair", lambda *a, **k: None)
    rng = np.random.default_rng(3)
    a = rng.normal(size=(400, 30))
    b = rng.normal(size=(400, 30)) + 0.1
    res = hull_distance(a, b)
    assert res.overlap and res.distance == 0.0
    assert res.certificate == "lp"
    assert res.rounds < pair.LP_AFTER
