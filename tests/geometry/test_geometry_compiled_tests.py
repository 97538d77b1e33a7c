"""The merge loop's compiled tests against plain NumPy statements of what they decide: a
ball test that prunes a meeting pair, or a certificate test that accepts a hyperplane
with a point on its wrong side, would change partitions or certify a false separation."""

from __future__ import annotations

import numpy as np

from ftprobe.geometry.merging import compiled_tests
from ftprobe.geometry.merging.blocks import _lance_williams, _nearest, off_span
from ftprobe.geometry.merging.compiled_tests import MemberChains


def _clusters(rng: np.random.Generator) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    X = rng.normal(size=(60, 5))
    members = {c: np.arange(6 * c, 6 * c + 6) for c in range(10)}
    return X, members


def test_chains_walk_every_point_of_a_merged_cluster() -> None:
    X, members = _clusters(np.random.default_rng(0))
    chains = MemberChains(len(X), members)
    chains.join(2, 7, 10)

    def walk(c: int) -> list[int]:
        out, p = [], chains.head[c]
        while p >= 0:
            out.append(int(p))
            p = chains.nxt[p]
        return sorted(out)

    assert walk(10) == sorted([*members[2], *members[7]])
    assert walk(3) == list(members[3])
    assert chains.head[2] == chains.head[7] == -1


def test_ball_test_finds_exactly_the_meeting_balls_nearest_first() -> None:
    rng = np.random.default_rng(1)
    n, d, k = 200, 40, 8
    # centroids spread mostly along the principal directions, as in real runs, so that
    # the leading ones alone decide many pairs; off their span by different amounts, so
    # that the distances from the span decide others
    basis = np.linalg.qr(rng.normal(size=(d, k)))[0]
    spread = rng.uniform(0.05, 1.0, size=(n, 1))
    centre = rng.normal(scale=3.0, size=(n, k)) @ basis.T + spread * rng.normal(size=(n, d))
    radius = rng.uniform(0.2, 4.0, size=n)
    cid = np.arange(n)
    cid[::7] = -1  # merged away
    c, r = rng.normal(scale=0.4, size=d), 3.0
    # balls that just meet, or just miss, the candidate's straight out from the span
    # (there the difference of the distances from it is the whole distance)
    away = c - basis @ (basis.T @ c)
    away /= np.linalg.norm(away)
    for i, miss in zip(range(1, 40, 4), [-1e-10, 1e-7] * 5, strict=True):
        centre[i] = c + (r + radius[i] + 1e-9 + miss) * away
    cnorm2, pcentre = (centre**2).sum(axis=1), centre @ basis
    pc = c @ basis
    near = compiled_tests.near_slots(
        cid, centre, cnorm2, pcentre, off_span(cnorm2, pcentre), radius,
        c, float(c @ c), pc, float(off_span(float(c @ c), pc)), r, 1e-9,
    )  # fmt: skip
    dist = np.linalg.norm(centre - c, axis=1)
    want = np.flatnonzero((dist <= r + radius + 1e-9) & (cid >= 0))
    want = want[np.argsort(dist[want], kind="stable")]
    assert 0 < len(want) < n // 2
    assert near.tolist() == want.tolist()
    # without principal directions (narrow vectors), the distances alone
    none, nothing = np.empty((0, 0)), np.empty(0)
    near = compiled_tests.near_slots(
        cid, centre, cnorm2, none, nothing, radius, c, float(c @ c), nothing, 0.0, r, 1e-9
    )
    assert near.tolist() == want.tolist()


def test_distance_from_the_span_is_that_of_the_projection() -> None:
    rng = np.random.default_rng(3)
    basis = np.linalg.qr(rng.normal(size=(12, 3)))[0]
    X = rng.normal(size=(5, 12))
    direct = np.linalg.norm(X - (X @ basis) @ basis.T, axis=1)
    got = off_span((X**2).sum(axis=1), X @ basis)
    np.testing.assert_allclose(got, direct, rtol=1e-12)


def _certificates(
    X: np.ndarray, W: np.ndarray, B: np.ndarray, pts: np.ndarray, tol: float
) -> np.ndarray:
    """Codes of the planes that hold pts on one side by tol (0 for the others), as a
    parent's certificates are."""
    vals = X[pts] @ W.T + B
    sign = np.where(vals.min(axis=0) >= tol, 1, np.where(vals.max(axis=0) <= -tol, -1, 0))
    return sign * (np.arange(len(B)) + 1)


def _clears(
    X: np.ndarray, W: np.ndarray, B: np.ndarray, code: int, pts: np.ndarray, tol: float
) -> bool:
    return bool((np.sign(code) * (X[pts] @ W[abs(code) - 1] + B[abs(code) - 1])).min() >= tol)


def test_a_hyperplane_serving_several_clusters_is_tested_once_per_set_of_points() -> None:
    # One hyperplane is often the certificate against many clusters: its outcome on a set
    # of points is remembered under that set's stamp, a failure as much as a success, and
    # never carried over to another set.
    X = np.array([[1.0, 1.0], [2.0, 1.5], [-1.0, 1.0], [2.0, 2.0]])
    W = np.array([[1.0, 0.0], [0.0, 1.0]])
    B = np.zeros(2)
    mem_a = np.array([0, 1])  # right of x = 0 and above y = 0
    from_a = np.array([1, 1, 2, 2, 1])  # planes x = 0 and y = 0, each against several
    from_b = np.zeros(5, dtype=np.int64)
    memo = np.full(4, -1)
    # the other parent's point lies left of x = 0: that plane fails, for every cluster
    found = compiled_tests.inherited(X, W, B, from_a, from_b, mem_a, np.array([2]), 0.1, memo, 0)
    assert found.tolist() == [0, 0, 2, 2, 0]
    # a new set of points (a new stamp) is tested afresh, not answered from the last one
    found = compiled_tests.inherited(X, W, B, from_a, from_b, mem_a, np.array([3]), 0.1, memo, 2)
    assert found.tolist() == [1, 1, 2, 2, 1]


def test_inherited_certificates_hold_on_every_point_of_the_merged_cluster() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 4))
    W = rng.normal(size=(40, 4))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    B = rng.normal(size=40)
    tol = 1e-3
    mem_a, mem_b = np.arange(0, 3), np.arange(3, 5)
    from_a = _certificates(X, W, B, mem_a, tol)
    from_b = _certificates(X, W, B, mem_b, tol)
    memo = np.full(80, -1)
    found = compiled_tests.inherited(X, W, B, from_a, from_b, mem_a, mem_b, tol, memo, 0)
    mem = np.concatenate([mem_a, mem_b])
    for i, code in enumerate(found.tolist()):
        # what NumPy says: a parent's plane that clears the merged cluster is found (the
        # bigger parent's first), and nothing else is
        if from_a[i] and _clears(X, W, B, from_a[i], mem, tol):
            assert code == from_a[i]
        elif from_b[i] and _clears(X, W, B, from_b[i], mem, tol):
            assert code == from_b[i]
        else:
            assert code == 0
    assert found.any() and not found.all()


def test_centroid_directions_separate_and_fail_where_numpy_says() -> None:
    rng = np.random.default_rng(4)
    d = 6
    # the candidate near the origin; other clusters at distances from touching to far
    X = [rng.normal(scale=0.3, size=(40, d))]
    members = {0: np.arange(40)}
    offsets = [0.2, 0.5, 3.0, 5.0, 8.0]
    for c, shift in enumerate(offsets, start=1):
        direction = rng.normal(size=d)
        direction /= np.linalg.norm(direction)
        X.append(shift * direction + rng.normal(scale=0.3, size=(12, d)))
        members[c] = np.arange(40 + 12 * (c - 1), 40 + 12 * c)
    X = np.concatenate(X)
    chains = MemberChains(len(X), members)
    ocentre = np.array([X[members[c]].mean(axis=0) for c in range(6)])
    oradius = np.array([np.linalg.norm(X[members[c]] - ocentre[c], axis=1).max() for c in range(6)])
    ocid = np.arange(6)
    close = np.arange(1, 6)
    codes = np.zeros(5, dtype=np.int64)
    tol = 1e-6
    at, U, off, tries = compiled_tests.centroid_directions(
        X, members[0], ocentre[0], ocentre, oradius, ocid, close, codes,
        chains.head, chains.nxt, tol, 1e-9, 0.0,
    )  # fmt: skip
    assert tries == 5
    want, margins = [], {}
    for i, c in enumerate(close.tolist()):
        u = ocentre[0] - ocentre[c]
        u /= np.linalg.norm(u)
        lo, hi = (X[members[0]] @ u).min(), (X[members[c]] @ u).max()
        margins[i] = lo - hi
        ball = ocentre[c] @ u + oradius[c] + 1e-9  # the other side's bound, when it serves
        if lo - ball > 2 * tol:
            hi = ball
        if lo - hi > 2 * tol:
            want.append(i)
            k = at.tolist().index(i)
            assert np.allclose(U[k], u)
            assert np.isclose(off[k], -(lo + hi) / 2)
    assert at.tolist() == want
    assert 0 < len(want) < 5

    # The points rounded to float32, every projection widened by a bound on what that
    # moves it: what is accepted holds on the exact points by the tolerance. A margin
    # that clears twice the tolerance by 1.5 bounds is no longer accepted (each side is
    # widened by one; the rounding itself here is far below its bound).
    Xh = X.astype(np.float32)
    rounding = 2.0**-24 * float(np.linalg.norm(X, axis=1).max()) * 1.01
    thin = min(want, key=margins.get)
    for tol, lost in ((1e-6, None), ((margins[thin] - 1.5 * rounding) / 2, thin)):
        at, U, off, _ = compiled_tests.centroid_directions(
            Xh, members[0], ocentre[0], ocentre, oradius, ocid, close, codes,
            chains.head, chains.nxt, tol, 1e-9, rounding,
        )  # fmt: skip
        assert at.tolist() == [i for i in want if i != lost]
        for k, i in enumerate(at.tolist()):
            side = X @ U[k] + off[k]
            c = int(close[i])
            assert side[members[0]].min() >= tol and side[members[c]].max() <= -tol


def test_merge_distances_equal_numpys_bit_for_bit() -> None:
    rng = np.random.default_rng(5)
    m = 50
    P = rng.normal(size=(m, 7))
    d2 = ((P[:, None, :] - P[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d2, np.inf)
    cid = np.arange(m)
    cid[[3, 11]] = -1
    frozen = np.zeros(m, dtype=bool)
    frozen[20] = True
    nn_d2 = np.full(m, 4.0)
    s, t, na, nb = 5, 9, 3, 7
    nm = na + nb
    want = (na * d2[s] + nb * d2[t]) / nm - (na * nb / (nm * nm)) * d2[s, t]
    np.maximum(want, 0.0, out=want)
    want[(cid < 0) | frozen] = np.inf
    want[[s, t]] = np.inf
    D = d2.copy()
    # the live view's slots: every live one, and an empty one it has not dropped yet
    slots = np.setdiff1d(np.arange(m), [3])
    row, closer = _lance_williams(
        D, s, t, float(na), float(nb), float(nm), na * nb / (nm * nm), cid, frozen, nn_d2, slots
    )
    here = cid >= 0
    assert row[here].tobytes() == want[here].tobytes()
    assert closer.tolist() == np.flatnonzero(want < nn_d2).tolist()
    # the rows read again: the merged slot's and those of the other live, unfrozen slots
    live = here & ~frozen
    assert D[s, here].tobytes() == want[here].tobytes()
    assert D[live, s].tobytes() == want[live].tobytes()
    # t is emptied by the merge; its stale column is never a nearest neighbour
    cid[t] = -1
    for j in np.flatnonzero(live & (cid >= 0)).tolist():
        masked = np.where(cid >= 0, D[j], np.inf)
        expect = int(np.argmin(masked)) if np.isfinite(masked).any() else -1
        assert _nearest(D[j], slots, cid) == expect


def test_the_nearest_live_slot_skips_empty_slots_and_takes_the_first_of_equals() -> None:
    cid = np.array([0, -1, 2, 3, -1, 5])
    slots = np.arange(6)
    row = np.array([4.0, 1.0, 2.0, 2.0, 0.5, np.inf])  # empty slots hold stale values
    assert _nearest(row, slots, cid) == 2
    assert _nearest(np.array([np.inf, 0.0, np.inf, np.inf, 0.0, np.inf]), slots, cid) == -1


def _along(rng: np.random.Generator, w: np.ndarray, lo: float, hi: float, n: int) -> np.ndarray:
    """n points whose products with the unit ``w`` are uniform in [lo, hi]."""
    across = rng.normal(size=(n, len(w)))
    across -= np.outer(across @ w, w)
    return rng.uniform(lo, hi, size=(n, 1)) * w + across


def test_a_certificate_the_smaller_parent_breaks_is_moved_only_where_there_is_room() -> None:
    # The bigger parent's hyperplane against a cluster, which the smaller parent's points
    # no longer clear, moved towards that cluster: the moved hyperplane must clear the
    # whole merged cluster and the other cluster by tol, on the exact points and with
    # the exact normal (the test reads both rounded to float32), and be found wherever
    # the bounds leave room for it.
    rng = np.random.default_rng(11)
    tol = 1e-3
    found = 0
    for trial in range(40):
        w = rng.normal(size=6)
        w /= np.linalg.norm(w)
        # on the positive side, one point of it barely
        big = np.vstack([_along(rng, w, 0.5, 2.0, 7), _along(rng, w, 1.5 * tol, 1.5 * tol, 1)])
        small = _along(rng, w, -0.6, 0.4, 2)  # across the hyperplane, some of it
        others = [_along(rng, w, lo, lo + 0.25, 5) for lo in rng.uniform(-1.5, -0.3, size=6)]
        X = np.vstack([big, small, *others])
        chains = MemberChains(len(X), {c: np.arange(10 + 5 * c, 15 + 5 * c) for c in range(6)})
        rounding = 2.0**-24 * float(np.linalg.norm(X, axis=1).max()) * 1.01
        big_codes = np.array([1, 1, 1, 1, 0, 1])  # the fifth: no certificate to move
        codes = np.zeros(6, dtype=np.int64)
        codes[3] = 7  # already settled
        at, off = compiled_tests.shifted_planes(
            X.astype(np.float32), w[None, :].astype(np.float32), np.zeros(1), big_codes,
            np.array([8, 9]), np.arange(6), np.arange(6), codes, chains.head, chains.nxt,
            tol, 2 * rounding,
        )  # fmt: skip
        assert not set(at.tolist()) & {3, 4}
        merged = np.vstack([big, small])
        for i, b in zip(at.tolist(), off.tolist(), strict=True):
            assert (merged @ w + b).min() >= tol
            assert (others[i] @ w + b).max() <= -tol
        # found wherever the exact sides leave room (with a hair for the bounds' slack)
        for i in (0, 1, 2, 5):
            room = min((small @ w).min(), tol) - (others[i] @ w).max()
            if room > 2 * tol + 8 * rounding:
                assert i in at.tolist(), (trial, i)
            elif room <= 2 * tol:
                assert i not in at.tolist(), (trial, i)
        found += len(at)
    assert 0 < found < 40 * 4  # both outcomes were exercised
