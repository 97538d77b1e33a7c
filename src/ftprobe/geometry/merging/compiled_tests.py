"""The merge loop's cheap tests, compiled: which clusters' balls meet the candidate's, and
which known hyperplanes (or centroid directions) separate it from them.

Each test is a few dot products per cluster, and a run makes hundreds of thousands of them
(POS layer 6 in 128-d: 30,101 candidates, 238,000 (candidate, label) visits). In NumPy
each visit was a few dozen calls on small arrays and their overhead was most of the run;
here a visit is one call. The loops also stop early where the NumPy code could not: a
hyperplane is abandoned at the first point on its wrong side, a centroid direction at the
first point of the candidate that comes too close to the other cluster.

What the tests decide is the same as the NumPy code's (the same first hyperplane in the
same order of trial) but for the points' precision: they read the points rounded to
float32 (the passes are bound by memory), and a hyperplane counts only when it clears
every point by ``SEPARATION_TOL`` plus a bound on what that rounding moves a product
(:class:`~ftprobe.geometry.merging.certificates.Planes`), so what they accept holds on the
exact points; a pair they leave goes to the exact check, and the exact decisions do not
depend on which certificate settled a pair.

Clusters' points are walked as chains (:class:`MemberChains`): no gather per test.
"""

from __future__ import annotations

import numpy as np

from ftprobe.geometry.compiled import dot, fast

# The ball test's first, cheapest lower bound: the distance within this many principal
# directions.
_LEADING = 4
# Points of the candidate the centroid directions are tested on at a time (a chunk of
# 384-d rows, and their products with the directions, stay in the core's cache).
_CHUNK = 256


class MemberChains:
    """Every current cluster's points as a linked list: ``head[cid]`` its first point,
    ``nxt[point]`` the next one (-1: the end). A merge links two lists in constant time.
    Order within a chain is arbitrary: the tests only take minima and maxima over it."""

    def __init__(self, n_points: int, members: dict[int, np.ndarray]) -> None:
        cap = 2 * n_points
        self.head = np.full(cap, -1, dtype=np.int64)
        self.tail = np.full(cap, -1, dtype=np.int64)
        self.nxt = np.full(n_points, -1, dtype=np.int64)
        for cid, pts in members.items():
            self.head[cid] = pts[0]
            self.tail[cid] = pts[-1]
            self.nxt[pts[:-1]] = pts[1:]

    def join(self, a: int, b: int, m: int) -> None:
        """Cluster ``m`` is the union of clusters ``a`` and ``b`` (which are gone)."""
        self.nxt[self.tail[a]] = self.head[b]
        self.head[m] = self.head[a]
        self.tail[m] = self.tail[b]
        self.head[a] = self.head[b] = self.tail[a] = self.tail[b] = -1


@fast
def _holds(
    Xc: np.ndarray, w: np.ndarray, b: float, sign: float, pts: np.ndarray, tol: float
) -> bool:
    """Does ``sign * (w.x + b) >= tol`` hold at every point of ``pts``?"""
    i = 0
    while i < pts.shape[0] and sign * (dot(Xc[pts[i]], w) + b) >= tol:
        i += 1
    return i == pts.shape[0]


@fast
def _chain_holds(
    Xc: np.ndarray,
    w: np.ndarray,
    b: float,
    sign: float,
    head: np.ndarray,
    nxt: np.ndarray,
    cid: int,
    tol: float,
) -> bool:
    """As :func:`_holds`, over the points of cluster ``cid``."""
    p = head[cid]
    while p >= 0:
        if sign * (dot(Xc[p], w) + b) < tol:
            return False
        p = nxt[p]
    return True


@fast
def _memo_key(code: int) -> int:
    """Where a certificate's hyperplane, in the orientation the code names, is remembered
    in the tests' memory (two entries per hyperplane). An entry is ``2 * stamp + ok``:
    the stamp of the last set of points tested and the outcome, in one number, so that a
    look-up reads one place in memory (the entries of hundreds of thousands of
    hyperplanes are mostly read from outside any cache)."""
    return 2 * (abs(code) - 1) + (1 if code < 0 else 0)


@fast
def _code_clears(
    Xc: np.ndarray,
    W: np.ndarray,
    B: np.ndarray,
    code: int,
    pts: np.ndarray,
    tol: float,
    memo: np.ndarray,
    stamp: int,
) -> bool:
    """Does certificate ``code``'s hyperplane put every point of ``pts`` on the side it
    names? Remembered under ``stamp`` (one stamp per set of points), so that a hyperplane
    serving many clusters is tested once."""
    key = _memo_key(code)
    seen = memo[key]
    if seen >> 1 == stamp:
        return (seen & 1) == 1
    serial = abs(code) - 1
    ok = _holds(Xc, W[serial], B[serial], 1.0 if code > 0 else -1.0, pts, tol)
    memo[key] = 2 * stamp + (1 if ok else 0)
    return ok


@fast
def inherited(
    Xc: np.ndarray,
    W: np.ndarray,
    B: np.ndarray,
    from_a: np.ndarray,
    from_b: np.ndarray,
    mem_a: np.ndarray,
    mem_b: np.ndarray,
    tol: float,
    memo: np.ndarray,
    stamp: int,
) -> np.ndarray:
    """The merged cluster's certificates from its parents' (``from_a``/``from_b``, against
    the same clusters; 0: none): one both parents hold needs no test; otherwise the
    bigger parent's hyperplane tested on the smaller parent's points, then the smaller
    parent's on the bigger's. Uses stamps ``stamp`` and ``stamp + 1``."""
    n = from_a.shape[0]
    found = np.zeros(n, dtype=np.int64)
    for i in range(n):
        if from_a[i] == from_b[i]:
            found[i] = from_a[i]
    a_first = mem_b.shape[0] <= mem_a.shape[0]
    for r in range(2):
        use_a = a_first if r == 0 else not a_first
        codes = from_a if use_a else from_b
        other = mem_b if use_a else mem_a
        for i in range(n):
            if (
                found[i] == 0
                and codes[i] != 0
                and _code_clears(Xc, W, B, codes[i], other, tol, memo, stamp + r)
            ):
                found[i] = codes[i]
    return found


@fast
def pool_certificates(
    Xh: np.ndarray,
    W: np.ndarray,
    B: np.ndarray,
    big_codes: np.ndarray,
    small_mem: np.ndarray,
    pool_size: int,
    ocentre: np.ndarray,
    oradius: np.ndarray,
    ocid: np.ndarray,
    close: np.ndarray,
    codes: np.ndarray,
    head: np.ndarray,
    nxt: np.ndarray,
    tol: float,
    slack: float,
    clear: float,
    memo: np.ndarray,
    stamp: int,
) -> int:
    """Fill ``codes`` (0: none yet) from the bigger parent's hyperplanes against nearby
    clusters (``big_codes``, nearest first): the first ``pool_size`` distinct ones that
    also clear the smaller parent's points, tried in that order on each other cluster
    (slots ``close``, of a block with centroids ``ocentre``, radii ``oradius`` and
    creation ids ``ocid``). A cluster's ball on the right side settles it with no pass
    over its points (``slack`` covers the radius's rounding); a centroid on the wrong side
    of every hyperplane rules the points' pass out. Points are read from ``Xh`` (float32,
    see :func:`centroid_directions`): there a hyperplane must clear them by ``clear``
    (``tol`` plus a bound on their rounding). Uses stamps ``stamp`` and ``stamp + 1``;
    returns how many clusters were settled."""
    # distinct codes in order of first appearance
    pool = np.empty(min(pool_size, big_codes.shape[0]), dtype=np.int64)
    k = 0
    for i in range(big_codes.shape[0]):
        if k == pool.shape[0]:
            break
        code = big_codes[i]
        if code == 0:
            continue
        key = _memo_key(code)
        if memo[key] >> 1 == stamp:
            continue
        memo[key] = 2 * stamp
        pool[k] = code
        k += 1
    n_pool = 0
    for i in range(k):
        if _code_clears(Xh, W, B, pool[i], small_mem, clear, memo, stamp + 1):
            pool[n_pool] = pool[i]
            n_pool += 1
    got = 0
    if n_pool == 0:
        return got
    for i in range(codes.shape[0]):
        if codes[i] != 0:
            continue
        slot = close[i]
        best = -1
        hopeful = False
        for j in range(n_pool):
            serial = abs(pool[j]) - 1
            # the other cluster must lie on the negative side of the code's orientation
            flip = -1.0 if pool[j] > 0 else 1.0
            at_centre = flip * (dot(ocentre[slot], W[serial]) + B[serial])
            if at_centre - oradius[slot] >= tol + slack:
                best = j
                break
            if at_centre >= tol:
                hopeful = True
        if best < 0 and hopeful:
            for j in range(n_pool):
                serial = abs(pool[j]) - 1
                flip = -1.0 if pool[j] > 0 else 1.0
                if _chain_holds(Xh, W[serial], B[serial], flip, head, nxt, ocid[slot], clear):
                    best = j
                    break
        if best >= 0:
            codes[i] = pool[best]
            got += 1
    return got


@fast
def shifted_planes(
    Xh: np.ndarray,
    W: np.ndarray,
    B: np.ndarray,
    big_codes: np.ndarray,
    small_mem: np.ndarray,
    ocid: np.ndarray,
    close: np.ndarray,
    codes: np.ndarray,
    head: np.ndarray,
    nxt: np.ndarray,
    tol: float,
    both_rounded: float,
) -> tuple[np.ndarray, np.ndarray]:
    """For each cluster still without a certificate (``codes`` 0; slots ``close`` of a
    block with creation ids ``ocid``) that the bigger parent's certificate (``big_codes``)
    no longer settles because the smaller parent's points (``small_mem``) are not on its
    side by ``tol``: the same hyperplane moved towards the other cluster, when there is
    room for it between that cluster and those points. Returns the positions in
    ``close`` where it fits and the moved hyperplanes' offsets (their normals are the
    serials').

    The bigger parent is on the code's side by ``tol`` at least (a certificate), and the
    other cluster on the other side; moving the hyperplane towards the other cluster
    keeps the bigger parent on its side, so only the smaller parent's points and the
    other cluster's need reading. Products are read through the float32 points and
    normals, within ``both_rounded`` of the exact ones (see ``Planes.both_rounded``); the
    sides compared are bounds on the exact ones, and the hyperplane goes midway.
    """
    m = codes.shape[0]
    at = np.empty(m, dtype=np.int64)
    off = np.empty(m)
    k = 0
    for i in range(m):
        code = big_codes[i]
        if codes[i] != 0 or code == 0:
            continue
        serial = abs(code) - 1
        sign = 1.0 if code > 0 else -1.0
        w = W[serial]
        # the lowest the candidate's points can be on the code's side: the bigger
        # parent's are at tol or more
        lo = tol
        for j in range(small_mem.shape[0]):
            lo = min(lo, sign * (dot(Xh[small_mem[j]], w) + B[serial]) - both_rounded)
        # the highest the other cluster's points can be; the walk stops once there is
        # no room left
        hi = -np.inf
        p = head[ocid[close[i]]]
        while p >= 0 and lo - hi > 2.0 * tol:
            hi = max(hi, sign * (dot(Xh[p], w) + B[serial]) + both_rounded)
            p = nxt[p]
        if p < 0 and lo - hi > 2.0 * tol:
            at[k] = i
            # the side's value at the new hyperplane is midway between the two bounds
            off[k] = B[serial] - sign * (lo + hi) / 2.0
            k += 1
    return at[:k], off[:k]


@fast
def centroid_directions(
    Xh: np.ndarray,
    mem: np.ndarray,
    centre: np.ndarray,
    ocentre: np.ndarray,
    oradius: np.ndarray,
    ocid: np.ndarray,
    close: np.ndarray,
    codes: np.ndarray,
    head: np.ndarray,
    nxt: np.ndarray,
    tol: float,
    slack: float,
    rounding: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """For each cluster still without a certificate (``codes`` 0; slots ``close``), the
    direction joining the two centroids, when it separates the candidate (points
    ``mem``, centroid ``centre``) from it by more than ``2 tol``: returns the positions
    in ``close`` where one does, its unit direction and its offset (midway between the
    two sides), and how many were tried.

    The other cluster's side is first bounded by its ball (its centroid's projection plus
    its radius, ``slack`` covering the radius's rounding); its points are projected only
    when the candidate comes closer than that bound. Points are read from ``Xh``, the
    run's points rounded to float32 (half the memory to read), and every projection is
    widened by ``rounding``, a bound on what that rounding moves it: the sides compared
    are bounds on the exact ones.
    """
    d = centre.shape[0]
    todo = np.flatnonzero(codes == 0)
    m = todo.shape[0]
    U = np.empty((m, d))
    hi = np.empty(m)
    lo = np.full(m, np.inf)
    exact = np.zeros(m, dtype=np.bool_)
    for a in range(m):
        slot = close[todo[a]]
        # through one-dimensional views: loops over two indices are not vectorised
        ua = U[a]
        oc = ocentre[slot]
        norm = 0.0
        for k in range(d):
            ua[k] = centre[k] - oc[k]
            norm += ua[k] * ua[k]
        norm = max(np.sqrt(norm), 1e-300)
        for k in range(d):
            ua[k] /= norm
        hi[a] = dot(oc, ua) + oradius[slot] + slack
    # The candidate's points a chunk at a time, every direction still standing on each,
    # as one matrix product (a big candidate is read from memory once, not once per
    # direction, and the BLAS's product runs several times faster than dot products one
    # by one: most directions win, and a win projects all of the candidate's points).
    alive = np.arange(m)
    n_alive = m
    rows = np.empty((min(_CHUNK, mem.shape[0]), d))
    Ua = U.copy()  # the standing directions, in the order of ``alive``
    for c0 in range(0, mem.shape[0], _CHUNK):
        if n_alive == 0:
            break
        c1 = min(c0 + _CHUNK, mem.shape[0])
        chunk = rows[: c1 - c0]
        for r in range(c0, c1):
            row, point = chunk[r - c0], Xh[mem[r]]
            for k in range(d):
                row[k] = point[k]
        V = np.dot(chunk, Ua[:n_alive].T)
        kept = 0
        for ai in range(n_alive):
            a = alive[ai]
            low = V[0, ai]
            for r in range(1, c1 - c0):
                low = min(low, V[r, ai])
            low -= rounding
            failed = False
            if low < lo[a]:
                lo[a] = low
                if lo[a] - hi[a] <= 2.0 * tol:
                    if not exact[a]:
                        # the other cluster's side exactly; one of its points as close as
                        # the candidate's lowest so far already rules the direction out
                        # (the lowest can only get lower)
                        exact[a] = True
                        top = -np.inf
                        p = head[ocid[close[todo[a]]]]
                        while p >= 0 and lo[a] - top > 2.0 * tol:
                            top = max(top, dot(Xh[p], U[a]) + rounding)
                            p = nxt[p]
                        hi[a] = top
                    failed = lo[a] - hi[a] <= 2.0 * tol
            if not failed:
                if kept != ai:
                    Ua[kept] = Ua[ai]
                alive[kept] = a
                kept += 1
        n_alive = kept
    won = alive[:n_alive]
    return todo[won], U[won], -(lo[won] + hi[won]) / 2.0, m


@fast
def near_slots(
    cid: np.ndarray,
    centre: np.ndarray,
    cnorm2: np.ndarray,
    pcentre: np.ndarray,
    offspan: np.ndarray,
    radius: np.ndarray,
    c: np.ndarray,
    cn2: float,
    pc: np.ndarray,
    off: float,
    r: float,
    tol: float,
) -> np.ndarray:
    """Rows of a block's view (creation ids ``cid``, centroids, their squared norms, their
    coordinates on the principal directions and distances from their span (``pc``,
    ``off``: the candidate's; ``pc`` empty: no principal directions), radii) whose balls
    meet the ball of centroid ``c`` and radius ``r``, nearest first, ties by row
    (``tol``: the slack that keeps rounding from pruning a touching pair).

    Two lower bounds on the distance rule out most balls at a fraction of its cost: the
    difference of the distances from the span (one number per ball, read before anything
    else of it), then that plus the distance within the principal directions (the two
    parts are orthogonal; the leading directions first). Each stage is a pass over the
    balls the last one kept, which it keeps or drops without a branch (a ball's fate is
    a coin toss to the processor, and mispredicted branches were a third of the time);
    each bound saves the next one's reads of memory.
    """
    n = cid.shape[0]
    idx = np.empty(n, dtype=np.int64)
    low = np.empty(n)  # the lower bound on the squared distance so far
    reach = np.empty(n)  # the distance within which the ball meets the candidate's
    k = 0
    for i in range(n):
        reach_i = r + radius[i] + tol
        low2 = 0.0
        if pc.shape[0]:
            # Distances from the span come from a difference of squares (norm minus
            # principal part), which loses digits: ``tol`` covers that rounding too.
            gap = abs(offspan[i] - off) - tol
            low2 = gap * gap if gap > 0.0 else 0.0
        idx[k] = i
        low[k] = low2
        reach[k] = reach_i
        k += (cid[i] >= 0) & (low2 <= reach_i * reach_i)
    for q0, q1 in ((0, _LEADING), (_LEADING, pc.shape[0])):
        if not pc.shape[0]:
            break
        kept = 0
        for j in range(k):
            i = idx[j]
            low2 = low[j]
            pi = pcentre[i]
            for q in range(q0, q1):
                g = pi[q] - pc[q]
                low2 += g * g
            idx[kept] = i
            low[kept] = low2
            reach[kept] = reach[j]
            kept += low2 <= reach[j] * reach[j]
        k = kept
    dist = np.empty(k)
    kept = 0
    for j in range(k):
        i = idx[j]
        dd = np.sqrt(max(cnorm2[i] + cn2 - 2.0 * dot(centre[i], c), 0.0))
        idx[kept] = i
        dist[kept] = dd
        kept += dd <= reach[j]
    order = np.argsort(dist[:kept], kind="mergesort")
    return idx[:kept][order]
