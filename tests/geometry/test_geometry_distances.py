"""Hull-to-hull and point-to-hull distances on sets whose answer is known by construction."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from ftprobe.geometry.distances import (
    cluster_distance_matrix,
    hull_distance,
    nearest_hulls,
    point_hull_distances,
)
from ftprobe.geometry.partition import Clustering


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
        if inside:
            expected = 0.0
        else:
            expected = min(_segment_distance(q, q, e[0], e[1], steps=2) for e in edges)
        assert g == pytest.approx(expected, abs=1e-7)
    assert np.all(err <= 1e-6 * np.maximum(got, 1.0))


def test_many_clusters_batched_matches_single_pair_solver() -> None:
    rng = np.random.default_rng(7)
    d = 50
    sizes = [1, 2, 3, 7, 12, 30, 45, 70]
    x = np.vstack([rng.normal(size=(n, d)) + 3 * rng.normal(size=d) for n in sizes])
    assignment = np.repeat(np.arange(len(sizes)), sizes)
    labels = np.arange(len(sizes)) % 3
    clustering = Clustering.from_assignment(assignment, labels[assignment], ["a", "b", "c"])
    mat = cluster_distance_matrix(x, clustering, progress=False)
    for i, j in itertools.combinations(range(len(sizes)), 2):
        if labels[i] == labels[j]:
            assert np.isnan(mat[i, j])
            continue
        single = hull_distance(x[assignment == i], x[assignment == j]).distance
        assert mat[i, j] == pytest.approx(single, rel=1e-6)
        assert mat[i, j] == mat[j, i]
    full = cluster_distance_matrix(x, clustering, pairs="all", progress=False)
    assert not np.isnan(full).any()
    sub = cluster_distance_matrix(x, clustering, clusters=[0, 1, 2], progress=False)
    off = ~np.eye(len(sizes), dtype=bool)
    assert np.isnan(sub[3:, :][off[3:, :]]).all() and sub[0, 1] == pytest.approx(mat[0, 1])


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


@pytest.mark.parametrize("shift", [6.0, 2.0, 0.0])
def test_wolfe_solver_agrees_with_the_qp_solver_on_all_points(shift: float) -> None:
    from ftprobe.geometry.distances import _dual_qp, _min_norm_pair

    rng = np.random.default_rng(int(shift * 10) + 5)
    d = 12
    a = rng.normal(size=(150, d))
    b = rng.normal(size=(120, d)) * 0.7 + np.r_[shift, np.zeros(d - 1)]
    alpha, beta = _dual_qp(a, b)
    expected = np.linalg.norm(alpha @ a - beta @ b)
    # Wolfe's method from a small working set (the path hull_distance takes first).
    v = b.mean(axis=0) - a.mean(axis=0)
    got = _min_norm_pair(
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


def test_nearest_hulls_gives_the_full_matrix_argmin_and_distance() -> None:
    # Eight overlapping-ish Gaussian clusters in 20-d, test points among them, some inside
    # a hull: pruning must never change the nearest cluster or its distance.
    rng = np.random.default_rng(5)
    centres = rng.normal(scale=2.5, size=(8, 20))
    x = np.concatenate([c + rng.normal(size=(60, 20)) for c in centres])
    assignment = np.repeat(np.arange(8), 60)
    clustering = Clustering.from_assignment(assignment, assignment % 4, list("ABCD"))
    inside = x[assignment == 3][:5].mean(axis=0)  # a convex combination of cluster 3
    points = np.vstack([rng.normal(scale=3.0, size=(150, 20)), inside, x[7]])
    full = point_hull_distances(points, x, clustering, progress=False)
    nearest, dist = nearest_hulls(points, x, clustering, progress=False)
    expected = np.argsort(full, axis=1, kind="stable")[:, 0]
    assert np.array_equal(nearest, expected)
    np.testing.assert_allclose(dist, full[np.arange(len(points)), expected], rtol=1e-6, atol=1e-9)
    assert nearest[-2] == 3 and dist[-2] == 0.0
    assert dist[-1] == 0.0  # a training point lies in its own hull


def test_nearest_hulls_breaks_exact_ties_by_the_lower_cluster_id() -> None:
    # A point halfway between two mirror-image clusters is equally far from both.
    a = np.array([[1.0, 0.0], [2.0, 1.0], [2.0, -1.0]])
    x = np.vstack([a, -a])
    clustering = Clustering.from_assignment([0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 1], ["L", "R"])
    nearest, dist = nearest_hulls(np.zeros((1, 2)), x, clustering, progress=False)
    assert nearest.tolist() == [0]
    assert dist[0] == pytest.approx(1.0, abs=1e-9)


def test_nearest_hulls_blocks_and_staged_pruning_match_the_full_matrix() -> None:
    # Clusters of very different sizes (one a single point, one with duplicate points),
    # test points near several hulls at once, and blocks smaller than the test set: the
    # float32 bounds, the Frank-Wolfe stages and the early-stopped exact solves must
    # never change the answer of the full distance matrix.
    rng = np.random.default_rng(11)
    d = 16
    sizes = [600, 90, 40, 1, 25, 120]  # 600: past the plain-max size of the FW step
    centres = rng.normal(scale=1.5, size=(len(sizes), d))
    x = np.concatenate([c + rng.normal(size=(s, d)) for c, s in zip(centres, sizes, strict=True)])
    x[1] = x[0]  # a duplicate point
    assignment = np.repeat(np.arange(len(sizes)), sizes)
    clustering = Clustering.from_assignment(assignment, assignment % 3, ["A", "B", "C"])
    mix = rng.dirichlet(np.ones(len(sizes)), size=90) @ centres
    points = np.vstack([mix + rng.normal(scale=0.8, size=mix.shape), x[600 + 90 + 40], x[5]])
    full = point_hull_distances(points, x, clustering, progress=False)
    nearest, dist = nearest_hulls(
        points, x, clustering, progress=False, block_size=16, bound_steps=(2, 3, 10)
    )
    expected = np.argsort(full, axis=1, kind="stable")[:, 0]
    assert np.array_equal(nearest, expected)
    np.testing.assert_allclose(dist, full[np.arange(len(points)), expected], rtol=1e-6, atol=1e-9)
    assert nearest[-2] == 3 and dist[-2] == 0.0  # the single-point cluster itself
    assert dist[-1] == 0.0


@pytest.mark.parametrize("m", [10, 512, 513, 600, 4160])
def test_two_level_row_max_agrees_with_torch_max(m: int) -> None:
    from ftprobe.geometry.distances import _row_max

    a = torch.from_numpy(np.random.default_rng(m).normal(size=(37, m)).astype(np.float32))
    a[3] = 1.0  # a row of ties: any column holding the maximum will do
    a[5, -1] = 100.0  # the maximum in the columns past the last full block
    best, idx = _row_max(a)
    assert torch.equal(best, a.max(dim=1).values)
    assert torch.equal(a.gather(1, idx[:, None])[:, 0], best)
    assert int(idx[5]) == m - 1


def test_worker_processes_give_the_same_matrix_as_this_process() -> None:
    # Pairs of more than 128 points go to Wolfe's method, here in two worker processes.
    rng = np.random.default_rng(5)
    d = 16
    sizes = [90, 120, 70, 150]
    x = np.vstack([rng.normal(size=(n, d)) + 2 * rng.normal(size=d) for n in sizes])
    assignment = np.repeat(np.arange(len(sizes)), sizes)
    labels = np.array([0, 1, 2, 0])
    clustering = Clustering.from_assignment(assignment, labels[assignment], ["a", "b", "c"])
    here = cluster_distance_matrix(x, clustering, progress=False, workers=1)
    spread = cluster_distance_matrix(x, clustering, progress=False, workers=2)
    assert np.array_equal(here, spread, equal_nan=True)
    assert np.isfinite(here[0, 1]) and here[0, 1] > 0


def test_overlap_is_proven_by_the_lp_once_the_working_sets_could_hold_a_support(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Wolfe's method stalls on some large overlapping pairs (two POS clusters of 1,390 and
    # 2,905 points); the QP rounds then creep towards 0 and cannot certify it. Overlapping
    # clouds with Wolfe's method made to stall must come back as an LP-proven overlap in
    # the first rounds, not after many.
    import ftprobe.geometry.distances as distances

    monkeypatch.setattr(distances, "_min_norm_pair", lambda *a, **k: None)
    rng = np.random.default_rng(3)
    a = rng.normal(size=(400, 30))
    b = rng.normal(size=(400, 30)) + 0.1
    res = hull_distance(a, b)
    assert res.overlap and res.distance == 0.0
    assert res.certificate == "lp"
    assert res.rounds < distances._LP_AFTER


_WORKER_SCRIPT = """
import multiprocessing
import numpy as np
from ftprobe.geometry.partition import Clustering
from ftprobe.geometry.distances import cluster_distance_matrix

print("script body", flush=True)  # no main guard: worker processes must not run this again
rng = np.random.default_rng(0)
x = np.vstack([rng.normal(size=(100, 8)) + 3 * i for i in range(3)])
assignment = np.repeat(np.arange(3), 100)
clustering = Clustering.from_assignment(assignment, assignment, ["a", "b", "c"])

def run():
    cluster_distance_matrix(x, clustering, progress=False, workers=2)

# A forked child (as a benchmark's runs or a study's workers are) must exit when done,
# not wait for idle worker processes.
child = multiprocessing.get_context("fork").Process(target=run)
child.start()
child.join(60)
print("child exit", child.exitcode, flush=True)
if child.exitcode is None:
    child.kill()
print(cluster_distance_matrix(x, clustering, progress=False, workers=2)[0, 1] > 0)
"""


def test_worker_processes_need_no_main_guard_and_let_their_caller_exit(tmp_path) -> None:
    import subprocess
    import sys

    script = tmp_path / "no_guard.py"
    script.write_text(_WORKER_SCRIPT, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=True
    ).stdout
    assert out.count("script body") == 1
    assert "child exit 0" in out
    assert out.strip().endswith("True")
