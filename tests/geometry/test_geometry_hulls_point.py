"""Distances from points to hulls (``hulls.point``) on sets whose answer is known by
construction or by an exact solver."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ftprobe.geometry.hulls import point_hull_distances
from ftprobe.geometry.partition import Clustering


def _point_segment_distance(q, e0, e1) -> float:
    """Exact distance from the point ``q`` to the segment from ``e0`` to ``e1``."""
    d = e1 - e0
    s = np.clip(((q - e0) @ d) / (d @ d), 0.0, 1.0)
    return float(np.linalg.norm(q - (e0 + s * d)))


def _cube() -> np.ndarray:
    corners = np.array(list(itertools.product([0.0, 1.0], repeat=3)))
    inner = np.random.default_rng(1).uniform(0.2, 0.8, size=(20, 3))
    return np.vstack([corners, inner])


def test_point_to_box_is_zero_inside_and_exact_outside() -> None:
    box = _cube()
    clustering = Clustering.from_assignment(np.zeros(len(box), int), np.zeros(len(box), int), ["A"])
    queries = np.array(
        [
            [0.5, 0.5, 0.5],  # inside
            [1.0, 0.3, 0.2],  # on a face
            [2.0, 0.5, 0.5],  # nearest point on a face: 1
            [2.0, 2.0, 0.5],  # on an edge: sqrt 2
            [2.0, 2.0, 2.0],  # at a corner: sqrt 3
            [-1.0, 0.5, 3.0],  # edge: sqrt(1 + 4)
        ]
    )
    expected = np.array([0.0, 0.0, 1.0, np.sqrt(2), np.sqrt(3), np.sqrt(5)])
    dist, err = point_hull_distances(queries, box, clustering, progress=False, with_errors=True)
    np.testing.assert_allclose(dist[:, 0], expected, atol=1e-7)
    assert np.all(err <= 1e-6)


def test_point_to_simplex_in_high_dimension() -> None:
    d = 40
    simplex = np.eye(d)
    clustering = Clustering.from_assignment(np.zeros(d, int), np.zeros(d, int), ["A"])
    centroid = np.full(d, 1 / d)
    queries = np.stack(
        [
            np.zeros(d),  # nearest point is the centroid: distance 1/sqrt(d)
            centroid,  # inside
            np.r_[3.0, np.zeros(d - 1)],  # beyond a vertex: distance 2
            centroid + 0.01 * np.r_[1.0, -1.0, np.zeros(d - 2)],  # inside, off the centroid
        ]
    )
    dist = point_hull_distances(queries, simplex, clustering, progress=False)[:, 0]
    np.testing.assert_allclose(dist, [1 / np.sqrt(d), 0.0, 2.0, 0.0], atol=1e-7)


def test_point_to_polygon_with_many_points_in_the_plane() -> None:
    # 2-D clusters far bigger than d + 1: the systems are singular and need care.
    rng = np.random.default_rng(5)
    angles = rng.uniform(0, 2 * np.pi, 80)
    ring = np.c_[np.cos(angles), np.sin(angles)]
    disk = np.vstack([ring, 0.5 * rng.uniform(-1, 1, size=(40, 2))])
    zeros = np.zeros(len(disk), int)
    clustering = Clustering.from_assignment(zeros, zeros, ["A"])
    queries = rng.uniform(-3, 3, size=(60, 2))
    got, err = point_hull_distances(
        queries, disk, clustering, progress=False, pool_size=8, with_errors=True
    )
    # Exact answer: distance to the polygon of the ring's points in angular order.
    order = np.argsort(angles)
    poly = ring[order]
    edges = np.stack([poly, np.roll(poly, -1, axis=0)], axis=1)
    for q, g in zip(queries, got[:, 0], strict=True):
        # counter-clockwise polygon: inside when left of every edge
        inside = all(
            (e[1, 0] - e[0, 0]) * (q[1] - e[0, 1]) - (e[1, 1] - e[0, 1]) * (q[0] - e[0, 0]) >= 0
            for e in edges
        )
        expected = 0.0 if inside else min(_point_segment_distance(q, e[0], e[1]) for e in edges)
        assert g == pytest.approx(expected, abs=1e-7)
    assert np.all(err <= 1e-6 * np.maximum(got, 1.0))


def test_point_distances_to_large_clusters_match_an_exact_solver() -> None:
    from scipy.optimize import nnls

    rng = np.random.default_rng(11)
    d = 24
    big = rng.normal(size=(300, d))
    clustering = Clustering.from_assignment(np.zeros(300, int), np.zeros(300, int), ["A"])
    queries = rng.normal(size=(25, d)) * 2.5
    got, err = point_hull_distances(
        queries, big, clustering, progress=False, pool_size=16, with_errors=True
    )
    for q, g in zip(queries, got[:, 0], strict=True):
        e = np.vstack([(big - q).T, np.ones(len(big))])
        f = np.zeros(d + 1)
        f[-1] = 1
        u, _ = nnls(e, f, maxiter=100000)
        expected = np.linalg.norm(q - (u / u.sum()) @ big)
        assert g == pytest.approx(expected, rel=1e-6, abs=1e-8)
    assert np.all(err <= 1e-6 * got + 1e-6)


def test_a_face_where_every_point_ties_is_certified_exactly() -> None:
    # All 384 vertices of the simplex score alike along the direction to these queries:
    # the float32 product that scores them cannot tell them apart, and the certificate
    # must take the largest score from their float64 values.
    d = 384
    simplex = np.eye(d)
    clustering = Clustering.from_assignment(np.zeros(d, int), np.zeros(d, int), ["A"])
    normal = np.full(d, 1 / np.sqrt(d))
    centroid = np.full(d, 1 / d)
    shift = np.r_[1e-4, -1e-4, np.zeros(d - 2)]  # along the face: the nearest point moves
    queries = np.stack(
        [centroid - 5.0 * normal, centroid + shift - 5.0 * normal, centroid - 0.5 * normal]
    )
    got, err = point_hull_distances(queries, simplex, clustering, progress=False, with_errors=True)
    np.testing.assert_allclose(got[:, 0], [5.0, 5.0, 0.5], rtol=0, atol=1e-9)
    assert np.all(err[:, 0] <= 1e-6 * got[:, 0] + 1e-7)


def test_a_point_just_beyond_the_plane_outside_the_candidates_is_found() -> None:
    # The nearest vertex A is the only starting candidate; B, close to A, lies beyond A's
    # supporting plane by less than the float32 scores can resolve (at 384-d), so only
    # its float64 score shows that A is not optimal. The true nearest point is on AB,
    # 5e-7 closer than A: a certificate that missed B would report A, with no error.
    d = 384
    delta, length = 1e-5, 1e-2
    e = np.eye(d)
    body = [-e[0] + e[1] + s * e[k] for k in range(2, 40) for s in (1.0, -1.0)]
    points = np.vstack([np.zeros(d), delta * e[0] + length * e[1], *body])
    zeros = np.zeros(len(points), int)
    clustering = Clustering.from_assignment(zeros, zeros, ["A"])
    got, err = point_hull_distances(
        e[:1], points, clustering, progress=False, pool_size=1, with_errors=True
    )
    expected = np.sqrt(1.0 - delta**2 / (delta**2 + length**2))  # to the segment AB
    assert got[0, 0] == pytest.approx(expected, abs=1e-12)
    assert err[0, 0] <= 1e-9
