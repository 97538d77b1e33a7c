"""The distance between the convex hulls of two point sets, certified (one pair).

The distance is the smallest Euclidean distance between the hulls: the width of the
hard-margin SVM that separates them, 0 when they overlap. :func:`hull_distance` finds the
minimum-norm point of ``conv(A) - conv(B)`` (the hard-margin dual) by Wolfe's active-set
method on an updated Cholesky factor (:func:`min_norm_pair`), scoring candidates against a
working set of points that grows by the points violating optimality (column generation):
only points that can be support vectors are ever factored. Should Wolfe's method stall
numerically, HiGHS's QP solver on the working set settles the pair (:func:`dual_qp`), and
when the sets are still not separated after a few rounds an LP decides whether they overlap
at all (:func:`separable_lp`).

Glossary:

- *weights* ``alpha``, ``beta``: convex weights on the points of ``A`` and ``B``; they give
  the two explicit hull points ``p = alpha @ A`` and ``q = beta @ B``;
- *upper bound*: ``|p - q|``, a distance the hulls attain;
- *lower bound*: the gap between the hulls' projections on ``z = p - q``: no two points of
  the hulls are closer (:func:`_bounds`); the certified *gap* is ``upper - lower``;
- *support*: the points with positive weight;
- *working set*: the points candidates are scored against; the points that violate
  optimality join it, and a *round* scores every point against its optimum;
- *overlap*: no separating direction exists (the LP's proof, or two hull points within
  :data:`_OVERLAP_TOL` of the coordinates' scale); the distance is then 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import highspy
import numpy as np
import torch
from scipy.linalg.blas import dtpsv
from scipy.linalg.lapack import dpotrf
from threadpoolctl import ThreadpoolController

from ftprobe.errors import FtprobeError
from ftprobe.geometry.hulls.inputs import check_points
from ftprobe.geometry.hulls.pivoting import bpp

# highspy.Highs() prints HiGHS's copyright banner as it is made, before
# output_flag can be turned off (its __init__ enables callbacks, which logs).
# Its C++ base class has every method used here and prints nothing.
_Highs = highspy.Highs.__base__
# Rounds of the QP solver without separation before an LP checks for overlap: overlapping
# hulls make the working set grow round after round towards a distance of 0 that it never
# certifies, which the LP proves at once.
LP_AFTER = 12
# Hull points this close (relative to the coordinates' scale) with no separating direction
# found count as overlapping: HiGHS's QP tolerances put distances near 0 at about 1e-7.
_OVERLAP_TOL = 1e-6


@dataclass(frozen=True)
class HullDistance:
    """The distance between two convex hulls, with its certificate.

    ``distance`` is the certified answer: the true distance lies in ``[lower, upper]`` and
    ``distance`` is ``upper`` (the distance between the two explicit hull points
    ``alpha @ A`` and ``beta @ B``), or ``0.0`` when the hulls overlap (``overlap``: no
    separating direction exists, or the two hull points are within ``1e-6`` of the
    coordinates' scale of each other; the error bound is then ``upper``). ``w, b`` is the
    max-margin hyperplane, scaled as in the hard-margin SVM: ``w.a + b >= 1`` on ``A`` and
    ``w.b + b <= -1`` on ``B`` up to ``gap``, and ``2 / ||w||`` is the margin width.
    When the hulls overlap there is no such plane and ``w`` is all zeros.

    ``certificate`` says what the answer rests on: ``"points"``, the explicit weights
    ``alpha, beta`` and the bounds checked against every point; ``"lp"``, HiGHS's proof
    that the separation LP is infeasible (overlap found without explicit weights, which
    are then all zero).
    """

    distance: float
    lower: float
    upper: float
    w: np.ndarray
    b: float
    alpha: np.ndarray
    beta: np.ndarray
    overlap: bool
    rounds: int = 1
    certificate: Literal["points", "lp"] = "points"

    @property
    def gap(self) -> float:
        """Certified bound on the error of ``distance``."""
        return max(self.upper - max(self.lower, 0.0), 0.0)


def dual_qp(ma: np.ndarray, mb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-norm point of ``conv(ma) - conv(mb)`` by HiGHS's active-set QP solver.

    Variables are the convex weights ``(alpha, beta)``; the Hessian is the Gram matrix of
    ``[ma; -mb]``. Returns clipped, renormalised weights (the caller certifies them).
    """
    na, nb = len(ma), len(mb)
    m = np.concatenate([ma, -mb])
    n = na + nb
    q = m @ m.T
    h = _Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = 2
    lp.col_cost_ = np.zeros(n)
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = np.full(n, highspy.kHighsInf)
    lp.row_lower_ = np.ones(2)
    lp.row_upper_ = np.ones(2)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.arange(n + 1, dtype=np.int32)
    lp.a_matrix_.index_ = (np.arange(n) >= na).astype(np.int32)
    lp.a_matrix_.value_ = np.ones(n)
    hess = highspy.HighsHessian()
    hess.dim_ = n
    hess.format_ = highspy.HessianFormat.kTriangular
    lengths = np.arange(n, 0, -1)
    hess.start_ = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    rows = np.arange(n)
    tri = rows[None, :] >= rows[:, None]  # tri[j, i]: row i in column j's lower part
    hess.index_ = np.nonzero(tri)[1].astype(np.int32)
    hess.value_ = q.T[tri]
    model = highspy.HighsModel()
    model.lp_ = lp
    model.hessian_ = hess
    h.passModel(model)
    h.run()
    lam = np.asarray(h.getSolution().col_value, dtype=np.float64)
    if lam.shape != (n,) or not np.all(np.isfinite(lam)):
        raise FtprobeError(f"HiGHS returned no QP solution ({h.getModelStatus()})")
    lam = np.clip(lam, 0.0, None)
    alpha, beta = lam[:na], lam[na:]
    sa, sb = alpha.sum(), beta.sum()
    # HiGHS always returns weights summing to 1 within its tolerance; guard the degenerate
    # case anyway so that the certificate below is always about true convex combinations.
    alpha = alpha / sa if sa > 0 else np.full(na, 1.0 / na)
    beta = beta / sb if sb > 0 else np.full(nb, 1.0 / nb)
    return alpha, beta


def separable_lp(a: np.ndarray, b: np.ndarray, time_limit: float) -> bool | None:
    """Whether some ``(w, b)`` has ``w.a + b >= 1`` on ``a`` and ``w.x + b <= -1`` on ``b``.

    HiGHS's interior-point LP solver decides it (the simplex method stalls on some large
    nearly-separable pairs); ``None`` when it cannot tell within ``time_limit`` seconds.
    Used when column generation has not separated two hulls after a few rounds: if they
    overlap, the distance would otherwise need many rounds to reach 0.
    """
    na, nb = len(a), len(b)
    d = a.shape[1]
    n = na + nb
    h = _Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("solver", "ipm")
    h.setOptionValue("time_limit", float(time_limit))
    lp = highspy.HighsLp()
    lp.num_col_ = d + 1
    lp.num_row_ = n
    lp.col_cost_ = np.zeros(d + 1)
    lp.col_lower_ = np.full(d + 1, -highspy.kHighsInf)
    lp.col_upper_ = np.full(d + 1, highspy.kHighsInf)
    lp.row_lower_ = np.r_[np.ones(na), np.full(nb, -highspy.kHighsInf)]
    lp.row_upper_ = np.r_[np.full(na, highspy.kHighsInf), -np.ones(nb)]
    mat = np.hstack([np.concatenate([a, b]), np.ones((n, 1))])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.arange(0, n * (d + 1) + 1, n, dtype=np.int32)
    lp.a_matrix_.index_ = np.tile(np.arange(n, dtype=np.int32), d + 1)
    lp.a_matrix_.value_ = np.asfortranarray(mat).ravel(order="F")
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kOptimal:
        return True
    if status == highspy.HighsModelStatus.kInfeasible:
        return False
    return None


def _polish(
    ma: np.ndarray, mb: np.ndarray, alpha: np.ndarray, beta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact optimum of the working-set QP, pivoting from the QP solver's support.

    HiGHS stops within its tolerances (about 1e-7); one or two exact KKT solves on its
    support usually give the optimum to rounding error. The caller keeps whichever answer
    certifies the tighter bounds.
    """
    m = torch.from_numpy(np.concatenate([ma, -mb]))[None]
    q = m @ m.transpose(1, 2)
    n = q.shape[1]
    member = torch.from_numpy(np.r_[np.zeros(len(ma)), np.ones(len(mb))].astype(np.int64))[None]
    lam = np.concatenate([alpha, beta])
    free = torch.from_numpy(lam > 1e-9 * lam.max())[None]
    valid = torch.ones(1, n, dtype=torch.bool)
    x, _, _ = bpp(q, torch.zeros(1, n, dtype=q.dtype), member, valid, free, 2, max_iter=20)
    out = x[0].numpy()
    pa, pb = out[: len(ma)], out[len(ma) :]
    if pa.sum() <= 0 or pb.sum() <= 0:
        return alpha, beta
    return pa / pa.sum(), pb / pb.sum()


class _GrowingCholesky:
    """Upper-triangular ``R`` with ``R'R`` the Gram matrix of a growing and shrinking set.

    Kept twice: dense (for deletions) and in BLAS's packed column order, so that a column
    can be appended in place and triangular solves on the leading block need no copy.
    """

    def __init__(self, capacity: int) -> None:
        self.dense = np.zeros((capacity, capacity))
        self.packed = np.zeros(capacity * (capacity + 1) // 2)
        cols = np.repeat(np.arange(capacity), np.arange(1, capacity + 1))
        starts = np.repeat(np.cumsum(np.r_[0, np.arange(1, capacity)]), np.arange(1, capacity + 1))
        # Position in ``dense`` (flattened) of each packed entry.
        self._flat = (np.arange(len(cols)) - starts) * capacity + cols
        self.size = 0

    def solve(self, rhs: np.ndarray, transposed: bool) -> np.ndarray:
        """``R^-T rhs`` (``transposed``) or ``R^-1 rhs`` on the current block."""
        return dtpsv(self.size, self.packed, rhs, trans=int(transposed))[: self.size]

    def append(self, column: np.ndarray, diagonal: float) -> None:
        s = self.size
        self.dense[:s, s] = column
        self.dense[s, : s + 1] = 0.0
        self.dense[s, s] = diagonal
        start = s * (s + 1) // 2
        self.packed[start : start + s] = column
        self.packed[start + s] = diagonal
        self.size = s + 1

    def delete(self, k: int) -> bool:
        """Remove row and column ``k``; ``False`` when the refactorisation breaks down."""
        s = self.size
        r = self.dense
        if k < s - 1:
            # Rows before k keep their factor; the trailing block is refactorised from the
            # columns it keeps (one small Gram product and Cholesky).
            tail = r[k:s, k + 1 : s]
            chol, info = dpotrf(tail.T @ tail, lower=0, clean=1)
            if info != 0:
                return False
            r[:k, k : s - 1] = r[:k, k + 1 : s]
            r[k : s - 1, k : s - 1] = chol
        r[s - 1, :s] = 0.0
        r[:s, s - 1] = 0.0
        self.size = s - 1
        lo, hi = k * (k + 1) // 2, (s - 1) * s // 2
        self.packed[lo:hi] = r.reshape(-1)[self._flat[lo:hi]]
        return True


_BLAS: ThreadpoolController | None = None


def _solve_2x2_ones(g: np.ndarray) -> np.ndarray:
    """``g^-1 (1, 1)`` for a symmetric positive definite 2 x 2 ``g``.

    Wolfe's method solves one such system per step, a hundred thousand for the 251 pairs of
    ``dis.txt`` on POS layer 6, and ``np.linalg.solve``'s call costs ten times the
    arithmetic. Nearly singular systems still go to it (they are never met in practice).
    """
    a, b, d = float(g[0, 0]), float(g[0, 1]), float(g[1, 1])
    det = a * d - b * b
    if not det > 1e-12 * a * d:
        return np.linalg.solve(g, np.ones(2))
    return np.array([(d - b) / det, (a - b) / det])


def _one_blas_thread():  # noqa: ANN202 (a threadpoolctl context manager)
    """Context in which BLAS runs single-threaded.

    Wolfe's method makes thousands of small BLAS calls; split over threads (on a busy
    machine above all) they are many times slower than on one.
    """
    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def min_norm_pair(
    a0: np.ndarray,
    b0: np.ndarray,
    work_a: np.ndarray,
    work_b: np.ndarray,
    *,
    rtol: float,
    atol: float,
    add_size: int,
    max_iter: int = 20000,
) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Minimum-norm point of ``conv(a0) - conv(b0)`` by Wolfe's method, column-generated.

    Wolfe's algorithm moves the *support* (the points with positive weight) one point at a
    time: the point that violates optimality most joins, the exact minimiser on the affine
    hull of the support is computed from an updated Cholesky factor, and when it leaves
    the simplices the weights step back to the boundary and that point leaves. Candidates
    are scored against a working set (``work_a``, ``work_b`` to start) and, when none of it
    violates optimality, against all points; the most violated ones join it.

    Returns the convex weights ``alpha``, ``beta`` and the number of full scoring rounds
    once the certified gap is within ``rtol * upper + atol`` (or the hull points coincide
    within ``_OVERLAP_TOL``); ``None`` when the method stalls numerically (the caller then
    uses the QP solver).
    """
    na, nb = len(a0), len(b0)
    pts = np.concatenate([a0, -b0])  # the Minkowski difference's generators
    group = np.r_[np.zeros(na, np.int64), np.ones(nb, np.int64)]
    n, dim = pts.shape
    cap = min(n, dim + 3)
    in_work = np.zeros(n, dtype=bool)
    in_work[work_a] = True
    in_work[na + work_b] = True
    widx = np.flatnonzero(in_work)
    wpts = pts[widx]
    wgroup = group[widx]
    supp = np.zeros(cap, dtype=np.int64)  # support, in the factor's order
    svec = np.zeros((cap, dim))
    sgroup = np.zeros(cap, dtype=np.int64)
    onehot = np.zeros((cap, 2))
    # The matrix factored is v_i.v_j + [same group] (positive definite on supports that
    # Wolfe's rule keeps affinely independent); u = R^-T E' follows it.
    fac = _GrowingCholesky(cap)
    u = np.zeros((cap, 2))

    def add(i: int) -> bool:
        s = fac.size
        if s >= cap:
            return False
        v, g = pts[i], group[i]
        q = svec[:s] @ v + (sgroup[:s] == g)
        r = fac.solve(q, True) if s else np.zeros(0)
        qii = float(v @ v) + 1.0
        rho2 = qii - float(r @ r)
        if rho2 <= 1e-13 * qii:
            return False  # numerically dependent on the support
        rho = np.sqrt(rho2)
        fac.append(r, rho)
        e = np.zeros(2)
        e[g] = 1.0
        u[s] = (e - r @ u[:s]) / rho
        supp[s], svec[s], sgroup[s], onehot[s] = i, v, g, e
        return True

    if not (add(int(work_a[0])) and add(na + int(work_b[0]))):
        return None
    lam = np.zeros(cap)
    lam[:2] = 1.0
    z = lam[:2] @ svec[:2]
    level = svec[:2] @ z  # per group: the score every support point of the group has
    rounds = 0
    for _ in range(max_iter):
        s = fac.size
        upper = float(np.sqrt(z @ z))
        tol = rtol * upper + atol
        viol = level[wgroup] - wpts @ z
        k = int(np.argmax(viol))
        if viol[k] <= 0.5 * tol * upper or upper <= _OVERLAP_TOL:
            rounds += 1
            scores = pts @ z
            if upper <= atol:
                break
            lower = float(scores[:na].min() + scores[na:].min()) / upper
            if upper - max(lower, 0.0) <= tol or (lower <= 0.0 and upper <= _OVERLAP_TOL):
                break
            vall = level[group] - scores
            cand = np.flatnonzero((vall > 0.5 * tol * upper) & ~in_work)
            if len(cand) == 0:
                return None
            ca, cb = cand[group[cand] == 0], cand[group[cand] == 1]
            new = np.r_[ca[np.argsort(-vall[ca])][:add_size], cb[np.argsort(-vall[cb])][:add_size]]
            in_work[new] = True
            widx = np.r_[widx, new]
            wpts = np.vstack([wpts, pts[new]])
            wgroup = group[widx]
            continue
        if not add(int(widx[k])):
            return None
        s += 1
        lam[s - 1] = 0.0
        while True:
            # Affine minimiser on the support: alpha = R^-1 u c with c = (u'u)^-1 1.
            c = _solve_2x2_ones(u[:s].T @ u[:s])
            alpha = fac.solve(u[:s] @ c, False)
            if alpha.min() > 0.0:
                lam[:s] = alpha
                break
            # Step back to the simplices' boundary; the point that reaches 0 leaves.
            neg = alpha <= 0.0
            cur = lam[:s]
            theta = float(np.min(cur[neg] / (cur[neg] - alpha[neg])))
            cur = cur + theta * (alpha - cur)
            kk = int(np.argmin(np.where(neg, cur, np.inf)))
            if not fac.delete(kk):
                return None
            for arr in (supp, svec, sgroup, onehot):
                arr[kk : s - 1] = arr[kk + 1 : s].copy()
            cur = np.clip(np.delete(cur, kk), 0.0, None)
            s -= 1
            u[:s, 0] = fac.solve(onehot[:s, 0].copy(), True)
            u[:s, 1] = fac.solve(onehot[:s, 1].copy(), True)
            g0 = sgroup[:s] == 0
            if not g0.any() or g0.all():
                return None
            cur[g0] /= cur[g0].sum()
            cur[~g0] /= cur[~g0].sum()
            lam[:s] = cur
        z = lam[:s] @ svec[:s]
        level = c - 1.0
    else:
        return None
    s = fac.size
    weights = np.zeros(n)
    weights[supp[:s]] = np.clip(lam[:s], 0.0, None)
    alpha_w, beta_w = weights[:na], weights[na:]
    if alpha_w.sum() <= 0 or beta_w.sum() <= 0:
        return None
    return alpha_w / alpha_w.sum(), beta_w / beta_w.sum(), rounds


def _bounds(
    a0: np.ndarray, b0: np.ndarray, p: np.ndarray, q: np.ndarray
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Upper and lower bounds on the hull distance from hull points ``p`` and ``q``."""
    z = p - q
    upper = float(np.linalg.norm(z))
    sa = a0 @ z
    sb = b0 @ z
    lower = float((sa.min() - sb.max()) / upper) if upper > 0 else 0.0
    return upper, lower, sa, sb


def hull_distance(
    a: np.ndarray,
    b: np.ndarray,
    *,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    init_size: int = 64,
    add_size: int = 64,
    max_rounds: int = 100,
    lp_time_limit: float = 120.0,
) -> HullDistance:
    """Smallest Euclidean distance between ``conv(a)`` and ``conv(b)``, certified.

    ``a`` is ``(n_a, d)``, ``b`` is ``(n_b, d)``. This is the width of the hard-margin SVM
    separating the two sets, ``0`` when they cannot be strictly separated. Points join the
    working set until the certified ``gap`` (``upper - lower``) is at most
    ``rtol * distance + atol * scale`` (``scale``: the largest coordinate of a point
    relative to the pair's centre) or no point outside it violates optimality; ``gap``
    reports what was achieved and ``rounds`` how many times all points were scored against
    the working set's optimum. Wolfe's method solves the pair (BLAS on one thread: its many
    small calls only lose on more); if it stalls numerically, HiGHS's QP solver on the
    working set does (``max_rounds`` rounds); when the sets are still not separated after a
    few of those, an LP decides whether they overlap at all (``lp_time_limit`` seconds).
    """
    a = check_points("a", a)
    b = check_points("b", b, a.shape[1])
    with _one_blas_thread():
        return _hull_distance(
            a,
            b,
            rtol=rtol,
            atol=atol,
            init_size=init_size,
            add_size=add_size,
            max_rounds=max_rounds,
            lp_time_limit=lp_time_limit,
        )


def _hull_distance(
    a: np.ndarray,
    b: np.ndarray,
    *,
    rtol: float,
    atol: float,
    init_size: int,
    add_size: int,
    max_rounds: int,
    lp_time_limit: float,
) -> HullDistance:
    # Translate and scale so that HiGHS's absolute tolerances mean the same for every pair.
    centre = 0.5 * (a.mean(axis=0) + b.mean(axis=0))
    a0, b0 = a - centre, b - centre
    scale = float(max(np.abs(a0).max(), np.abs(b0).max(), 1e-300))
    a0 /= scale
    b0 /= scale
    na, nb = len(a0), len(b0)

    if na + nb <= 2 * init_size:
        work_a, work_b = np.arange(na), np.arange(nb)
    else:
        # Start from the points that face the other set along the line between the centroids.
        v = b0.mean(axis=0) - a0.mean(axis=0)
        work_a = np.argsort(-(a0 @ v))[:init_size]
        work_b = np.argsort(b0 @ v)[:init_size]
    fast = min_norm_pair(a0, b0, work_a, work_b, rtol=rtol, atol=atol, add_size=add_size)
    if fast is not None:
        alpha, beta, rounds = fast
        p, q = alpha @ a0, beta @ b0
        z = p - q
        upper, lower, _, _ = _bounds(a0, b0, p, q)
        fast_ok = (
            upper - max(lower, 0.0) <= rtol * upper + atol
            or upper <= atol
            or (lower <= 0.0 and upper <= _OVERLAP_TOL)
        )
    if fast is None or not fast_ok:
        # Wolfe's method stalled numerically (near-degenerate supports): HiGHS's QP solver
        # on the working set, grown by column generation, settles the pair.
        in_a = np.zeros(na, bool)
        in_a[work_a] = True
        in_b = np.zeros(nb, bool)
        in_b[work_b] = True

        rounds = 0
        lp_tried = False
        while True:
            rounds += 1
            wa, wb = np.flatnonzero(in_a), np.flatnonzero(in_b)
            alpha_w, beta_w = dual_qp(a0[wa], b0[wb])
            p = alpha_w @ a0[wa]
            q = beta_w @ b0[wb]
            upper, lower, sa, sb = _bounds(a0, b0, p, q)
            if upper - max(lower, 0.0) > rtol * upper + atol and lower > 0.0:
                # Separated but not yet within tolerance: the QP solver's own precision may be
                # what limits the bound; an exact solve on its support removes that.
                pol_a, pol_b = _polish(a0[wa], b0[wb], alpha_w, beta_w)
                p2, q2 = pol_a @ a0[wa], pol_b @ b0[wb]
                u2, l2, sa2, sb2 = _bounds(a0, b0, p2, q2)
                if u2 - max(l2, 0.0) < upper - max(lower, 0.0):
                    alpha_w, beta_w, p, q = pol_a, pol_b, p2, q2
                    upper, lower, sa, sb = u2, l2, sa2, sb2
            z = p - q
            tol = rtol * upper + atol
            converged = upper - max(lower, 0.0) <= tol
            if upper <= atol or (lower <= 0.0 and upper <= _OVERLAP_TOL):
                # The two explicit hull points (nearly) coincide: the hulls overlap, up to the
                # QP solver's precision (a distance near 0 is the root of a tiny objective).
                converged = True
            # Points beyond the supporting planes through p and q (optimality says none are).
            level = tol * upper
            viol_a = np.flatnonzero((sa < z @ p - level) & ~in_a)
            viol_b = np.flatnonzero((sb > z @ q + level) & ~in_b)
            stopping = converged or rounds >= max_rounds or (len(viol_a) == 0 and len(viol_b) == 0)
            # Overlapping hulls make the working set grow round after round towards a
            # distance of 0 that it never certifies; an LP proves the overlap at once. It runs
            # once, when the sets are still not separated after LP_AFTER rounds, after the
            # working sets could hold a full support in each hull (d + 1 points), or when the
            # rounds stop short of a certificate (the QP solver's precision limits it).
            if (
                not lp_tried
                and lower <= 0.0
                and not converged
                and (stopping or rounds >= LP_AFTER or min(len(wa), len(wb)) > a0.shape[1])
            ):
                lp_tried = True
                if separable_lp(a0, b0, lp_time_limit) is False:
                    # HiGHS proves that no plane separates the sets: the hulls overlap.
                    return HullDistance(
                        distance=0.0,
                        lower=0.0,
                        upper=0.0,
                        w=np.zeros(a.shape[1]),
                        b=0.0,
                        alpha=np.zeros(na),
                        beta=np.zeros(nb),
                        overlap=True,
                        rounds=rounds,
                        certificate="lp",
                    )
            if stopping:
                break
            in_a[viol_a[np.argsort(sa[viol_a])][:add_size]] = True
            in_b[viol_b[np.argsort(-sb[viol_b])][:add_size]] = True

        alpha = np.zeros(na)
        alpha[wa] = alpha_w
        beta = np.zeros(nb)
        beta[wb] = beta_w
    upper *= scale
    lower *= scale
    if upper <= atol * scale or (lower <= 0.0 and upper <= _OVERLAP_TOL * scale):
        # Distance 0 with a certified error of ``upper``.
        return HullDistance(
            distance=0.0,
            lower=min(lower, 0.0),
            upper=upper,
            w=np.zeros(a.shape[1]),
            b=0.0,
            alpha=alpha,
            beta=beta,
            overlap=True,
            rounds=rounds,
        )
    # Max-margin plane through the midpoint of the two closest points, scaled so that the
    # supporting planes are at +1 and -1.
    zz = z * scale
    pp = p * scale + centre
    qq = q * scale + centre
    w = 2.0 * zz / (upper * upper)
    bias = float(-(w @ (pp + qq)) / 2.0)
    return HullDistance(
        distance=upper,
        lower=lower,
        upper=upper,
        w=w,
        b=bias,
        alpha=alpha,
        beta=beta,
        overlap=False,
        rounds=rounds,
    )
