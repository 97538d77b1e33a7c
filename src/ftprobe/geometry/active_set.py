"""The exact method's inner loop, compiled: block Lawson-Hanson NNLS on the dual of the
separation problem, its QR factorisation kept up to date by Householder insertions and
Givens deletions.

:func:`ftprobe.geometry.separability.decide` poses the problem, picks the first block and
checks every verdict; this module only runs the steps between. In NumPy each step was a
few dozen calls on small arrays (a QR insertion, a triangular solve, masks), and at the
widths of small models (130 dual rows at 128-d) the calls' overhead was most of a check's
time: the clustering of POS layer 6 in 128-d spent two fifths of its run in them.

Conventions: the dual's column for point ``j`` of ``[P; Q]`` is ``[p; 1; 0]`` for a point
of P and ``[-q; 0; 1]`` for a point of Q; its right-hand side is ``r = e_d + e_{d+1}``.
The factorisation is held as ``Qt`` (Q transposed, C order: the rows that rotations and
reflections touch are contiguous) and ``R`` (``m x m``, C order, its first ``ks`` columns
used, zero below their diagonal).

Outcomes (the first return value): :data:`SEP` (``-v[:d]`` separates every point, P on
the positive side), :data:`OVL` (the residual is no longer than the caller's ``vanish``,
or the optimum does not separate: the passive weights are a candidate common point),
:data:`FAIL` (a singular triangle, no improving point where one was needed, or the step
limit).
"""

from __future__ import annotations

import numpy as np

from ftprobe.geometry.compiled import dot, fast

SEP, OVL, FAIL = 0, 1, -1

# A column whose diagonal in R would be below this is (numerically) dependent on the passive
# columns before it: it is skipped until the passive set changes.
DEPENDENT = 1e-10
# Points priced at no more than this are no improvement.
_IMPROVES = 1e-14
# Fast-math sums (see compiled): 0.9 of the time on the 150 slowest checks of POS layer 0
# is dot products and updates like these (paired runs). Their loops run over rows taken as
# one-dimensional views (``Qt[i]``, ``R[j, a:b]``): the compiler vectorises those and not
# loops indexing by two subscripts, which took a quarter longer over those checks.
_jit = fast


@_jit
def _column(
    XP: np.ndarray, ip: np.ndarray, XQ: np.ndarray, iq: np.ndarray, j: int, out: np.ndarray
) -> None:
    """The dual's column of point ``j`` of ``[P; Q]`` (``P``: rows ``ip`` of ``XP``,
    ``Q``: rows ``iq`` of ``XQ``), written into ``out``."""
    d = XP.shape[1]
    na = ip.shape[0]
    if j < na:
        row = XP[ip[j]]
        for k in range(d):
            out[k] = row[k]
        out[d] = 1.0
        out[d + 1] = 0.0
    else:
        row = XQ[iq[j - na]]
        for k in range(d):
            out[k] = -row[k]
        out[d] = 0.0
        out[d + 1] = 1.0


@_jit
def dual_columns(
    XP: np.ndarray, ip: np.ndarray, XQ: np.ndarray, iq: np.ndarray, idx: np.ndarray
) -> np.ndarray:
    """Columns ``idx`` of the dual's matrix, one per row (``len(idx) x (d + 2)``)."""
    out = np.empty((len(idx), XP.shape[1] + 2))
    for c in range(len(idx)):
        _column(XP, ip, XQ, iq, idx[c], out[c])
    return out


@_jit
def _products(X: np.ndarray, index: np.ndarray, u: np.ndarray, out: np.ndarray) -> None:
    """``out[j] = X[index[j]] . u``: a pass over the rows where they lie, with no copy."""
    for j in range(index.shape[0]):
        out[j] = dot(X[index[j]], u)


@_jit
def _insert(Qt: np.ndarray, R: np.ndarray, pos: int, col: np.ndarray, w: np.ndarray) -> bool:
    """Append ``col`` as column ``pos`` of the factorisation, unless it is (numerically)
    dependent on the columns before it: then nothing changes and the answer is False.

    ``w = Q' col`` has its entries below ``pos`` folded into one by a Householder
    reflection of rows ``pos..`` of ``Qt``; the earlier columns of R are zero there and
    stay as they are.
    """
    m = Qt.shape[0]
    np.dot(Qt, col, w)
    norm2 = 0.0
    for i in range(pos, m):
        norm2 += w[i] * w[i]
    norm = np.sqrt(norm2)
    if norm <= DEPENDENT:
        return False
    for i in range(pos):
        R[i, pos] = w[i]
    for i in range(pos + 1, m):
        R[i, pos] = 0.0
    alpha = -norm if w[pos] >= 0.0 else norm
    # v = w[pos:] - alpha e_1 (never 0: |v_1| = |w_pos| + norm); H = I - 2 v v' / (v'v),
    # applied to rows pos.. of Qt
    w[pos] -= alpha
    vv = 0.0
    for i in range(pos, m):
        vv += w[i] * w[i]
    y = np.zeros(m)
    for i in range(pos, m):
        wi = w[i]
        if wi != 0.0:
            qi = Qt[i]
            for k in range(m):
                y[k] += wi * qi[k]
    for i in range(pos, m):
        c = 2.0 * w[i] / vv
        if c != 0.0:
            qi = Qt[i]
            for k in range(m):
                qi[k] -= c * y[k]
    R[pos, pos] = alpha
    return True


@_jit
def _delete(Qt: np.ndarray, R: np.ndarray, ks: int, i: int) -> None:
    """Remove column ``i`` of the ``ks`` factored ones: the columns after it move left and
    Givens rotations of rows ``j, j+1`` restore the triangle."""
    m = Qt.shape[0]
    for j in range(i, ks - 1):
        for row in range(j + 2):
            R[row, j] = R[row, j + 1]
    for row in range(m):
        R[row, ks - 1] = 0.0
    for j in range(i, ks - 1):
        a = R[j, j]
        b = R[j + 1, j]
        if b == 0.0:
            continue
        h = np.hypot(a, b)
        c = a / h
        s = b / h
        R[j, j] = h
        R[j + 1, j] = 0.0
        _rotate(R[j], R[j + 1], c, s, j + 1, ks - 1)
        _rotate(Qt[j], Qt[j + 1], c, s, 0, m)


@_jit
def renumber(
    qt: np.ndarray, r: np.ndarray, present: np.ndarray, swapped: bool
) -> tuple[np.ndarray, np.ndarray]:
    """An end state's factorisation (``qt``, ``r``: ``m x k``) as the solver's working
    arrays for a related problem (``Qt``, ``R``: ``m x m``, C order, fresh): the columns
    not ``present`` deleted, and with ``swapped`` the sides exchanged (P's columns
    ``[p; 1; 0]`` become ``[-p; 0; 1]``: a fixed orthogonal map of the rows, applied to
    the orthogonal factor alone).

    One compiled pass instead of a copy, a column shuffle and a library deletion per
    absent column, each with its own call overhead: a warm start is made before nearly
    every check of a run (30,918 of 35,046 on POS layer 6 in 128-d).
    """
    m = qt.shape[0]
    d = m - 2
    k = r.shape[1]
    Qt = np.empty((m, m))
    for i in range(m):
        for c in range(m):
            Qt[i, c] = qt[i, c]
        if swapped:
            for c in range(d):
                Qt[i, c] = -Qt[i, c]
            Qt[i, d], Qt[i, d + 1] = Qt[i, d + 1], Qt[i, d]
    R = np.zeros((m, m))
    for i in range(m):
        for c in range(k):
            R[i, c] = r[i, c]
    ks = k
    for c in range(k - 1, -1, -1):
        if not present[c]:
            _delete(Qt, R, ks, c)
            ks -= 1
    return Qt, R


@_jit
def _rotate(a: np.ndarray, b: np.ndarray, c: float, s: float, lo: int, hi: int) -> None:
    """Rotate entries ``lo:hi`` of the rows ``a``, ``b`` by the Givens pair ``c, s``."""
    for k in range(lo, hi):
        x = a[k]
        z = b[k]
        a[k] = c * x + s * z
        b[k] = -s * x + c * z


@_jit
def passive_solution(Qt: np.ndarray, R: np.ndarray, ks: int, s: np.ndarray) -> bool:
    """The least-squares weights of the ``ks`` passive columns against ``r`` into ``s``
    (back substitution on ``R s = Q' r``); False when the triangle is singular."""
    d = Qt.shape[0] - 2
    for j in range(ks - 1, -1, -1):
        # a dot product of contiguous slices: a loop over R[j, k] by two indices is not
        # vectorised, and took three times as long
        acc = Qt[j, d] + Qt[j, d + 1] - dot(R[j, j + 1 : ks], s[j + 1 : ks])
        if R[j, j] == 0.0:
            return False
        s[j] = acc / R[j, j]
    return True


@_jit
def _top(g: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest entries of ``g``, largest first (ties: the earlier
    position first).

    A heap of the best ``k`` so far, written out rather than NumPy's partition and sort:
    those would cost seconds more of compilation at every first use for lists of at most a
    few hundred.
    """
    n = len(g)
    k = max(0, min(k, n))
    heap = np.empty(k, dtype=np.int64)  # the worst of the best k at the root
    size = 0
    for j in range(n):
        if size < k:
            heap[size] = j
            i = size
            size += 1
            while i > 0:  # sift up
                up = (i - 1) // 2
                if _worse(g, heap[i], heap[up]):
                    heap[i], heap[up] = heap[up], heap[i]
                    i = up
                else:
                    break
        elif k > 0 and _worse(g, heap[0], j):
            heap[0] = j
            i = 0
            while True:  # sift down
                lo = 2 * i + 1
                if lo >= size:
                    break
                hi = lo + 1
                c = hi if hi < size and _worse(g, heap[hi], heap[lo]) else lo
                if _worse(g, heap[c], heap[i]):
                    heap[i], heap[c] = heap[c], heap[i]
                    i = c
                else:
                    break
    out = heap[:size].copy()
    _sort_best_first(g, out)
    return out


@_jit
def _worse(g: np.ndarray, a: int, b: int) -> bool:
    """Is position ``a`` ranked below ``b`` (smaller value, or equal and later)?"""
    return g[a] < g[b] or (g[a] == g[b] and a > b)


@_jit
def _sort_best_first(g: np.ndarray, idx: np.ndarray) -> None:
    """Sort the positions ``idx`` by ``g``, largest first, ties by position (insertion
    sort: the lists are short)."""
    for i in range(1, len(idx)):
        x = idx[i]
        j = i - 1
        while j >= 0 and _worse(g, idx[j], x):
            idx[j + 1] = idx[j]
            j -= 1
        idx[j + 1] = x


@_jit
def _improving(g: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The leading positions of ``idx`` (sorted best first) that would lower the
    residual."""
    c = 0
    while c < len(idx) and g[idx[c]] > _IMPROVES:
        c += 1
    return idx[:c]


@_jit
def _gather(
    XP: np.ndarray,
    ip: np.ndarray,
    XQ: np.ndarray,
    iq: np.ndarray,
    rows: np.ndarray,
    index: np.ndarray,
    row_of: np.ndarray,
    size: int,
    j: int,
    col: np.ndarray,
):
    """Add point ``j`` of ``[P; Q]`` to the working set (``rows``: the first ``d``
    entries of the dual's columns, ``p`` or ``-q``; ``index``: their positions;
    ``row_of``: the row of each point, -1 outside), growing the arrays when full.
    ``col``: scratch of the dual's height. Returns ``rows, index, size``."""
    if row_of[j] >= 0:
        return rows, index, size
    d = rows.shape[1]
    if size == len(index):
        grown = np.empty((2 * size, d))
        more = np.empty(2 * size, dtype=np.int64)
        grown[:size] = rows[:size]
        more[:size] = index[:size]
        rows, index = grown, more
    _column(XP, ip, XQ, iq, j, col)
    rows[size] = col[:d]
    index[size] = j
    row_of[j] = size
    return rows, index, size + 1


@_jit
def solve(
    XP: np.ndarray,
    ip: np.ndarray,
    XQ: np.ndarray,
    iq: np.ndarray,
    first: np.ndarray,
    passive0: np.ndarray,
    Qt: np.ndarray,
    R: np.ndarray,
    unsettled: bool,
    block: int,
    max_outer: int,
    optimal: bool,
    min_gap: float,
    vanish: float,
    working_min: int,
    working_add: int,
):
    """Run the block active-set method on ``P`` (rows ``ip`` of ``XP``) and ``Q`` (rows
    ``iq`` of ``XQ``: the points are read where they lie, never copied whole) from the
    passive columns ``passive0`` factored as ``Qt``, ``R`` (both changed in place; ``R``
    is ``m x m``) until a verdict.

    ``first`` (may be empty) is the first block of columns tried; ``unsettled``: the
    passive set's weights are not known yet (a related problem's end state). Stops at the
    first residual direction that separates by more than ``min_gap`` unless ``optimal``,
    and at the first residual no longer than ``vanish`` (its weights, normalised, are then
    a common point to within the caller's tolerance).
    Problems over ``working_min`` points price most steps only on a working set (the
    passive points and the ``working_add`` best-priced of the last full pass); every
    verdict still rests on a pass over all points.

    Returns ``(outcome, v, passive, z, top_p, low_q)``: for :data:`SEP` ``-v`` is the
    direction (P positive), and ``top_p``, ``low_q`` are the largest ``p.v`` and the least
    ``q.v`` of the last pass; the
    passive points (positions in ``[P; Q]``, in the order of R's columns) and their
    weights.
    """
    na, d = ip.shape[0], XP.shape[1]
    n = na + iq.shape[0]
    m = d + 2
    r = np.zeros(m)
    r[d] = 1.0
    r[d + 1] = 1.0
    v = r.copy()
    g = np.empty(n)
    blocked = np.zeros(n, dtype=np.bool_)
    passive = np.empty(m, dtype=np.int64)
    ks = len(passive0)
    passive[:ks] = passive0
    is_passive = np.zeros(n, dtype=np.bool_)
    for j in range(ks):
        is_passive[passive[j]] = True
    # whether v is the residual of the passive columns' fit (and so orthogonal to them)
    fitted = ks == 0
    z = np.zeros(m)
    s = np.zeros(m)
    col = np.empty(m)
    w = np.empty(m)
    out = np.zeros(m, dtype=np.bool_)
    t = np.empty(m)
    has_first = len(first) > 0
    top_p = 0.0
    low_q = 0.0

    # The working set. Pricing every point at every step is a pass over all of P and Q,
    # and on large problems those passes were most of the solver's time (an overlap proof
    # takes dozens of steps): large problems price the passive points and the best-priced
    # ones of the last full pass, and all points again when the set has nothing left to
    # add or its points are all separated. Rows are gathered and signed as the dual's
    # columns (p, or -q).
    use_ws = n > working_min
    ws_rows = np.empty((64 if use_ws else 1, d))
    ws_index = np.empty(len(ws_rows), dtype=np.int64)
    ws_size = 0
    row_of = np.empty(n if use_ws else 1, dtype=np.int64)
    for j in range(len(row_of)):
        row_of[j] = -1
    if use_ws:
        for j in range(ks):
            ws_rows, ws_index, ws_size = _gather(
                XP, ip, XQ, iq, ws_rows, ws_index, row_of, ws_size, passive[j], col
            )

    for _ in range(max_outer):
        if unsettled:
            unsettled = False
            while ks > 0:
                if not passive_solution(Qt, R, ks, s):
                    return FAIL, v[:d].copy(), passive[:ks].copy(), z[:ks].copy(), 0.0, 0.0
                allpos = True
                for j in range(ks):
                    if s[j] <= 0.0:
                        allpos = False
                        break
                if allpos:
                    z[:ks] = s[:ks]
                    break
                # step from z towards s until the first weight reaches 0 (a weight already
                # at 0 stops the step at once)
                alpha = np.inf
                stuck = False
                for j in range(ks):
                    if s[j] <= 0.0:
                        den = z[j] - s[j]
                        if den > 0.0:
                            alpha = min(alpha, z[j] / den)
                        else:
                            stuck = True
                if stuck:
                    alpha = 0.0
                zmax = -np.inf
                for j in range(ks):
                    z[j] = z[j] + alpha * (s[j] - z[j])
                    zmax = max(zmax, z[j])
                thr = 1e-14 * max(1.0, zmax)
                n_out = 0
                low = np.inf
                low_at = -1
                for j in range(ks):
                    neg = s[j] <= 0.0
                    out[j] = neg and z[j] <= thr
                    n_out += out[j]
                    if neg and z[j] < low:
                        low = z[j]
                        low_at = j
                if n_out == 0:
                    out[low_at] = True
                for j in range(ks - 1, -1, -1):
                    if out[j]:
                        is_passive[passive[j]] = False
                        _delete(Qt, R, ks, j)
                        for k in range(j, ks - 1):
                            passive[k] = passive[k + 1]
                            z[k] = z[k + 1]
                        ks -= 1
                for j in range(n):
                    blocked[j] = False
            # The residual of the least-squares fit on the passive columns (z is that
            # fit): r - Q R z, or, the same vector, r projected on the rows of Qt past
            # the passive ones, whichever reads less of the factorisation. Near full rank
            # (an overlap proof in 384-d keeps some 380 columns for hundreds of steps) the
            # projection reads a few rows instead of all of Qt and the triangle of R.
            if 2 * ks > m:
                for k in range(m):
                    v[k] = 0.0
                for j in range(ks, m):
                    qj = Qt[j]
                    tj = qj[d] + qj[d + 1]  # row j of Qt times r
                    for k in range(m):
                        v[k] += tj * qj[k]
            else:
                for j in range(ks):
                    t[j] = dot(R[j, j:ks], z[j:ks])
                for k in range(m):
                    v[k] = r[k]
                for j in range(ks):
                    tj = t[j]
                    qj = Qt[j]
                    for k in range(m):
                        v[k] -= tj * qj[k]
            fitted = True
            if np.sqrt(np.dot(v, v)) <= vanish:
                return OVL, v[:d].copy(), passive[:ks].copy(), z[:ks].copy(), 0.0, 0.0
        u = v[:d].copy()
        unorm = np.sqrt(np.dot(u, u))
        cand = np.empty(0, dtype=np.int64)
        if use_ws and not has_first and ws_size > 0:
            # p.u, or -q.u. A passive point's column is orthogonal to the fit's residual,
            # so its value is known without reading its row: -v[d] for p, -v[d + 1] for
            # q (near full rank two fifths of the working set are passive points).
            gw = np.empty(ws_size)
            for j in range(ws_size):
                idx = ws_index[j]
                if fitted and is_passive[idx]:
                    gw[j] = -v[d] if idx < na else -v[d + 1]
                else:
                    gw[j] = dot(ws_rows[j], u)
            go_on = True
            if not optimal:
                top_pw = -np.inf
                top_qw = -np.inf
                for j in range(ws_size):
                    if ws_index[j] < na:
                        top_pw = max(top_pw, gw[j])
                    else:
                        top_qw = max(top_qw, gw[j])
                # the working set is separated: only a pass over all points can tell
                go_on = -top_qw - top_pw <= min_gap * unorm
            if go_on:
                for j in range(ws_size):
                    idx = ws_index[j]
                    gw[j] += v[d] if idx < na else v[d + 1]
                    if blocked[idx]:
                        gw[j] = -np.inf
                for j in range(ks):
                    gw[row_of[passive[j]]] = -np.inf
                good = _improving(gw, _top(gw, block))
                cand = ws_index[good]
        if len(cand) == 0:
            # a pass over all points: g[j] > 0 means column j would lower the residual
            _products(XP, ip, u, g[:na])
            _products(XQ, iq, u, g[na:])
            top_p = -np.inf
            for j in range(na):
                top_p = max(top_p, g[j])
            low_q = np.inf
            for j in range(na, n):
                low_q = min(low_q, g[j])
            if not optimal and low_q - top_p > min_gap * unorm:
                return SEP, u, passive[:ks].copy(), z[:ks].copy(), top_p, low_q
            for j in range(na):
                g[j] += v[d]
            for j in range(na, n):
                g[j] = v[d + 1] - g[j]
            for j in range(ks):
                g[passive[j]] = -np.inf
            for j in range(n):
                if blocked[j]:
                    g[j] = -np.inf
            if has_first:
                cand = first.copy()
                _sort_best_first(g, cand)
                has_first = False
            else:
                cand = _top(g, block)
            cand = _improving(g, cand)
            if len(cand) == 0:
                if top_p < low_q:
                    return SEP, u, passive[:ks].copy(), z[:ks].copy(), top_p, low_q
                # optimal without separating and without a zero residual: the hulls touch
                # to within rounding; the weights are the caller's candidate common point
                return OVL, u, passive[:ks].copy(), z[:ks].copy(), 0.0, 0.0
            if use_ws:
                for idx in cand:
                    ws_rows, ws_index, ws_size = _gather(
                        XP, ip, XQ, iq, ws_rows, ws_index, row_of, ws_size, idx, col
                    )
                for idx in _improving(g, _top(g, working_add)):
                    ws_rows, ws_index, ws_size = _gather(
                        XP, ip, XQ, iq, ws_rows, ws_index, row_of, ws_size, idx, col
                    )
        # Columns join one at a time; one dependent on those before it is skipped until
        # the passive set changes.
        added = False
        for idx in cand:
            if ks >= m:
                blocked[idx] = True
                continue
            _column(XP, ip, XQ, iq, idx, col)
            if not _insert(Qt, R, ks, col, w):
                blocked[idx] = True
                continue
            passive[ks] = idx
            is_passive[idx] = True
            z[ks] = 0.0
            ks += 1
            added = True
        if added:
            unsettled = True
    return FAIL, v[:d].copy(), passive[:ks].copy(), z[:ks].copy(), 0.0, 0.0
