"""The nearest hull of each point (``hulls.nearest``): the answer of the full distance
matrix, whatever the bounds and pruning did on the way."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ftprobe.geometry.hulls import (
    nearest_group,
    nearest_groups,
    nearest_hulls,
    point_hull_distances,
    tie_tolerance,
)
from ftprobe.geometry.hulls.nearest import row_max
from ftprobe.geometry.partition import Clustering


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


def test_nearest_groups_are_the_full_matrix_groups_ties_included() -> None:
    # Layer-0-like data: clusters of nearly dependent points (one direction plus small
    # noise, as the same word at many positions), one vector shared by two clusters of
    # two labels (a tie at distance 0), mirror-image clusters (a tie at a positive
    # distance), and test points near one hull only, which the bounds settle without an
    # exact solve. Every group must be the one the full distance matrix gives.
    rng = np.random.default_rng(21)
    d = 12
    base = rng.normal(scale=3.0, size=(6, d))
    x = np.concatenate([b + 0.05 * rng.normal(size=(40, d)) for b in base])
    assignment = np.repeat(np.arange(6), 40)
    shared = x[0].copy()
    a = np.array(
        [[1.0] + [0.0] * (d - 1), [2.0, 1.0] + [0.0] * (d - 2), [2.0, -1.0] + [0.0] * (d - 2)]
    )
    a = a + 20.0
    mirror = np.vstack([a, 40.0 - a])
    x = np.vstack([x, shared[None, :], mirror])
    assignment = np.concatenate([assignment, [6], [7, 7, 7, 8, 8, 8]])
    labels = np.array([0, 1, 2, 0, 1, 2, 1, 0, 1])[assignment]
    clustering = Clustering.from_assignment(assignment, labels, ["A", "B", "C"])
    near_one = base + 0.3 * rng.normal(size=base.shape)
    points = np.vstack(
        [near_one, shared, np.full(d, 20.0), x[5], rng.normal(scale=3, size=(40, d))]
    )
    full = point_hull_distances(points, x, clustering, progress=False)
    expected = nearest_group(full, tie_tolerance(x))
    top = nearest_groups(points, x, clustering, progress=False, block_size=16)
    assert np.array_equal(top, expected)
    assert top[6, [0, 6]].all() and top[6].sum() == 2  # the shared vector: both clusters
    assert top[7, [7, 8]].all() and top[7].sum() == 2  # halfway between the mirrors
    assert np.array_equal(
        top, nearest_hulls(points, x, clustering, progress=False, with_ties=True)[2]
    )


@pytest.mark.parametrize("m", [10, 512, 513, 600, 4160])
def test_two_level_row_max_agrees_with_torch_max(m: int) -> None:
    a = torch.from_numpy(np.random.default_rng(m).normal(size=(37, m)).astype(np.float32))
    a[3] = 1.0  # a row of ties: any column holding the maximum will do
    a[5, -1] = 100.0  # the maximum in the columns past the last full block
    best, idx = row_max(a)
    assert torch.equal(best, a.max(dim=1).values)
    assert torch.equal(a.gather(1, idx[:, None])[:, 0], best)
    assert int(idx[5]) == m - 1


def test_frank_wolfe_lower_bounds_hold_against_float64_separations() -> None:
    # The bound phase prunes a cluster when its lower bound exceeds the best distance, so
    # every lower bound must be one: the separation along z = x - y computed in float64
    # must not be beaten by the bound built from the float32 running scores, however
    # many steps have rounded into them. Wide vectors make float32 rounding show.
    from ftprobe.geometry.hulls.nearest import _FrankWolfe, _single
    from ftprobe.geometry.hulls.point import hull_of, hull_points

    rng = np.random.default_rng(8)
    d = 768
    x = rng.normal(size=(400, d)) + 3.0 * rng.normal(size=(1, d))
    hull = hull_of(x, np.arange(400), torch.device("cpu"))
    single = _single(hull)
    assert single is not None and single.gram is not None
    pts = rng.normal(size=(300, d)) * 1.5
    x0 = torch.from_numpy((pts - hull.centre) / hull.radius)
    proj = x0.float() @ single.c0t
    i0 = row_max(torch.sub(proj, 0.5 * single.diag[None, :]))[1]
    fw = _FrankWolfe(x0, proj, i0, single, 60)
    for steps in (1, 9, 50):
        fw.run(steps)
        upper, lower = fw.bounds(hull.c0)
        t = fw.done + 1
        gam = fw.steps[:, :t]
        shrink = torch.flip(torch.cumprod(torch.flip(1.0 - gam[:, 1:], [1]), dim=1), [1])
        shrink = torch.cat([shrink, torch.ones_like(gam[:, :1])], dim=1)
        y = hull_points(gam * shrink, fw.atoms[:, :t], hull.c0)
        z = x0 - y
        separation = ((z * x0).sum(dim=1) - (z @ hull.c0.T).amax(dim=1)) / upper
        assert bool((lower <= torch.minimum(separation, upper)).all())
        np.testing.assert_allclose(upper, torch.linalg.vector_norm(z, dim=1), rtol=1e-12)
