"""The nearest cluster hull of every test point, and its distance, exactly (prediction).

Only the clusters that could be nearest are solved exactly: cheap certified bounds rule
the others out (see :func:`nearest_hulls`).

Glossary:

- *bounds*: certified upper and lower bounds on a (point, cluster) distance: the nearest
  vertex from above, the direction from the centroid from below, then Frank-Wolfe's
  iterates (:class:`_FrankWolfe`), all in float32 products widened by their worst-case
  rounding error (:func:`f32_gamma`);
- *open* pair: a (point, cluster) whose lower bound does not exceed the best certified
  distance of the point (plus the *slack*, at least the tie tolerance); the others are
  ruled out;
- *stage*: a number of Frank-Wolfe steps for every open pair (``bound_steps``);
- *exact solve*: :func:`~ftprobe.geometry.hulls.point.point_hull_chunk` on the open pairs
  left, stopped as soon as its lower bound rules the pair out;
- *block*: the test points handled together (``block_size``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from ftprobe.geometry.hulls.inputs import check_query
from ftprobe.geometry.hulls.point import (
    ATOL,
    F32_UNIT,
    MAX_POOL,
    POOL_SIZE,
    RTOL,
    Hull,
    batch_rows,
    f32_gamma,
    hull_of,
    hull_points,
    point_hull_chunk,
)
from ftprobe.geometry.hulls.ties import nearest_group, tie_tolerance
from ftprobe.geometry.partition import ClusteringLike

# Frank-Wolfe steps per bound stage, and test points handled together: the defaults of
# nearest_hulls and nearest_groups, which must answer alike.
BOUND_STEPS = (5, 15, 30)
BLOCK_SIZE = 2048


@dataclass(frozen=True)
class _Single:
    """A hull's points and Gram matrix in float32, for the bound phase of nearest_hulls."""

    c0: torch.Tensor  # (m, d) float32, for its rows
    c0t: torch.Tensor  # its transpose, stored (d, m), for the products (Hull.c32t)
    gram: torch.Tensor | None  # (m, m) float32, when the hull keeps its Gram matrix
    diag: torch.Tensor  # (m,) float32 squared norms
    reach: float  # largest norm of the float64 points (1 up to rounding; Hull.reach)


def _single(hull: Hull) -> _Single | None:
    if hull.c0 is None or hull.c32t is None:
        return None
    c32 = hull.c0.float()
    gram = hull.gram.float() if hull.gram is not None else None
    return _Single(c32, hull.c32t, gram, (c32 * c32).sum(dim=1), hull.reach)


def row_max(a: torch.Tensor, width: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Largest entry of each row of ``a`` and its column, like ``a.max(dim=1)``.

    In two levels, the best block of ``width`` columns and then the best column in it:
    torch's max with indices over long rows is many times slower than a plain max.
    """
    bsz, m = a.shape
    if m <= 8 * width:
        return a.max(dim=1)
    main = (m // width) * width
    block = a[:, :main].view(bsz, main // width, width).amax(dim=2).argmax(dim=1)
    cols = block[:, None] * width + torch.arange(width, device=a.device)[None, :]
    best, pos = a.gather(1, cols).max(dim=1)
    idx = block * width + pos
    if main < m:
        tail, at = a[:, main:].max(dim=1)
        better = tail > best
        best = torch.where(better, tail, best)
        idx = torch.where(better, at + main, idx)
    return best, idx


class _FrankWolfe:
    """Frank-Wolfe iterates from some test points towards one hull, kept between calls.

    Scaled units, started at each point's nearest vertex, exact line search, in float32:
    the iteration only chooses the hull points; :meth:`bounds` certifies them in float64.
    The iteration never forms the weights: it only needs ``mu.P``, ``mu.G.mu`` and
    ``G mu`` (``P = x0 c0'``, ``G = c0 c0'``), updated in place by the chosen vertex's
    Gram row; the vertices and step sizes are recorded, and they define the weights.
    """

    def __init__(
        self, x0: torch.Tensor, proj: torch.Tensor, i0: torch.Tensor, single: _Single, cap: int
    ) -> None:
        self.x0, self.proj, self.s = x0, proj, single
        self.g_mu = self._gram_rows(i0)  # G mu, (B, m)
        self.mu_p = proj.gather(1, i0[:, None])[:, 0]
        self.mu_g_mu = single.diag[i0]
        self.atoms = torch.zeros(len(x0), cap + 1, dtype=torch.long, device=x0.device)
        self.atoms[:, 0] = i0
        self.steps = torch.zeros(len(x0), cap + 1, dtype=torch.float64, device=x0.device)
        self.steps[:, 0] = 1.0
        self.done = 0

    def _gram_rows(self, j: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        if self.s.gram is not None:
            return torch.index_select(self.s.gram, 0, j, out=out)  # type: ignore[call-overload]
        return torch.matmul(self.s.c0[j], self.s.c0t, out=out)  # type: ignore[call-overload]

    def keep(self, rows: torch.Tensor) -> None:
        """Drop every iterate but those of ``rows``."""
        self.x0, self.proj, self.g_mu = self.x0[rows], self.proj[rows], self.g_mu[rows]
        self.mu_p, self.mu_g_mu = self.mu_p[rows], self.mu_g_mu[rows]
        self.atoms, self.steps = self.atoms[rows], self.steps[rows]

    def run(self, steps: int) -> None:
        """``steps`` more Frank-Wolfe steps for every point."""
        bsz, m = self.proj.shape
        t0 = self.done + 1
        sub = self._rows_per_block()
        scores = torch.empty(min(sub, bsz), m, dtype=self.proj.dtype, device=self.proj.device)
        rows_j = torch.empty_like(scores)
        for start in range(0, bsz, sub):
            stop = min(start + sub, bsz)
            p, g = self.proj[start:stop], self.g_mu[start:stop]
            mu_p, mu_g_mu = self.mu_p[start:stop], self.mu_g_mu[start:stop]
            sc, rj = scores[: stop - start], rows_j[: stop - start]
            for t in range(t0, t0 + steps):
                torch.sub(p, g, out=sc)  # c_i . (x - y)
                best, j = row_max(sc)
                g_j = g.gather(1, j[:, None])[:, 0]
                d_j = self.s.diag[j]
                denom = (d_j - 2.0 * g_j + mu_g_mu).clamp_min(1e-30)
                gamma = ((best - mu_p + mu_g_mu) / denom).clamp(0.0, 1.0)
                keep = 1.0 - gamma
                mu_p = keep * mu_p + gamma * p.gather(1, j[:, None])[:, 0]
                mu_g_mu = keep * keep * mu_g_mu + 2.0 * gamma * keep * g_j + gamma * gamma * d_j
                self._gram_rows(j, out=rj)
                g.mul_(keep[:, None]).addcmul_(rj, gamma[:, None])
                self.atoms[start:stop, t] = j
                self.steps[start:stop, t] = gamma.double()
            self.mu_p[start:stop] = mu_p
            self.mu_g_mu[start:stop] = mu_g_mu
        self.done += steps

    def _rows_per_block(self) -> int:
        """Rows of the (rows, m) arrays handled together: blocks of a few MiB, which each
        step reads and writes in place, stay in cache and allocate no large temporary."""
        bsz, m = self.proj.shape
        return max(1, min(bsz, 2**20 // max(m, 1)))

    def _running_top(self) -> torch.Tensor:
        """The largest running score ``max_i (P - G mu)_i`` of each point, in row blocks."""
        bsz = len(self.proj)
        sub = self._rows_per_block()
        top = torch.empty(bsz, dtype=self.proj.dtype, device=self.proj.device)
        for start in range(0, bsz, sub):
            stop = min(start + sub, bsz)
            top[start:stop] = (self.proj[start:stop] - self.g_mu[start:stop]).amax(dim=1)
        return top.double()

    def bounds(self, c0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Certified (upper, lower) bounds on the distances, from the recorded steps.

        The weights (each step's size times the shrink factors of the later steps) give
        the hull point ``y`` in float64; the upper bound is ``|x - y|``, the lower bound
        the separation along ``z = x - y`` (no hull point is closer than that). Its
        largest score ``max_i c0_i . z`` is the iteration's own running ``P - G mu`` where
        the hull keeps its Gram matrix, widened by the rounding of ``P`` (a float32
        product), of the float32 Gram entries and of every step's update (a few units in
        the last place of ``|G|`` per step, bounded with a factor 2 to spare); without
        it, the float32 product ``z c0'``, widened by its rounding.
        """
        t = self.done + 1
        gam = self.steps[:, :t]
        # Weight of step i: gamma_i * prod_{l > i} (1 - gamma_l) (step 0 is the start).
        shrink = torch.flip(torch.cumprod(torch.flip(1.0 - gam[:, 1:], [1]), dim=1), [1])
        shrink = torch.cat([shrink, torch.ones_like(gam[:, :1])], dim=1)
        mu = gam * shrink
        y = hull_points(mu, self.atoms[:, :t], c0)
        z = self.x0 - y
        upper = torch.linalg.vector_norm(z, dim=1)
        reach = self.s.reach
        if self.s.gram is not None:
            # |P - x0 c0'| <= gamma_d |x0| reach; each step's update g <- (1 - gamma) g +
            # gamma G_j rounds its two products, its sum and (1 - gamma): at most 4 u |G|
            # per step (|G| <= reach^2), plus u of the cast of G and of the subtraction.
            norm = torch.linalg.vector_norm(self.x0, dim=1)
            u = F32_UNIT
            top = self._running_top()
            err = (f32_gamma(c0.shape[1]) + u) * norm * reach
            err = err + (8 * self.done + 4) * u * reach * reach
        else:
            top = (z.float() @ self.s.c0t).amax(dim=1).double()
            err = f32_gamma(c0.shape[1]) * upper * reach
        lower = ((z * self.x0).sum(dim=1) - top - err) / upper.clamp_min(1e-300)
        lower = torch.where(upper > 0, lower, -torch.inf)
        return upper, torch.minimum(lower, upper)


def _solve_rows(
    x0: torch.Tensor,
    hull: Hull,
    prune_at: torch.Tensor | None,
    *,
    rtol: float,
    atol: float,
) -> np.ndarray:
    """Exact distances (original units) from the scaled points ``x0`` to one hull.

    With ``prune_at`` (scaled units), a problem whose lower bound exceeds it stops early
    and comes back as ``inf``.
    """
    assert hull.c0 is not None
    m = len(hull.points)
    out = np.zeros(len(x0))
    pool_size = POOL_SIZE
    step = batch_rows(m, pool_size)
    for start in range(0, len(x0), step):
        stop = min(start + step, len(x0))
        res = point_hull_chunk(
            x0[start:stop],
            hull,
            rtol=rtol,
            atol=atol,
            pool_size=pool_size,
            max_pool=MAX_POOL,
            prune_at=None if prune_at is None else prune_at[start:stop],
        )
        out[start:stop] = res.distance * hull.radius
    return out


def _nearest_block(
    pts: np.ndarray,
    hulls: list[Hull],
    singles: list[_Single | None],
    dev: torch.device,
    *,
    slack: float,
    tol: float,
    bound_steps: tuple[int, ...],
    rtol: float,
    atol: float,
    distances: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`nearest_hulls` for one block of test points (see there); also the nearest
    group of each point (:func:`nearest_group`). Without ``distances``, a point whose
    bounds leave one cluster that can be nearest gets no exact solve, and its distance
    is NaN (see :func:`nearest_groups`)."""
    n, k = len(pts), len(hulls)
    upper = np.zeros((n, k))
    lower = np.zeros((n, k))
    exact = np.full((n, k), np.inf)
    scaled: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None] = []
    for ci, hull in enumerate(hulls):
        single = singles[ci]
        if hull.c0 is None or single is None:
            d = np.linalg.norm(pts - hull.points[0], axis=1)
            upper[:, ci] = lower[:, ci] = exact[:, ci] = d
            scaled.append(None)
            continue
        x0 = torch.from_numpy((pts - hull.centre) / hull.radius).to(dev)
        # Products in float32 (certified with their rounding error): they only bound and
        # choose; the exact solves recompute theirs in float64.
        proj = x0.float() @ single.c0t
        norm = torch.linalg.vector_norm(x0, dim=1)
        err = f32_gamma(x0.shape[1]) * norm * single.reach
        # The direction from the centroid gives a lower bound for free: no hull point
        # projects beyond max(proj). The nearest vertex bounds the distance from above.
        top = proj.amax(dim=1).double() + err
        cent = torch.where(norm > 0, norm - top / norm.clamp_min(1e-300), -torch.inf)
        i0 = row_max(torch.sub(proj, 0.5 * single.diag[None, :]))[1]
        near = torch.linalg.vector_norm(x0 - hull.c0[i0], dim=1)
        upper[:, ci] = near.cpu().numpy() * hull.radius
        lower[:, ci] = np.minimum(cent.cpu().numpy() * hull.radius, upper[:, ci])
        scaled.append((x0, proj, i0))

    def solve(rows: np.ndarray, ci: int, prune: np.ndarray | None) -> None:
        hull, cached = hulls[ci], scaled[ci]
        assert cached is not None
        idx = torch.from_numpy(rows).to(dev)
        cut = None if prune is None else torch.from_numpy(prune / hull.radius).to(dev)
        exact[rows, ci] = _solve_rows(cached[0][idx], hull, cut, rtol=rtol, atol=atol)

    # The most promising cluster of each point first: its exact distance prunes the rest.
    # The middle of the certified interval picks the nearest more often than the upper
    # bound alone (on POS, 79% against 74% of the test points), and every wrong pick
    # costs a full solve.
    def solve_first(todo: np.ndarray) -> None:
        first = np.argmin(upper + lower, axis=1)
        for ci in range(k):
            rows = np.flatnonzero(todo & (first == ci) & ~np.isfinite(exact[:, ci]))
            if len(rows):
                solve(rows, ci, None)

    if distances:
        solve_first(np.ones(n, dtype=bool))
    best = np.minimum(upper.min(axis=1), exact.min(axis=1))
    # Frank-Wolfe bounds for the pairs still open, in stages, each pruning against the
    # best certified distance so far; the iterates go on from where they stopped.
    states: dict[int, tuple[_FrankWolfe, np.ndarray]] = {}
    for steps in bound_steps:
        open_ = (lower <= best[:, None] + slack) & ~np.isfinite(exact)
        for ci in range(k):
            cached = scaled[ci]
            if cached is None:
                continue
            rows = np.flatnonzero(open_[:, ci])
            if ci in states:
                fw, had = states[ci]
                kept = np.isin(had, rows)
                if not kept.all():
                    fw.keep(torch.from_numpy(np.flatnonzero(kept)).to(dev))
                rows = had[kept]
            elif len(rows):
                idx = torch.from_numpy(rows).to(dev)
                single = singles[ci]
                assert single is not None
                fw = _FrankWolfe(
                    cached[0][idx], cached[1][idx], cached[2][idx], single, sum(bound_steps)
                )
            if not len(rows):
                states.pop(ci, None)
                continue
            states[ci] = (fw, rows)
            fw.run(steps)
            up, lo = fw.bounds(hulls[ci].c0)
            radius = hulls[ci].radius
            upper[rows, ci] = np.minimum(upper[rows, ci], up.cpu().numpy() * radius)
            lower[rows, ci] = np.maximum(lower[rows, ci], lo.cpu().numpy() * radius)
        best = np.minimum(best, upper.min(axis=1))
    alone = np.zeros(n, dtype=bool)
    if not distances:
        # The cluster of the smallest upper bound can always be nearest; when no other
        # can (every other lower bound exceeds that upper bound by the slack, at least the
        # tie tolerance), it is the nearest group on its own, whatever its exact distance.
        # The others solve their most promising cluster exactly first, as above.
        alone = (lower <= best[:, None] + slack).sum(axis=1) == 1
        solve_first(~alone)
        best = np.minimum(best, exact.min(axis=1))
    # Exact solves for the rest, each stopped as soon as it cannot beat the best.
    open_ = (lower <= best[:, None] + slack) & ~np.isfinite(exact) & ~alone[:, None]
    for ci in range(k):
        rows = np.flatnonzero(open_[:, ci])
        if len(rows):
            solve(rows, ci, best[rows] + slack)
    # Every cluster within tol of the nearest was solved exactly (slack >= tol keeps
    # them from being pruned): the ties are those of the full distance matrix.
    top = nearest_group(exact, tol)
    if alone.any():
        top[alone] = False
        top[alone, np.argmin(upper[alone], axis=1)] = True
    nearest = np.argmax(top, axis=1)  # the first of the group: ties go to the lower id
    dist = exact[np.arange(n), nearest]
    dist[alone & ~np.isfinite(dist)] = np.nan
    return nearest, dist, top


def nearest_hulls(
    points: np.ndarray,
    x: np.ndarray,
    clustering: ClusteringLike,
    *,
    device: str | torch.device = "auto",
    rtol: float = RTOL,
    atol: float = ATOL,
    bound_steps: tuple[int, ...] = BOUND_STEPS,
    block_size: int = BLOCK_SIZE,
    progress: bool = True,
    with_ties: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nearest cluster hull of every point, and its distance, exactly.

    Returns ``(nearest, distance)``, each of shape ``(n_points,)``: the cluster id with the
    smallest distance and that distance. Distances within
    :func:`~ftprobe.geometry.hulls.tie_tolerance` of ``x`` are ties, which go to the lower
    id, as :func:`~ftprobe.geometry.hulls.ranking_order` ranks the full distance matrix of
    :func:`~ftprobe.geometry.hulls.point_hull_distances`. With ``with_ties=True``, also the
    ``(n_points, K)`` booleans of :func:`~ftprobe.geometry.hulls.nearest_group`: which
    clusters tie for the nearest.

    Only the clusters that could be nearest are solved exactly.
    Per block of ``block_size`` points, one product of the points with every cluster's
    points gives bounds for all (point, cluster) pairs: the nearest vertex from above,
    the direction from the centroid from below. The cluster with the smallest upper
    bound is solved exactly, and every cluster whose lower bound exceeds that distance is
    ruled out. The others get Frank-Wolfe bounds, in stages of ``bound_steps`` steps,
    each ruling out more; those still left are solved exactly, each stopping as soon as
    its lower bound rules it out. The bound phase runs in float32 and every bound is
    certified in float64 (products widened by their worst-case rounding error), so the
    answer is the one the full distance matrix gives.
    """
    nearest, dist, top = _nearest(
        points, x, clustering, device, rtol, atol, bound_steps, block_size, progress, True
    )
    return (nearest, dist, top) if with_ties else (nearest, dist)


def nearest_groups(
    points: np.ndarray,
    x: np.ndarray,
    clustering: ClusteringLike,
    *,
    device: str | torch.device = "auto",
    rtol: float = RTOL,
    atol: float = ATOL,
    bound_steps: tuple[int, ...] = BOUND_STEPS,
    block_size: int = BLOCK_SIZE,
    progress: bool = True,
) -> np.ndarray:
    """Which clusters tie for the nearest hull of each point: ``(n_points, K)`` booleans,
    the same as the ``with_ties`` answer of :func:`nearest_hulls`, without the distances.

    What predictions need (the first of each group is the predicted cluster). A point
    whose certified bounds already leave a single cluster that can be nearest (every
    other cluster's lower bound beyond that one's upper bound by the tie tolerance) gets
    no exact solve; the others are solved as in :func:`nearest_hulls`. The exact solve of
    the nearest hull is the costly one where hulls have many nearly dependent points
    (the same word at many positions, at layer 0).
    """
    return _nearest(
        points, x, clustering, device, rtol, atol, bound_steps, block_size, progress, False
    )[2]


def _nearest(
    points: np.ndarray,
    x: np.ndarray,
    clustering: ClusteringLike,
    device: str | torch.device,
    rtol: float,
    atol: float,
    bound_steps: tuple[int, ...],
    block_size: int,
    progress: bool,
    distances: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`nearest_hulls` (``distances``) or :func:`nearest_groups`: the nearest cluster,
    its distance (NaN where not solved) and the nearest group of every point."""
    x, pts, assignment, k, dev = check_query(points, x, clustering, device)
    n = len(pts)
    if n == 0 or k == 0:
        return np.zeros(n, dtype=np.int64), np.zeros(n), np.zeros((n, k), dtype=bool)
    hulls = [hull_of(x, np.flatnonzero(assignment == ci), dev) for ci in range(k)]
    singles = [_single(hull) for hull in hulls]
    tol = tie_tolerance(x)
    # Bounds are certified up to rounding; this slack keeps rounding from pruning a
    # cluster of the nearest group (it is at least the tie tolerance).
    slack = max(tol, 1e-9 * max(float(np.abs(pts).max()), 1.0))
    nearest = np.zeros(n, dtype=np.int64)
    dist = np.zeros(n)
    top = np.zeros((n, k), dtype=bool)
    bar = tqdm(total=n, desc="nearest hulls", disable=not progress)
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        nearest[start:stop], dist[start:stop], top[start:stop] = _nearest_block(
            pts[start:stop],
            hulls,
            singles,
            dev,
            slack=slack,
            tol=tol,
            bound_steps=bound_steps,
            rtol=rtol,
            atol=atol,
            distances=distances,
        )
        bar.update(stop - start)
    bar.close()
    return nearest, dist, top
