"""Distances from points to the convex hulls of a partition's clusters, certified.

The least-distance-programming form: the distance from ``x`` to ``conv(C)`` is
``1 / ||w||`` for the shortest ``w`` with ``(c - x) . w >= 1`` for every ``c`` in ``C``,
whose dual is a non-negative least-squares problem (Lawson & Hanson, ch. 23). All test
points are solved together, by an exact block-principal-pivoting NNLS
(:func:`~ftprobe.geometry.hulls.pivoting.bpp`) over small candidate sets of cluster points,
with the candidate sets grown by batched matrix products (torch, on the GPU when there is
one).

Glossary:

- *hull* (:class:`Hull`): a cluster's distinct points, centred on their mean and scaled to
  unit radius; distances in *scaled units* are multiplied by the radius to give original
  ones;
- *candidate list* (or *pool*): the cluster points a problem's NNLS is solved over; the
  points that violate optimality join it (column generation);
- *certificate* (:func:`_certify`): the explicit hull point found (an upper bound) and the
  separation along its direction (a lower bound); the true distance lies between;
- *batch*: test points solved together against one hull (:func:`batch_rows`);
- *fallback*: Lawson-Hanson's NNLS over the whole cluster, for the rare problems the
  batched solver leaves uncertified (:func:`_nnls_fallback`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from ftprobe.geometry.hulls.inputs import check_query, torch_device
from ftprobe.geometry.hulls.pivoting import bpp
from ftprobe.geometry.hulls.sharing import in_threads, settle, share_tasks
from ftprobe.geometry.partition import ClusteringLike

# The certified error of a point-to-hull distance: at most RTOL * distance + ATOL * radius
# (the cluster's), which keeps 4-decimal output exact for distances up to about 50. One
# rule for the full distance matrix and for the nearest hulls, whose answers must agree.
RTOL = 1e-6
ATOL = 1e-7
# Candidate points a problem starts with, and the most it may grow to before the exact
# fallback: the defaults of every caller of the point-hull solver. The rounds' growth finds
# the support more cheaply than a wide start: on the 8 largest POS layer-6 clusters 16 took
# 0.93 of the time of 32 (12, 20 and 24 fell between), and POS layer 0's nearest hulls
# 0.83; DEP layer 6's nearest hulls were unchanged.
POOL_SIZE = 16
MAX_POOL = 512
Column = tuple[np.ndarray, np.ndarray]
"""One cluster's column of point-hull distances and their certified error bounds."""
# Points of a row rescored one by one in float64 (_top_score), past which the whole row is
# rescored by one product instead.
_RECHECK_MAX = 256
_GRAM_MAX = 6000  # clusters up to this size keep their Gram matrix; larger ones use products
_GROW = 16  # candidates added per round; more makes each pivoting step costlier
# Pivoting steps per round: only the last round's answer must be optimal, and the
# certificate says when it is. Since each problem's system is factorised at its own width
# (``pivoting._width_groups``), a pivot costs less than a round's scoring and growth: in
# paired runs on the large clusters of POS layer 6, 6 took 0.92 of the time of the code
# before the groups, 4 took 0.95.
_PIVOTS_PER_ROUND = 6
# Rounds of candidate growth before a problem goes to the (exact, one at a time) fallback.
_MAX_ROUNDS = 200
# Values of one batch's working set: the pool blocks (rows x width^2) and score rows
# (rows x m) are read and written several times per pivoting step, so a batch that stays
# in the CPU's caches runs about a fifth faster than one of ~256 MiB (POS layer 6).
_BATCH_VALUES = 2**21


F32_UNIT = 2.0**-24
"""float32's unit roundoff: one rounding moves a value by at most this times its size."""


def f32_gamma(n: int) -> float:
    """Relative error bound of a float32 inner product of length ``n``, in any summation
    order and with both factors rounded to float32: ``|fl(a.b) - a.b| <= f32_gamma(n)
    |a| |b|`` (twice the classical bound, for margin). Every float32 product that a
    certified bound rests on is widened by it."""
    u = F32_UNIT
    return 2.0 * (n + 2) * u / (1.0 - (n + 2) * u)


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Torch's intra-op thread count set to ``n`` for the block (it is process-wide), then
    restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def batch_rows(m: int, pool_size: int) -> int:
    """Test points solved together against a hull of ``m`` points (see _BATCH_VALUES)."""
    width = min(m, 2 * pool_size)
    return max(16, min(4096, _BATCH_VALUES // (width * width + m)))


@dataclass(frozen=True)
class _PointHullResult:
    distance: np.ndarray  # (B,) certified distances (scaled units)
    error: np.ndarray  # (B,) certified bound on |distance - true distance| (scaled units)


def _nnls_fallback(c0: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """Convex weights of the point of ``conv(c0)`` nearest to ``x0`` (Lawson-Hanson NNLS).

    Used for the rare problems the batched solver leaves uncertified; exact but one problem
    at a time.
    """
    from scipy.optimize import nnls

    e = np.vstack([(c0 - x0).T, np.ones(len(c0))])
    f = np.zeros(len(e))
    f[-1] = 1.0
    u, _ = nnls(e, f, maxiter=50 * len(c0) + 1000)
    s = u.sum()
    return u / s if s > 0 else np.full(len(c0), 1.0 / len(c0))


def _certify(
    mu_y: torch.Tensor, x0: torch.Tensor, c0: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounds on the distance from each ``x0`` to ``conv(c0)`` given hull points ``mu_y``,
    in float64 throughout (for the fallback's answers).

    Returns ``(upper, lower)``: ``upper = ||x - y||`` is attained by the explicit hull
    point ``y``; ``lower`` is the separation along ``z = x - y`` (no hull point is closer
    than that): ``upper - (max_i c0_i . z - y . z) / upper``.
    """
    z = x0 - mu_y
    upper = torch.linalg.vector_norm(z, dim=1)
    gap = (z @ c0.T).amax(dim=1) - (mu_y * z).sum(dim=1)
    lower = upper - gap / upper.clamp_min(1e-300)
    return upper, lower


def _pool_block(
    rows_idx: torch.Tensor,
    cols_idx: torch.Tensor,
    proj_rows: torch.Tensor,
    proj_cols: torch.Tensor,
    shift: torch.Tensor,
    c0: torch.Tensor,
    gram: torch.Tensor | None,
) -> torch.Tensor:
    """Entries ``(c_i - x).(c_j - x) + 1`` of the least-distance NNLS matrix, per problem.

    ``rows_idx`` ``(B, r)`` and ``cols_idx`` ``(B, c)`` are cluster point indices (already
    clamped to be valid), ``proj_*`` their products with ``x`` and ``shift = |x|^2 + 1``.
    """
    m = len(c0)
    if gram is not None:
        flat = rows_idx[:, :, None] * m + cols_idx[:, None, :]
        g = gram.reshape(-1)[flat]
    else:
        g = c0[rows_idx] @ c0[cols_idx].transpose(1, 2)
    return g - proj_rows[:, :, None] - proj_cols[:, None, :] + shift[:, None, None]


def hull_points(mu: torch.Tensor, idx: torch.Tensor, c0: torch.Tensor) -> torch.Tensor:
    """``sum_l mu[b, l] * c0[idx[b, l]]`` for every problem ``b`` (a sparse product)."""
    bsz, width = idx.shape
    rows = torch.arange(bsz, device=c0.device).repeat_interleave(width)
    weights = torch.sparse_coo_tensor(
        torch.stack([rows, idx.reshape(-1)]),
        mu.reshape(-1),
        size=(bsz, len(c0)),
        check_invariants=False,
    )
    return torch.sparse.mm(weights, c0)


def _top_score(
    x0: torch.Tensor,
    z: torch.Tensor,
    s: torch.Tensor,
    best: torch.Tensor,
    slack: torch.Tensor,
    c0: torch.Tensor,
    q: torch.Tensor,
    mu: torch.Tensor,
    pool: torch.Tensor,
    valid: torch.Tensor,
) -> torch.Tensor:
    """The largest exact score ``max_i c0_i . z`` of each row, from float32 scores ``s``
    within ``slack`` of the exact ones (``best``: their row maxima, in float64).

    Only the points whose float32 score comes within twice the slack of the row's best can
    be the maximum. Those in the row's candidate list (``pool``, with NNLS matrix ``q`` and
    weights ``mu``, the hull point's) get theirs from the NNLS system at no cost:
    ``(q mu)_i = 1 + x . z - c_i . z``. The others (usually none or a few) are recomputed
    in float64, or the whole row is where there are many.
    """
    qmu = torch.bmm(q, mu[:, :, None])[:, :, 0]
    weighs = (mu.sum(dim=1) - 1.0).abs() <= 1e-12  # the identity needs sum(mu) = 1
    xz = (x0 * z).sum(dim=1)
    top = torch.where(valid & weighs[:, None], (1.0 + xz)[:, None] - qmu, -torch.inf).amax(1)
    cut = (best - 3.0 * slack).float()  # 3: room for the cast's rounding
    near = s >= cut[:, None]
    # The candidate list's columns are out where the identity holds (their scores are in
    # top already); elsewhere they stay as they are.
    near.scatter_(1, pool, near.gather(1, pool) & ~weighs[:, None])
    many = near.sum(dim=1) > _RECHECK_MAX
    if bool(many.any()):
        top[many] = torch.maximum(top[many], (z[many] @ c0.T).amax(dim=1))
        near &= ~many[:, None]
    rows, cols = torch.nonzero(near, as_tuple=True)
    exact = (c0[cols] * z[rows]).sum(dim=1)
    return top.scatter_reduce(0, rows, exact, "amax")


def point_hull_chunk(
    x0: torch.Tensor,
    hull: Hull,
    *,
    rtol: float,
    atol: float,
    pool_size: int,
    max_pool: int,
    prune_at: torch.Tensor | None = None,
) -> _PointHullResult:
    """Distances from the rows of ``x0`` (centred and scaled like the hull) to ``hull``.

    Column generation: each problem solves the least-distance NNLS exactly over a list of
    candidate cluster points; one matrix product then checks every cluster point against
    the answer, and the points that violate optimality join the list, until none does.
    With ``prune_at`` (per row, scaled units), a problem also stops once its certified
    lower bound exceeds that distance, and comes back as ``inf``.

    The checking product runs in float32 (it is the solver's largest), widened by its
    rounding bound (:func:`f32_gamma`): it chooses the points that join, and it settles
    every row whose answer it shows to be short of optimal. A row it cannot settle gets
    the best points' scores again in float64 (:func:`_top_score`), so every certificate
    is a float64 one.
    """
    c0, gram, c32t = hull.c0, hull.gram, hull.c32t
    assert c0 is not None and c32t is not None
    bsz, dim = x0.shape
    m = len(c0)
    dev, dtype = x0.device, x0.dtype
    widen = f32_gamma(dim) * hull.reach
    shift_all = (x0 * x0).sum(dim=1) + 1.0
    proj = x0 @ c0.T  # (B, m): scores of the starting direction x - centroid
    if m <= pool_size:
        pool = torch.arange(m, device=dev).expand(bsz, m).clone()
    else:
        pool = torch.topk(proj, pool_size, dim=1).indices
    valid = torch.ones_like(pool, dtype=torch.bool)
    # Start with as many free variables as the system can hold without being singular.
    free = valid & (torch.arange(pool.shape[1], device=dev) < dim)[None, :]
    pw = proj.gather(1, pool)
    q = _pool_block(pool, pool, pw, pw, shift_all, c0, gram)
    upper = torch.zeros(bsz, dtype=dtype, device=dev)
    lower = torch.zeros(bsz, dtype=dtype, device=dev)
    todo = torch.arange(bsz, device=dev)
    pruned = torch.zeros(bsz, dtype=torch.bool, device=dev)
    rounds = 0
    while len(todo):
        rounds += 1
        # A few pivoting steps per round suffice: only the last round's answer must be
        # optimal, and the certificate below says when it is.
        u, solved, free = bpp(
            q,
            -torch.ones_like(pw),
            torch.full_like(pool, -1),
            valid,
            free,
            0,
            max_iter=_PIVOTS_PER_ROUND,
        )
        u = u * valid
        mu = u / u.sum(dim=1, keepdim=True).clamp_min(1e-300)
        # Padding points at a real candidate of its row (column 0 always is one), so that
        # scattering into a row's scores never writes one column twice with two values.
        wc = torch.where(valid, pool, pool[:, :1])
        y = hull_points(mu, wc, c0)
        z = x0[todo] - y
        up = torch.linalg.vector_norm(z, dim=1)
        level = (y * z).sum(dim=1)
        scores = z.float() @ c32t
        slack = widen * up  # |scores - c0 . z| <= slack
        tol = rtol * up + atol
        # The separation along z bounds the distance from below (see _certify); the float32
        # scores bound it from both sides. Rows whose bound could meet the tolerance get
        # the exact one.
        far = up.clamp_min(1e-300)
        top32 = scores.amax(dim=1).double()
        lo = up - (top32 + slack - level) / far
        hi = up - (top32 - slack - level) / far
        maybe = (up - hi.clamp_min(0.0) <= tol) | (up <= atol)
        if bool(maybe.any()):
            at = torch.nonzero(maybe).flatten()
            top = _top_score(
                x0[todo[at]],
                z[at],
                scores[at],
                top32[at],
                slack[at],
                c0,
                q[at],
                mu[at],
                wc[at],
                valid[at],
            )
            lo[at] = up[at] - (top - level[at]) / far[at]
        lower[todo] = lo
        upper[todo] = up
        ok = (up - lo.clamp_min(0.0) <= tol) | (up <= atol)
        if prune_at is not None:
            cut = lo > prune_at[todo]
            pruned[todo[cut]] = True
            ok |= cut
        # Cluster points beyond the supporting plane at y join the candidate list: every
        # point whose float32 score could be beyond it.
        scores.scatter_(1, wc, -torch.inf)
        viol = scores > (level + tol * up - 1.5 * slack).float()[:, None]
        n_viol = viol.sum(dim=1)
        grow = ~ok & ((n_viol > 0) | ~solved) & (valid.sum(dim=1) < max_pool)
        grow &= rounds < _MAX_ROUNDS
        stuck = ~ok & ~grow
        if bool(stuck.any()):
            c_np = c0.cpu().numpy()
            for r in torch.nonzero(stuck).flatten().tolist():
                b = int(todo[r])
                mu_full = _nnls_fallback(c_np, x0[b].cpu().numpy())
                yb = torch.from_numpy(mu_full @ c_np).to(dev, dtype)
                up_b, lo_b = _certify(yb[None], x0[b : b + 1], c0)
                upper[b] = up_b[0]
                lower[b] = lo_b[0]
        if not bool(grow.any()):
            break
        gi = torch.nonzero(grow).flatten()
        add = min(_GROW, int(n_viol[gi].max()))
        if add == 0:
            # Only unfinished pivoting: go on with the same candidate lists.
            todo, q, pool, pw = todo[gi], q[gi], pool[gi], pw[gi]
            free, valid = free[gi], valid[gi]
            continue
        new = torch.topk(torch.where(viol[gi], scores[gi], -torch.inf), add, dim=1)
        new_valid = torch.isfinite(new.values)
        new_idx = torch.where(new_valid, new.indices, 0)
        # The problems that go on keep their matrix; only the new rows are computed.
        todo = todo[gi]
        old_pool, old_pw = pool[gi].clamp_min(0), pw[gi]
        new_pw = proj[todo].gather(1, new_idx)
        pool = torch.cat([pool[gi], torch.where(new_valid, new.indices, -1)], dim=1)
        pw = torch.cat([old_pw, new_pw], dim=1)
        shift = shift_all[todo]
        width = pool.shape[1]
        q_new = torch.empty(len(gi), width, width, dtype=dtype, device=dev)
        q_new[:, : old_pool.shape[1], : old_pool.shape[1]] = q[gi]
        band = _pool_block(new_idx, pool.clamp_min(0), new_pw, pw, shift, c0, gram)
        q_new[:, old_pool.shape[1] :, :] = band
        q_new[:, :, old_pool.shape[1] :] = band.transpose(1, 2)
        q = q_new
        free = torch.cat([free[gi] & valid[gi], new_valid], dim=1)
        valid = torch.cat([valid[gi], new_valid], dim=1)
    inside = upper <= atol
    dist = torch.where(inside, torch.zeros_like(upper), upper)
    err = torch.where(inside, upper, upper - lower.clamp_min(0.0))
    dist = torch.where(pruned, torch.inf, dist)
    return _PointHullResult(dist.cpu().numpy(), err.cpu().numpy())


@dataclass(frozen=True)
class Hull:
    """One cluster's distinct points, centred on their mean and scaled to unit radius."""

    points: np.ndarray  # distinct member vectors (original units)
    centre: np.ndarray
    radius: float
    c0: torch.Tensor | None  # (m, d) centred, scaled points; None for a single point
    gram: torch.Tensor | None  # c0 c0^T when small enough to keep
    # c0' in float32, stored (d, m): the products that only bound or choose run on it, and
    # BLAS multiplies by it faster in this layout than by the transposed (m, d) one
    c32t: torch.Tensor | None
    reach: float  # largest norm of the rows of c0 (1 up to rounding; 0 for a single point)


def hull_of(x: np.ndarray, members: np.ndarray, dev: torch.device) -> Hull:
    """The :class:`Hull` of the points ``x[members]``, on the device ``dev``."""
    rows = x[members]
    # Most clusters of a layer-0 partition are copies of one vector (a word at one position
    # with several labels): np.unique over rows costs about 2 ms even for those.
    c = rows[:1] if (rows == rows[0]).all() else np.unique(rows, axis=0)
    centre = c.mean(axis=0)
    c0 = c - centre
    radius = float(np.sqrt((c0 * c0).sum(axis=1).max()))
    if len(c) == 1 or radius == 0.0:
        return Hull(c, centre, 0.0, None, None, None, 0.0)
    c0_t = torch.from_numpy(c0 / radius).to(dev)
    gram = c0_t @ c0_t.T if len(c) <= _GRAM_MAX else None
    reach = float(torch.linalg.vector_norm(c0_t, dim=1).max())
    return Hull(c, centre, radius, c0_t, gram, c0_t.T.float().contiguous(), reach)


def point_hull_column(
    points: np.ndarray,
    x: np.ndarray,
    members: np.ndarray,
    *,
    device: str | torch.device = "auto",
    rtol: float = RTOL,
    atol: float = ATOL,
    pool_size: int = POOL_SIZE,
    max_pool: int = MAX_POOL,
    chunk_size: int | None = None,
    bar: tqdm | None = None,
) -> Column:
    """Certified distances, and their error bounds, from every point to the hull of
    ``x[members]``: one column of :func:`point_hull_distances` (see there for the
    parameters). It is the only place a column is computed, so a column computed on its
    own (in another process, say) equals the one computed with the others."""
    dev = torch_device(device)
    hull = hull_of(x, np.asarray(members), dev)
    if hull.c0 is None:
        if bar is not None:
            bar.update(len(points))
        return np.linalg.norm(points - hull.points[0], axis=1), np.zeros(len(points))
    dist = np.zeros(len(points))
    errs = np.zeros(len(points))
    step = chunk_size or batch_rows(len(hull.points), pool_size)
    for start in range(0, len(points), step):
        stop = min(start + step, len(points))
        x0 = torch.from_numpy((points[start:stop] - hull.centre) / hull.radius).to(dev)
        res = point_hull_chunk(
            x0, hull, rtol=rtol, atol=atol, pool_size=pool_size, max_pool=max_pool
        )
        dist[start:stop] = res.distance * hull.radius
        errs[start:stop] = res.error * hull.radius
        if bar is not None:
            bar.update(stop - start)
    return dist, errs


def point_hull_distances(
    points: np.ndarray,
    x: np.ndarray,
    clustering: ClusteringLike,
    *,
    device: str | torch.device = "auto",
    rtol: float = RTOL,
    atol: float = ATOL,
    pool_size: int = POOL_SIZE,
    max_pool: int = MAX_POOL,
    chunk_size: int | None = None,
    progress: bool = True,
    with_errors: bool = False,
    ahead: Mapping[int, Future[Column]] | None = None,
    helper: Callable[[np.ndarray], Future[Column]] | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Distance from every point to the convex hull of every cluster.

    ``points`` is ``(n_points, d)``; ``x`` the ``(n, d)`` training points that
    ``clustering`` partitions into K clusters. Returns ``(n_points, K)`` distances, 0 for
    a point inside a hull. Each distance comes with a certified error bound (the gap between
    the explicit hull point found and the separation along its direction), which the solver
    drives below ``rtol * distance + atol * radius`` (``radius``: the cluster's largest
    distance from its centroid); the defaults keep 4-decimal output exact for distances up
    to about 50. With ``with_errors=True`` the bounds are returned too.

    ``pool_size`` cluster points per problem start the candidate lists, which grow by the
    points that violate optimality (at most ``max_pool``; past that, or when pivoting
    stalls, an exact Lawson-Hanson NNLS over the whole cluster settles the problem).
    ``chunk_size`` test points are solved together (default: sized to stay in cache). Use
    one torch thread on a busy CPU: the work is many small batched factorisations. When only
    the nearest cluster is wanted, :func:`~ftprobe.geometry.hulls.nearest_hulls` (with its
    distance) or :func:`~ftprobe.geometry.hulls.nearest_groups` (without) is much faster.

    ``ahead`` maps clusters to columns already being computed elsewhere
    (:func:`point_hull_column` with the same points and settings, in another process):
    they are taken from there. ``helper(members)`` computes a column there: it then takes
    clusters from the same queue as this process's threads, which are one fewer. A column
    whose computation failed there is computed here.
    """
    x, pts, assignment, k, dev = check_query(points, x, clustering, device)
    dist = np.zeros((len(pts), k))
    errs = np.zeros((len(pts), k))
    bar = tqdm(total=k * len(pts), desc="point-hull distances", disable=not progress)
    ahead = dict(ahead or {})

    def solve(ci: int) -> None:
        dist[:, ci], errs[:, ci] = point_hull_column(
            pts,
            x,
            np.flatnonzero(assignment == ci),
            device=dev,
            rtol=rtol,
            atol=atol,
            pool_size=pool_size,
            max_pool=max_pool,
            chunk_size=chunk_size,
            bar=bar,
        )

    # One cluster per thread of the torch thread budget, each running torch on one thread:
    # the work is many small batched factorisations, which torch runs one matrix after the
    # other whatever its thread count, so clusters side by side use the CPUs and one
    # cluster's threads mostly wait. Torch releases the GIL.
    workers = max(1, min(torch.get_num_threads(), k)) if dev.type == "cpu" else 1
    # Larger clusters first, so that the workers finish together.
    order = np.argsort(-np.bincount(assignment, minlength=k), kind="stable").tolist()
    todo = [ci for ci in order if ci not in ahead]

    def keep(ci: int, col: Column) -> None:
        dist[:, ci], errs[:, ci] = col
        bar.update(len(pts))

    local = max(1, workers - 1) if helper is not None else workers
    with _torch_threads(1) if in_threads(local, helper) else nullcontext():
        share_tasks(
            todo,
            solve,
            threads=local,
            helper=None if helper is None else lambda ci: helper(np.flatnonzero(assignment == ci)),
            keep=keep,
            helper_after=list(ahead.values()),
        )
    for ci, job in ahead.items():
        settle(ci, job.result, solve, keep)
    bar.close()
    if with_errors:
        return dist, errs
    return dist
