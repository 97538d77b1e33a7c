"""Exact strict linear separability of two point sets, with checked certificates.

Two finite sets P and Q are strictly linearly separable when some (w, b) has
``w.p + b > 0`` on every p of P and ``w.q + b < 0`` on every q of Q (equivalently,
after scaling, ``>= 1`` and ``<= -1``); otherwise their convex hulls share a point.

Every verdict carries a certificate that is checked on the data before it is returned:

* :class:`Separation` -- a hyperplane ``(w, b)``, ``||w|| = 1``, with every point of P at
  signed distance ``>= tol`` and every point of Q at ``<= -tol``, where
  ``tol = SEPARATION_TOL * scale`` (``scale``: the largest distance of a point from the
  centre used for the check): the hulls are more than ``TOUCH_TOL * scale`` apart.
* :class:`Overlap` -- convex weights on a few points of P and of Q whose weighted means
  coincide up to ``OVERLAP_TOL * scale`` (``= TOUCH_TOL * scale``, Euclidean norm): the
  hulls meet, or touch.

Hulls closer than ``TOUCH_TOL * scale`` (about float32's resolution, the precision the
vectors have) touch, and touching counts as overlap, the same convention as an LP
solver's feasibility tolerance, 100 times tighter than the published code's Gurobi
setting (1e-4). The two certificates exclude each other (two hull points within
``TOUCH_TOL * scale`` leave no room for a hyperplane that clears both sides by half of
it), so the verdict is fixed by the distance between the hulls, not by the route a solver
took to it: a solver that stops at a thinner hyperplane runs on to the widest one. (With
a hyperplane allowed to clear the sides by 1e-9 of the scale, pairs 1e-8 to 1e-6 apart
came out separated or touching depending on the warm start, so the partition of POS
layer 0 moved with any change to the solver, and the distance between two final clusters
could be 0 in ``dis.txt``, which uses this tolerance for touching too.)

How the verdict is found (cheapest first, each result verified):

1. caller-supplied hints (e.g. the hyperplane that separated a parent cluster), then the
   direction joining the two centroids;
2. the exact decision procedure: non-negative least squares on the dual of the separation
   problem, ``min ||P'l - Q'm||^2 + (1 - sum l)^2 + (1 - sum m)^2`` over ``l, m >= 0``. Its
   minimum is 0 exactly when the hulls meet (then ``l, m`` give the common point);
   otherwise its optimality conditions make the residual vector a strictly separating
   hyperplane. It is solved by an active-set (Lawson-Hanson) method that adds a block of
   the most violated points per step and keeps a QR factorisation of the points carrying
   weight up to date (its steps compiled: :mod:`ftprobe.geometry.active_set`); at most
   ``d + 2`` points carry weight, so the work is a few dozen steps on small dense
   matrices, whatever the number of points. It stops as soon as the
   current residual direction separates every point (any separating hyperplane is a
   certificate; the optimal one is not needed) or the residual is short enough for the
   weights to be a common point within the tolerance;
3. when the first separating hyperplane is too thin to verify, the same method runs on to
   its optimum, the widest hyperplane: it verifies, or the hulls touch and the optimum's
   weights (their nearest points) are the common point;
4. if that ever fails to produce a verified certificate (numerical trouble), the
   textbook one-point-at-a-time Lawson-Hanson (scipy) is tried, then the problem is
   handed to HiGHS as an LP (maximise the margin ``t`` with ``|w|_inf <= 1``),
   whose primal gives the hyperplane and whose duals give the common point; both are
   verified like any other certificate, and scipy's weights are a last candidate common
   point. Only when none verifies is :class:`SeparabilityError` raised.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg

from ftprobe.errors import FtprobeError
from ftprobe.geometry import active_set

TOUCH_TOL = 1e-6
"""Hulls closer than this, relative to the scale, touch, and touching counts as overlap.
It is about float32's resolution, the precision the vectors have."""

SEPARATION_TOL = TOUCH_TOL / 2
"""A separating hyperplane must clear every point by this much, relative to the scale, so
that a separation proves the hulls farther apart than :data:`TOUCH_TOL`."""

OVERLAP_TOL = TOUCH_TOL
"""Two weighted means closer than this, relative to the scale, are a common point."""

_OPTIMUM_SLACK = 1e-3
"""Relative slack for the touching points found at the exact method's optimum once its
widest hyperplane came out no wider than TOUCH_TOL: both are only as accurate as the
optimum, and a pair within that accuracy of the tolerance (5e-5 of it, seen on POS at
50,241 words) would otherwise verify neither way."""


_VANISHES = 1e-10
"""A residual this short is zero whatever the tolerance: the weights are a common point."""

_EARLY_OVERLAP = 0.25
"""An overlap proof stops once the dual's residual is this fraction of the overlap
tolerance (local units) or less. Its weights then give a common point: with ``rho`` the
residual, each side's weights sum to within ``rho`` of 1 and the weighted sums differ by at
most ``rho``, so the weighted means differ by at most ``(1 + 2R) rho / (1 - rho)`` for
points of norm at most ``R`` (1 in the local frame), under the tolerance with room for
rounding. The certificate is checked like any other."""

_WARM_MIN = 8
"""A warm start of at least this many points replaces the seed block (see below)."""

_WARM_BLOCK = 8
"""Columns added per step after a full warm start (32 from a cold start)."""

_BATCH_MIN = 128
"""Warm sets of at least this many points are factorised at once (see _factored)."""

_WORKING_MIN = 1024
"""Problems with more points than this price most steps on a working set (see below)."""

_WORKING_ADD = 256
"""Points that join the working set at each pass over all points."""


class SeparabilityError(FtprobeError):
    """No verified certificate could be produced (should not happen on finite data)."""


class Rows:
    """A set of points given as rows ``index`` of ``X`` (float64, C order): the exact
    method reads them where they lie. A big run checks a merged cluster, then a union of
    clusters, against others thousands of times; a copy of their points for each check
    was written and read again only to be priced once (about 17 s of a 225-s profile of
    the 50,241 POS words)."""

    __slots__ = ("X", "index", "_array")

    def __init__(self, X: np.ndarray, index: np.ndarray | None = None) -> None:
        self.X = X
        if index is None:
            self.index = np.arange(len(X))
            self._array: np.ndarray | None = X
        else:
            self.index = np.asarray(index, dtype=np.int64)
            self._array = None

    def __len__(self) -> int:
        return len(self.index)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.index), self.X.shape[1])

    def array(self) -> np.ndarray:
        """The points as one array (copied once, when asked for)."""
        if self._array is None:
            self._array = self.X[self.index]
        return self._array

    def at(self, pos: np.ndarray) -> np.ndarray:
        """The points at positions ``pos`` of the set."""
        if self._array is not None:
            return self._array[pos]
        return self.X[self.index[pos]]


def _array(P: np.ndarray | Rows) -> np.ndarray:
    return P.array() if isinstance(P, Rows) else P


def as_rows(P: np.ndarray | Rows) -> Rows:
    """``P`` as :class:`Rows` (an array: all of its rows, as float64 in C order)."""
    if isinstance(P, Rows):
        return P
    return Rows(np.ascontiguousarray(P, dtype=np.float64))


@dataclass(frozen=True, eq=False)
class Factor:
    """Where the exact method ended on a separable problem, to start a related one there.

    ``index``: the points that carried weight, as positions in ``[P; Q]`` (``len(P) + j``
    for Q's point ``j``), in the order of the columns of ``q @ r``, the QR factorisation of
    the dual's columns for them (see :func:`decide`). Only meaningful for problems posed
    in the same fixed ``frame``. Kept as the solver holds it, ``qt`` (``q`` transposed)
    and ``r`` (``m x len(index)``).

    A factor made for one start (:meth:`renumbered`) holds the solver's working arrays
    themselves (``qt`` and ``r`` are views of them, in ``work``): the solver takes them
    over instead of copying them again, and the factor serves that one start.
    """

    index: np.ndarray
    qt: np.ndarray
    r: np.ndarray
    work: list[tuple[np.ndarray, np.ndarray] | None] = field(default_factory=list, repr=False)

    @property
    def q(self) -> np.ndarray:
        """The orthogonal factor (a view of ``qt``)."""
        return self.qt.T

    def working_copy(self) -> tuple[np.ndarray, np.ndarray]:
        """``Qt`` and ``R`` as the solver takes them (it updates both in place): a copy of
        ``qt`` in C order, and ``r`` with zero columns up to ``m x m`` (for a factor made
        for one start, the arrays themselves)."""
        if self.work:
            handed = self.work[0]
            if handed is None:
                # the solver has changed those arrays: they no longer hold this start
                raise RuntimeError("a renumbered end state starts one problem only")
            self.work[0] = None
            return handed
        m = self.qt.shape[0]
        R = np.zeros((m, m))
        R[:, : len(self.index)] = self.r
        return np.array(self.qt, order="C"), R

    def renumbered(self, index: np.ndarray, present: np.ndarray, swapped: bool) -> Factor:
        """The same end state posed for another problem of the same frame, for one start.

        ``index``: the new position (in the new ``[P; Q]``) of each column's point,
        ``present``: whether it is still there at all (absent columns are deleted from the
        factorisation), ``swapped``: whether the points of P are now on Q's side and the
        other way round (the dual's columns are then the old ones times a fixed orthogonal
        map, applied to ``q``). The result holds fresh working arrays that the solver takes
        over (see the class); this factor is left as it is.
        """
        present = np.asarray(present, dtype=np.bool_)
        Qt, R = active_set.renumber(self.qt, self.r, present, bool(swapped))
        index = np.asarray(index)[present]
        return Factor(index, Qt, R[:, : len(index)], [(Qt, R)])


@dataclass(frozen=True, eq=False)
class Separation:
    """A strictly separating hyperplane: ``w.x + b > 0`` on P and ``< 0`` on Q.

    ``w`` has unit norm, so ``w.x + b`` is the signed distance of ``x`` to the hyperplane.
    ``gap`` is the verified width: ``min_P (w.p + b) - max_Q (w.q + b)``.
    """

    w: np.ndarray
    b: float
    gap: float
    support: tuple[np.ndarray, np.ndarray] | None = None
    factor: Factor | None = field(default=None, repr=False)
    """Where the exact method ended, when it found this hyperplane (see :class:`Factor`)."""

    def side(self, X: np.ndarray) -> np.ndarray:
        """Signed distances ``w.x + b`` of the rows of ``X``."""
        return X @ self.w + self.b

    def flipped(self) -> Separation:
        """The same hyperplane with P and Q exchanged."""
        sup = None if self.support is None else (self.support[1], self.support[0])
        return Separation(-self.w, -self.b, self.gap, sup)


@dataclass(frozen=True, eq=False)
class Overlap:
    """A point in both hulls: ``sum_i p_weights[i] P[p_index[i]]`` equals the Q-side mean.

    Weights are non-negative and sum to 1 on each side; ``residual`` is the verified
    Euclidean distance between the two weighted means (at most ``OVERLAP_TOL * scale``).
    """

    p_index: np.ndarray
    p_weights: np.ndarray
    q_index: np.ndarray
    q_weights: np.ndarray
    residual: float

    def flipped(self) -> Overlap:
        """The same certificate with P and Q exchanged."""
        return Overlap(self.q_index, self.q_weights, self.p_index, self.p_weights, self.residual)


Verdict = Separation | Overlap


def data_scale(*sets: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre (mean of all points) and scale (largest distance from it, at least 1e-300)."""
    allpts = np.concatenate([np.asarray(s, dtype=np.float64) for s in sets])
    centre = allpts.mean(axis=0)
    scale = float(np.sqrt(((allpts - centre) ** 2).sum(axis=1).max())) if len(allpts) else 0.0
    return centre, max(scale, 1e-300)


def separation_holds(
    cert: Separation, P: np.ndarray, Q: np.ndarray, scale: float, tol: float = SEPARATION_TOL
) -> bool:
    """True when ``cert`` puts every row of P at ``>= tol*scale`` and of Q at ``<= -tol*scale``.

    ``P`` and ``Q`` must be in the coordinates the certificate was made for; either may be
    empty. Its ``w`` must have unit norm (checked).
    """
    lo_p = float(np.min(P @ cert.w)) if len(P) else np.inf
    hi_q = float(np.max(Q @ cert.w)) if len(Q) else -np.inf
    return _extremes_hold(cert.w, cert.b, lo_p, hi_q, tol * scale)


def _extremes_hold(w: np.ndarray, b: float, lo_p: float, hi_q: float, t: float) -> bool:
    """``w`` has unit norm and ``w.x + b`` is ``>= t`` down to P's lowest value ``lo_p`` and
    ``<= -t`` up to Q's highest ``hi_q``: the check of a separating hyperplane."""
    if abs(float(np.linalg.norm(w)) - 1.0) > 1e-9:
        return False
    return lo_p + b >= t and hi_q + b <= -t


def overlap_holds(
    cert: Overlap,
    P: np.ndarray | Rows,
    Q: np.ndarray | Rows,
    scale: float,
    tol: float = OVERLAP_TOL,
) -> bool:
    """True when the certificate's convex weights give means closer than ``tol*scale``."""
    for idx, wts, n in (
        (cert.p_index, cert.p_weights, len(P)),
        (cert.q_index, cert.q_weights, len(Q)),
    ):
        if len(idx) == 0 or len(idx) != len(wts):
            return False
        if idx.min() < 0 or idx.max() >= n or np.any(wts < 0) or abs(wts.sum() - 1.0) > 1e-12:
            return False
    gap = wts_mean(P, cert.p_index, cert.p_weights) - wts_mean(Q, cert.q_index, cert.q_weights)
    return float(np.linalg.norm(gap)) <= tol * scale


def wts_mean(X: np.ndarray | Rows, index: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean ``sum_i weights[i] * X[index[i]]``."""
    return weights @ (X.at(index) if isinstance(X, Rows) else X[index])


def hyperplane_from_direction(
    u: np.ndarray,
    P: np.ndarray | None,
    Q: np.ndarray | None,
    scale: float,
    extremes: tuple[float, float] | None = None,
) -> Separation | None:
    """The best hyperplane normal to ``u`` (P on the positive side), if it separates.

    The offset puts the hyperplane halfway between the two projected sets; the result is
    verified before it is returned. ``extremes``: ``min(P @ u)`` and ``max(Q @ u)`` when
    the caller has just computed them (the check is then made on those products; ``P``
    and ``Q`` are not read and may be None).
    """
    norm = float(np.linalg.norm(u))
    if not np.isfinite(norm) or norm == 0.0:
        return None
    w = u / norm
    if extremes is not None:
        # Scaling the products instead of the direction changes them by a rounding error,
        # some 1e-14 of the scale, far below the tolerance checked.
        lo_p, hi_q = extremes[0] / norm, extremes[1] / norm
    else:
        assert P is not None and Q is not None
        lo_p = float(np.min(P @ w)) if len(P) else np.inf
        hi_q = float(np.max(Q @ w)) if len(Q) else -np.inf
    if not lo_p - hi_q > 2 * SEPARATION_TOL * scale:
        return None
    if not np.isfinite(lo_p):
        b = -hi_q + scale
    elif not np.isfinite(hi_q):
        b = -lo_p + scale
    else:
        b = -(lo_p + hi_q) / 2
    # checked on the products just computed (a second pass would recompute the same numbers)
    if not _extremes_hold(w, b, lo_p, hi_q, SEPARATION_TOL * scale):
        return None
    return Separation(w, b, lo_p - hi_q)


def decide(
    P: np.ndarray | Rows,
    Q: np.ndarray | Rows,
    *,
    scale: float | None = None,
    hints: Iterable[np.ndarray] = (),
    wide: bool = False,
    warm: tuple[np.ndarray, np.ndarray] | None = None,
    frame: tuple[np.ndarray | None, float] | None = None,
    validate: bool = True,
    start: Factor | None = None,
) -> Verdict:
    """Decide whether P and Q (rows are points) are strictly linearly separable.

    Returns a verified :class:`Separation` (P on the positive side) or :class:`Overlap`.
    ``P`` and ``Q`` are arrays or :class:`Rows` (read where they lie; copied only for the
    cheap witnesses, which a ``start`` skips, and the fallbacks).
    ``scale`` is the length the tolerances are relative to; by default the largest distance
    of a point from the mean of both sets (pass the dataset's scale to keep the tolerance
    the same for every check of one run). ``hints`` are candidate normal directions tried
    first (any orientation is accepted: P is put on the positive side). With ``wide`` the
    exact method is run to its optimum instead of stopping at the first separating
    hyperplane: the hyperplane then has a wide margin (close to the hard-margin SVM's),
    which costs about the same and makes it far more likely to still separate when one of
    the sets later grows. ``warm`` (indices into P and Q) names points likely to carry
    weight in the exact method (e.g. the support of a related problem's certificate).

    For callers that decide many problems on one dataset: ``frame`` ``(centre, radius)``
    fixes the local coordinates the exact method works in (``centre`` None: the points are
    already centred and scaled, and are used as they are) instead of deriving them from
    these points, and ``validate=False`` skips the input checks (the caller has checked
    every point once). Neither changes what is verified. In a fixed frame, ``start`` (a
    related problem's :attr:`Separation.factor`, its ``index`` renumbered for these P and
    Q) starts the exact method where that problem ended, factorisation included, and no
    cheap witness is tried first; with ``wide`` False it then stops at the first
    separating hyperplane, usually right at the start when the problems differ by a few
    points. A separable verdict from the exact method carries its own ``factor``.
    """
    if validate:
        Pa, Qa = np.asarray(_array(P)), np.asarray(_array(Q))
        if Pa.ndim != 2 or Qa.ndim != 2 or Pa.shape[1] != Qa.shape[1]:
            raise ValueError("P and Q must be 2-d arrays with the same number of columns")
        if len(Pa) == 0 or len(Qa) == 0:
            raise ValueError("both point sets must be non-empty")
        if not (np.isfinite(Pa).all() and np.isfinite(Qa).all()):
            raise ValueError("points must be finite")
    P, Q = as_rows(P), as_rows(Q)
    if frame is None:
        centre, own_scale = data_scale(P.array(), Q.array())
    else:
        centre, own_scale = frame
    if scale is None:
        scale = own_scale

    # Cheap witnesses: each candidate direction is scored by its (normalised) gap in both
    # orientations; the best one, even if it fails, seeds the exact method below. A wide
    # verdict from a full warm start, or any from a start, uses neither, so they are not
    # computed then.
    best, best_gap = None, -np.inf
    if frame is None:
        start = None  # its factorisation is of columns in another problem's coordinates
    warm_start = start is not None or (
        warm is not None and len(warm[0]) + len(warm[1]) >= _WARM_MIN
    )
    skip = start is not None or (wide and warm_start)
    # the direction between the two means: a candidate, and the seed when nothing better
    # (a start or a warm set replaces the seed: then the points are not gathered for it)
    mean_gap = None if skip else P.array().mean(axis=0) - Q.array().mean(axis=0)
    candidates = [] if skip else [*hints, mean_gap]
    for u in candidates:
        u = np.asarray(u, dtype=np.float64)
        norm = float(np.linalg.norm(u))
        if not np.isfinite(norm) or norm == 0.0:
            continue
        u = u / norm
        pp, qq = P.array() @ u, Q.array() @ u
        for sign, gap in ((1.0, pp.min() - qq.max()), (-1.0, qq.min() - pp.max())):
            if gap > best_gap:
                best, best_gap = sign * u, float(gap)
        if best_gap > 2 * SEPARATION_TOL * scale and not wide:
            cert = hyperplane_from_direction(best, P.array(), Q.array(), scale)
            if cert is not None:
                return cert

    # Work in local coordinates (centred, unit radius) for conditioning; certificates are
    # mapped back and verified on the caller's coordinates.
    if centre is None:
        Pn, Qn = P, Q
    else:
        Pn = Rows((P.array() - centre) / own_scale)
        Qn = Rows((Q.array() - centre) / own_scale)
    seed = best if best is not None or warm_start or start is not None else mean_gap
    unverified: list[tuple | None] = []
    # The gap a hyperplane needs to verify, in the local coordinates (a hair more, so that
    # rounding does not fail the check made on the caller's coordinates): the exact method
    # goes on past thinner separating hyperplanes, as their verdict would not stand.
    local_unit = 1.0 if centre is None else own_scale
    min_gap = 2 * SEPARATION_TOL * scale * (1 + 1e-6) / local_unit
    # The residual short enough to stop at: its weights are then a common point to within
    # the tolerance (see _EARLY_OVERLAP). Running on to the exact common point took POS
    # layer 0's 150 slowest proofs about 8 s instead of about 3 s. (Without a centre the
    # caller's points are already in the unit ball, as the bound there assumes.)
    vanish = max(_VANISHES, _EARLY_OVERLAP * OVERLAP_TOL * scale / local_unit)

    def run_on() -> tuple | None:
        # The first separating hyperplane was too thin to verify (the hulls are close):
        # the same solver, run on to its optimum from where it stopped (a wide run is
        # there already), settles such pairs at a fraction of the fallbacks' cost (on a
        # 5,119-point pair of POS layer 0, scipy's NNLS and HiGHS's LP took 40 s together).
        first = unverified[0] if unverified else None
        if first is None or first[0] != "sep" or len(first) < 4:
            return None
        found = (
            first
            if wide
            else _active_set_nnls(Pn, Qn, None, optimal=True, start=first[3], vanish=vanish)
        )
        if found is None or found[0] != "sep" or len(found) < 4:
            return found
        if found is not first and _to_caller(found, P, Q, scale, local=centre is None):
            return found
        # Even the widest hyperplane is thinner than the tolerance: the hulls touch, and
        # the optimum's weights are their nearest points, checked as a common point.
        return _touching(found[3], len(Pn))

    attempts = (
        lambda: _active_set_nnls(
            Pn, Qn, seed, optimal=wide, warm=warm, start=start, min_gap=min_gap, vanish=vanish
        ),
        run_on,
        lambda: _single_column_nnls(Pn.array(), Qn.array()),
        lambda: _highs_lp(Pn.array(), Qn.array()),
    )
    for attempt in attempts:
        verdict = attempt()
        if verdict is not None:
            # The optimum's nearest points are as accurate as the optimum: where even the
            # widest hyperplane was no wider than TOUCH_TOL they may lie a hair farther
            # apart (see _OPTIMUM_SLACK).
            tol = OVERLAP_TOL * (1 + _OPTIMUM_SLACK) if attempt is run_on else OVERLAP_TOL
            checked = _to_caller(verdict, P, Q, scale, tol, local=centre is None)
            if checked is not None:
                return checked
            unverified.append(verdict)
    # Nothing verified: scipy's weights are the hulls' nearest points even where its
    # residual calls them apart, and they are the last candidate common point.
    last = _single_column_nnls(Pn.array(), Qn.array(), weights=True)
    if last is not None and (checked := _to_caller(last, P, Q, scale)) is not None:
        return checked
    raise SeparabilityError(
        f"no verified certificate for a pair of sets of {len(P)} and {len(Q)} points: "
        "the hulls are too close to tell apart at the tolerances used"
    )


# --------------------------------------------------------------------------------------
# Internals. They return unverified local-coordinate candidates:
#   ("sep", u[, support, end state, (min P.u, max Q.u)])
#                                   direction with P on the positive side, or
#   ("ovl", ip, lp, iq, lq)         index/weight arrays (not yet normalised).


def _to_caller(
    cand: tuple,
    P: Rows,
    Q: Rows,
    scale: float,
    overlap_tol: float = OVERLAP_TOL,
    local: bool = False,
) -> Verdict | None:
    """The verified certificate for a candidate; ``local``: P and Q are the very points the
    candidate was found on (the products it carries are then theirs)."""
    if cand[0] == "sep":
        # A direction is the same in local and caller coordinates (local = affine map
        # with a positive factor); the offset is recomputed on the caller's data.
        extremes = cand[4] if local and len(cand) > 4 else None
        if extremes is None:
            cert = hyperplane_from_direction(cand[1], P.array(), Q.array(), scale)
        else:
            # the products were made on these very points: no pass over them
            cert = hyperplane_from_direction(cand[1], None, None, scale, extremes)
        if cert is not None and len(cand) > 2:
            cert = Separation(cert.w, cert.b, cert.gap, cand[2], cand[3])
        return cert
    _, ip, lp, iq, lq = cand
    keep_p, keep_q = lp > 0, lq > 0
    ip, lp, iq, lq = ip[keep_p], lp[keep_p], iq[keep_q], lq[keep_q]
    if len(lp) == 0 or len(lq) == 0:
        return None
    lp = lp / lp.sum()
    lq = lq / lq.sum()
    resid = float(np.linalg.norm(wts_mean(P, ip, lp) - wts_mean(Q, iq, lq)))
    cert = Overlap(ip.astype(np.int64), lp, iq.astype(np.int64), lq, resid)
    return cert if overlap_holds(cert, P, Q, scale, overlap_tol) else None


def _dual_columns(P: np.ndarray, Q: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Columns ``idx`` of the dual's matrix (indices past ``len(P)`` are points of Q).

    A point p of P gives ``[p; 1; 0]``, a point q of Q gives ``[-q; 0; 1]``.
    """
    P, Q = as_rows(P), as_rows(Q)
    rows = active_set.dual_columns(P.X, P.index, Q.X, Q.index, np.asarray(idx, dtype=np.int64))
    return rows.T


def _dual_matrix(P: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The whole dual matrix and its right-hand side ``[0; 1; 1]``."""
    d = P.shape[1]
    r = np.zeros(d + 2)
    r[d] = r[d + 1] = 1.0
    return _dual_columns(P, Q, np.arange(len(P) + len(Q))), r


def _active_set_nnls(
    P: Rows,
    Q: Rows,
    seed: np.ndarray | None = None,
    block: int = 32,
    max_outer: int = 5000,
    optimal: bool = False,
    warm: tuple[np.ndarray, np.ndarray] | None = None,
    start: Factor | None = None,
    min_gap: float = 0.0,
    vanish: float = _VANISHES,
) -> tuple | None:
    """Lawson-Hanson active-set NNLS on the dual, adding a block of columns per step.

    Stops as soon as the current residual direction separates all points by a gap wider
    than ``min_gap`` (a separable verdict needs a hyperplane that verifies, not the optimal
    one) or the residual is no longer than ``vanish`` (the current weights are a common
    point). The factorisation of the passive columns is kept up to date with QR insertions
    and deletions; the dual's matrix itself is never formed (its columns are the points, with
    a 1 marking the side). ``seed`` (a normal direction with P on its positive side) picks
    the first block: the points nearest the
    other side; ``warm`` (indices into P and into Q, e.g. the points that carried weight in
    a related problem) joins that first block (a large one is factorised at once, see
    :func:`_factored`); ``start`` replaces all that with a related
    problem's end state (its passive columns and their factorisation). A separable verdict
    comes with the points carrying weight at the end and the end state, for warm starts of
    later problems.
    """
    m = P.shape[1] + 2
    na = len(P)
    n = na + len(Q)
    first = None
    if start is not None:
        # a related problem's end state: its passive columns and their factorisation
        block = min(block, _WARM_BLOCK)
    else:
        if seed is not None and n > block:
            half = block // 2
            kp, kq = min(half, na), min(half, n - na)
            first = np.concatenate(
                [
                    np.argsort(P.array() @ seed, kind="stable")[:kp],
                    na + np.argsort(-(Q.array() @ seed), kind="stable")[:kq],
                ]
            )
        if warm is not None:
            extra = np.concatenate([np.asarray(warm[0], dtype=np.int64), na + np.asarray(warm[1])])
            extra = extra[(extra >= 0) & (extra < n)]
            # A warm set from a nearly identical problem is close to the optimal support on
            # its own: seed points on top of it push the passive set past full rank and cost
            # many drops and refactorisations (20x slower on near-degenerate pairs).
            if len(extra) >= _WARM_MIN:
                first = np.unique(extra)
                # Near the optimum most of a large block would be dropped again, each drop
                # a QR deletion and a solve: small blocks are a third faster on such problems.
                block = min(block, _WARM_BLOCK)
                start = _factored(P, Q, first, m)
                if start is not None:
                    first = None
            elif len(extra):
                first = np.unique(extra if first is None else np.concatenate([first, extra]))
    passive = np.empty(0, dtype=np.int64) if start is None else start.index

    if start is None:
        Qt = np.eye(m)
        R = np.zeros((m, m))
    else:
        # copies: the kernel updates them in place, and the start may serve again
        Qt, R = start.working_copy()
    outcome, u, idx, z, top_p, low_q = active_set.solve(
        P.X,
        P.index,
        Q.X,
        Q.index,
        np.empty(0, dtype=np.int64) if first is None else np.asarray(first, dtype=np.int64),
        np.asarray(passive, dtype=np.int64),
        Qt,
        R,
        start is not None,
        block,
        max_outer,
        optimal,
        float(min_gap),
        float(vanish),
        _WORKING_MIN,
        _WORKING_ADD,
    )
    on_p = idx < na
    if outcome == active_set.SEP:
        factor = Factor(idx, Qt, R[:, : len(idx)].copy())
        return ("sep", -u, (idx[on_p], idx[~on_p] - na), factor, (-top_p, -low_q))
    if outcome == active_set.OVL and on_p.any() and not on_p.all():
        return ("ovl", idx[on_p], z[on_p], idx[~on_p] - na, z[~on_p])
    return None


def _factored(P: Rows, Q: Rows, idx: np.ndarray, m: int) -> Factor | None:
    """A large warm set as a start: the dual's columns of points ``idx`` (positions in
    ``[P; Q]``, ascending), factorised at once, or None (too few or too many columns, or
    one numerically dependent on those before it).

    The solver would insert them one at a time, each a product with all of ``Qt`` and a
    reflection of its rows: on the near-degenerate pairs of 384-d representations, where
    warm sets hold about 300 points, those insertions were about a third of such a check's
    time, and LAPACK's blocked factorisation does the same in a fraction of it (the
    50,241 POS words' checks without a start, replayed: a quarter less time). The
    factorisation is the one the insertions would make (the same reflections in the same
    order, up to rounding); the solver starts from it as from a related problem's end
    state. Below ``_BATCH_MIN`` columns the library call costs more than it saves (at
    128-d, about 100 columns: 0.98 s against 0.78 s over 414 replayed checks).
    """
    if not _BATCH_MIN <= len(idx) <= m:
        return None
    cols = _dual_columns(P, Q, idx)
    q, r = linalg.qr(cols, mode="full", check_finite=False)
    if np.any(np.abs(np.diagonal(r)) <= active_set.DEPENDENT):
        return None  # the insertions would skip that column: leave them to it
    # q transposed as a view: the solver's working copy is the one copy it needs
    return Factor(idx, q.T, r)


def _touching(factor: Factor, na: int) -> tuple | None:
    """The weights of the exact method's end state (``factor``), as a candidate common
    point ``("ovl", ...)``: at the optimum of a pair whose widest margin is below the
    tolerance they are the two hulls' nearest points."""
    ks = len(factor.index)
    if ks == 0:
        return None
    Qt, R = factor.working_copy()
    z = np.zeros(len(Qt))
    if not active_set.passive_solution(Qt, R, ks, z):
        return None
    z = z[:ks]
    idx = np.asarray(factor.index, dtype=np.int64)
    on_p = idx < na
    return ("ovl", idx[on_p], z[on_p], idx[~on_p] - na, z[~on_p])


def _single_column_nnls(P: np.ndarray, Q: np.ndarray, weights: bool = False) -> tuple | None:
    """The textbook Lawson-Hanson (scipy), as a second opinion when the block variant fails.

    With ``weights`` the dual's weights come back as a candidate common point whatever
    the residual: they are the hulls' nearest points even when the dual calls them
    separable by less than the tolerance (hulls that touch).
    """
    # Imported here, as in _highs_lp: scipy.optimize is only needed when the exact method
    # fails, and importing it costs every `ftprobe probe` a quarter of a second.
    from scipy.optimize import nnls

    M, r = _dual_matrix(P, Q)
    d = P.shape[1]
    try:
        z, rnorm = nnls(M, r, maxiter=max(50 * (d + 2), 3 * M.shape[1]))
    except RuntimeError:
        return None
    if weights or rnorm <= 1e-10:
        return ("ovl", np.arange(len(P)), z[: len(P)], np.arange(len(Q)), z[len(P) :])
    return ("sep", -(r - M @ z)[:d])


def _highs_lp(P: np.ndarray, Q: np.ndarray) -> tuple | None:
    """Maximise t subject to w.p + b >= t, w.q + b <= -t, |w_i| <= 1 (always feasible)."""
    from scipy.optimize import linprog

    d = P.shape[1]
    na, nb = len(P), len(Q)
    A = np.zeros((na + nb, d + 2))
    A[:na, :d] = -P
    A[:na, d] = -1.0
    A[:na, d + 1] = 1.0
    A[na:, :d] = Q
    A[na:, d] = 1.0
    A[na:, d + 1] = 1.0
    c = np.zeros(d + 2)
    c[d + 1] = -1.0
    bounds = [(-1.0, 1.0)] * d + [(None, None), (None, 4.0)]
    res = linprog(c, A_ub=A, b_ub=np.zeros(na + nb), bounds=bounds, method="highs")
    if res.status != 0 or res.x is None:
        return None
    t = -float(res.fun)
    if t > OVERLAP_TOL:
        return ("sep", res.x[:d])
    duals = -np.asarray(res.ineqlin.marginals)
    return ("ovl", np.arange(na), duals[:na], np.arange(nb), duals[na:])
