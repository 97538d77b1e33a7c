"""A batched exact solver for small convex QPs on simplices or the non-negative orthant.

Every room with many small problems solves them here, all of a batch at once: the pairs
of small clusters (:mod:`~ftprobe.geometry.hulls.matrix`), the test points against a
hull's candidate points (:mod:`~ftprobe.geometry.hulls.point`), and the exact polish of
the QP solver's answer for one pair (:mod:`~ftprobe.geometry.hulls.pair`).

Glossary:

- *problem*: ``min 1/2 x'Qx + c'x`` over ``x >= 0``, with ``sum(x[group g]) = 1`` for each
  *group* (a simplex; none for the least-distance NNLS);
- *free set*: the variables allowed to be positive; the others are fixed at 0;
- *KKT system*: the equations of the optimum on a free set (:func:`_kkt_solve`);
- *pivoting*: swapping, all at once, the free variables that came out negative and the
  fixed ones whose multiplier is negative (:func:`bpp`).
"""

from __future__ import annotations

import numpy as np
import torch


def _kkt_solve(
    q: torch.Tensor, c: torch.Tensor, member: torch.Tensor, free: torch.Tensor, n_groups: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Solve the equality-constrained QP on the free variables of every problem of a batch.

    Minimises ``1/2 x'Qx + c'x`` over the free variables (the others fixed at 0) subject to
    ``sum(x[group g]) = 1`` for each of ``n_groups`` groups. Returns ``x`` and the equality
    multipliers ``nu`` (``(B, n_groups)``).
    """
    bsz, n = c.shape
    dtype, dev = q.dtype, q.device
    if n_groups == 0:
        no_nu = torch.zeros(bsz, 0, dtype=dtype, device=dev)
        groups = _width_groups(free)
        if groups[0][0] is None:  # the whole batch as one
            return _solve_free(q, c, free, None, groups[0][1]), no_nu
        x = torch.zeros_like(c)
        for rows, width in groups:
            x[rows] = _solve_free(q, c, free, rows, width)
        return x, no_nu
    ff = free[:, :, None] & free[:, None, :]
    eye = torch.eye(n, dtype=dtype, device=dev).expand(bsz, n, n)
    m = torch.where(ff, q, torch.zeros((), dtype=dtype, device=dev))
    m = m + eye * (~free)[:, :, None]
    rhs = torch.where(free, -c, torch.zeros((), dtype=dtype, device=dev))
    groups = torch.arange(n_groups, device=dev)
    e = ((member[:, None, :] == groups[None, :, None]) & free[:, None, :]).to(dtype)
    top = torch.cat([m, e.transpose(1, 2)], dim=2)
    bottom = torch.cat([e, torch.zeros(bsz, n_groups, n_groups, dtype=dtype, device=dev)], dim=2)
    kkt = torch.cat([top, bottom], dim=1)
    full_rhs = torch.cat([rhs, torch.ones(bsz, n_groups, dtype=dtype, device=dev)], dim=1)
    sol, info = torch.linalg.solve_ex(kkt, full_rhs)
    if bool((info > 0).any()):
        bad = info > 0
        diag = torch.diagonal(m[bad], dim1=1, dim2=2).abs().amax(dim=1)
        ridge = torch.zeros_like(kkt[bad])
        ridge[:, :n, :n] = (1e-12 * diag.clamp_min(1e-300))[:, None, None] * eye[: int(bad.sum())]
        sol_bad, _ = torch.linalg.solve_ex(kkt[bad] + ridge, full_rhs[bad])
        sol = sol.clone()
        sol[bad] = sol_bad
    sol = torch.nan_to_num(sol, nan=0.0, posinf=0.0, neginf=0.0)
    return sol[:, :n] * free, sol[:, n:]


# Cost model of one free-block solve (a Cholesky factorisation and two triangular solves,
# float64, one CPU thread), in microseconds for a block of width w: A w^3 + B w^2, fitted
# to measured times (3 us at 24, 31 us at 64, 200 us at 128); and what one more batched
# solve costs besides (its dozen small torch calls, and the gathers; tuned on the
# point-hull problems of POS layer 6).
_COST_CUBE = 4.7e-5
_COST_SQUARE = 6.1e-3
_GROUP_OVERHEAD = 300.0
# Buckets of free-set sizes, about four per doubling: a group is one or more buckets.
_LADDER = np.array([8, 10, 12, 14, 16, 19, 23, 27, 32, 38, 45, 54, 64, 76, 91, 108, 128, 152, 181])


def _block_cost(width: int) -> float:
    return _COST_CUBE * width**3 + _COST_SQUARE * width**2


def _width_groups(free: torch.Tensor) -> list[tuple[torch.Tensor | None, int]]:
    """The problems of a batch in groups to be solved at their own widths: ``(rows, width)``
    (rows None: the whole batch), ``width`` the most free variables in the group.

    One batched factorisation pads every system to the widest one, and its cost is about
    cubic in that width; the free sets of the point-hull problems range from 20 to 120
    variables within one batch. On the CPU, problems are grouped by free-set size wherever
    a group of their own saves more than the call costs (in paired runs on the largest
    clusters of POS layer 6, the point-hull distances took 0.95 of the time, and 0.87 to
    0.92 together with the longer rounds this makes pay, see ``hulls.point``); on a GPU,
    where each call's fixed cost dominates, the batch is solved as one.
    """
    counts = free.sum(dim=1)
    if free.device.type != "cpu" or len(counts) < 2:
        return [(None, int(counts.max()) if len(counts) else 0)]
    cnt = counts.numpy()
    top = int(cnt.max())
    # No group can pay when even solving every problem at the narrowest width would not.
    if len(cnt) * (_block_cost(top) - _block_cost(int(cnt.min()))) <= _GROUP_OVERHEAD:
        return [(None, top)]
    bucket = np.searchsorted(_LADDER, cnt)
    n_in = np.bincount(bucket)
    widest = np.zeros(len(n_in), dtype=np.int64)
    np.maximum.at(widest, bucket, cnt)
    # From the widest bucket down: a bucket starts a group of its own when solving its
    # problems at their width instead of the current group's saves more than a call costs.
    lead_of = np.zeros(len(n_in), dtype=np.int64)
    present = np.flatnonzero(n_in)
    leader = int(present[-1])
    for b in present[::-1].tolist():
        saving = n_in[b] * (_block_cost(int(widest[leader])) - _block_cost(int(widest[b])))
        if saving > _GROUP_OVERHEAD:
            leader = b
        lead_of[b] = leader
    grp = lead_of[bucket]
    leaders = np.unique(grp)
    if len(leaders) == 1:
        return [(None, top)]
    groups = []
    for lead in leaders.tolist():
        rows = np.flatnonzero(grp == lead)
        groups.append((torch.from_numpy(rows), int(cnt[rows].max())))
    return groups


def _solve_free(
    q: torch.Tensor,
    c: torch.Tensor,
    free: torch.Tensor,
    rows: torch.Tensor | None,
    width: int,
) -> torch.Tensor:
    """The solutions of ``Q x = -c`` on the free variables of the problems ``rows``
    (None: all; zeros off the free variables), factorised at ``width``."""
    n = c.shape[1]
    if rows is not None:
        c, free = c[rows], free[rows]
    if width == 0:
        return torch.zeros_like(c)
    bsz = len(c)
    dtype = q.dtype
    if width < n:
        # Solve on the free variables only: the systems are often much smaller than the
        # candidate lists, and the factorisation cost is cubic in their size.
        sel = torch.topk(free.to(torch.int8), width, dim=1, sorted=False).indices
        fs = free.gather(1, sel)
        # One gather of the free block (a two-step gather builds a (B, width, n) copy).
        flat = sel[:, :, None] * n + sel[:, None, :]
        if rows is not None:
            # one flat gather (indexing by rows first would copy their whole blocks)
            flat += (rows * (n * n))[:, None, None]
            qs = q.reshape(1, -1).gather(1, flat.reshape(1, -1))
        else:
            qs = q.reshape(bsz, n * n).gather(1, flat.reshape(bsz, -1))
        qs = qs.reshape(bsz, width, width)
        cs = c.gather(1, sel)
    else:
        sel, fs, cs = None, free, c
        qs = q.clone() if rows is None else q[rows]
    # The block is a fresh copy: padding (selected but not free) becomes identity rows
    # and columns in place, without the masked copies of the general path below.
    fm = fs.to(dtype)
    if not bool(fs.all()):
        qs.mul_(fm[:, :, None]).mul_(fm[:, None, :])
        qs.diagonal(dim1=1, dim2=2).add_(1.0 - fm)
    chol, info = torch.linalg.cholesky_ex(qs)
    if bool((info > 0).any()):
        # Nearly dependent points: a tiny ridge on the free block keeps the system
        # solvable; the caller certifies whatever comes out.
        bad = torch.nonzero(info > 0).flatten()
        qb = qs[bad]
        ridge = 1e-12 * torch.diagonal(qb, dim1=1, dim2=2).abs().amax(dim=1)
        qb.diagonal(dim1=1, dim2=2).add_(ridge.clamp_min(1e-300)[:, None])
        chol[bad] = torch.linalg.cholesky_ex(qb)[0]
    # Two batched triangular solves: much less per-matrix overhead than cholesky_solve.
    rhs = (-cs * fm)[:, :, None]
    half = torch.linalg.solve_triangular(chol, rhs, upper=False)
    xs = torch.linalg.solve_triangular(chol.transpose(1, 2), half, upper=True)[:, :, 0]
    xs = torch.nan_to_num(xs, nan=0.0, posinf=0.0, neginf=0.0) * fm
    return xs if sel is None else torch.zeros_like(c).scatter_(1, sel, xs)


def bpp(
    q: torch.Tensor,
    c: torch.Tensor,
    member: torch.Tensor,
    valid: torch.Tensor,
    free: torch.Tensor,
    n_groups: int,
    *,
    max_iter: int = 60,
    backup: int = 3,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Block principal pivoting for a batch of small convex QPs.

    Each problem is ``min 1/2 x'Qx + c'x`` over ``x >= 0`` with ``sum(x[group g]) = 1`` for
    ``g < n_groups`` (``member[i]`` is the group of variable ``i``; ``-1`` for none),
    restricted to the ``valid`` variables. ``free`` is the starting guess of the support.

    Every iteration solves the KKT system on the current free set and then swaps, all at
    once, the free variables that came out negative and the fixed ones whose multiplier is
    negative (Kim & Park's NNLS method; Judice & Pires's rule falls back to swapping one
    variable when the number of violations stops falling, which makes it finite for
    NNLS). Returns ``x``, a per-problem flag saying whether the KKT conditions were met, and
    the last free sets (to resume from); callers certify the answer either way.
    """
    bsz, n = c.shape
    dev = c.device
    free = free & valid
    x = torch.zeros_like(c)
    done = torch.zeros(bsz, dtype=torch.bool, device=dev)
    best = torch.full((bsz,), n + 1, dtype=torch.long, device=dev)
    budget = torch.full((bsz,), backup, dtype=torch.long, device=dev)
    qscale = torch.diagonal(q, dim1=1, dim2=2).abs().amax(dim=1).clamp_min(1e-300)
    cscale = c.abs().amax(dim=1)
    order = torch.arange(n, device=dev)
    for _ in range(max_iter):
        todo = torch.nonzero(~done).flatten()
        if len(todo) == 0:
            break
        if len(todo) == bsz:
            qt, ct, mt, vt, ft = q, c, member, valid, free
        else:
            qt, ct, mt, vt, ft = q[todo], c[todo], member[todo], valid[todo], free[todo]
        xt, nu = _kkt_solve(qt, ct, mt, ft, n_groups)
        y = (qt @ xt[:, :, None])[:, :, 0] + ct
        if n_groups:
            y = y + torch.where(mt >= 0, nu.gather(1, mt.clamp_min(0)), 0.0)
        eps = 1e-11 * (qscale[todo] + cscale[todo])
        xeps = 1e-13 * xt.abs().amax(dim=1).clamp_min(1.0)
        bad = (ft & (xt < -xeps[:, None])) | (~ft & vt & (y < -eps[:, None]))
        n_bad = bad.sum(dim=1)
        ok = n_bad == 0
        x[todo[ok]] = xt[ok]
        done[todo[ok]] = True
        improved = n_bad < best[todo]
        best[todo] = torch.minimum(best[todo], n_bad)
        budget[todo] = torch.where(improved, backup, budget[todo] - 1)
        whole = improved | (budget[todo] > 0)
        last = torch.where(bad, order, -1).amax(dim=1)
        single = order[None, :] == last[:, None]
        flip = torch.where(whole[:, None], bad, single & bad)
        new_free = (ft ^ flip) & vt
        for g in range(n_groups):
            # Each simplex needs a free variable; bring back the most attractive one.
            in_g = (mt == g) & vt
            empty = ~(new_free & in_g).any(dim=1)
            if bool(empty.any()):
                score = torch.where(in_g, y, torch.inf)
                pick = score.argmin(dim=1)
                rows = torch.nonzero(empty).flatten()
                new_free[rows, pick[rows]] = True
        new_free[ok] = ft[ok]
        free = free.clone()
        free[todo] = new_free
        x[todo[~ok]] = xt[~ok]
    return x.clamp_min(0.0), done, free
