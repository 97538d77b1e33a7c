"""Certificates: hyperplanes already verified between clusters of different labels, reused
before any solver runs.

Glossary:

- *plane*: a verified hyperplane ``w.x + b = 0`` (``||w|| = 1``, the run's centred
  coordinates), registered once with a *serial* (:class:`Planes`);
- *code*: a certificate between two clusters: ``serial + 1`` when the plane's positive side
  holds the cluster asked about and the other cluster lies on the negative side, minus that
  the other way round, 0 when none is known;
- *slot*: a cluster's place in its label's block (see ``blocks``); certificates are kept by
  slot in one table per ordered pair of labels (:class:`CertificateTable`);
- *clears*: a code clears a set of points when its plane puts every one of them on the side
  it names, by ``SEPARATION_TOL`` at least;
- *reuse*: settling a pair of clusters with a known plane: inherited from a parent
  (:func:`inherit`), one of the bigger parent's planes against nearby clusters
  (:func:`try_pool`), or the direction joining the two centroids (:func:`try_centroids`).
"""

from __future__ import annotations

import numpy as np

from ftprobe.geometry.merging.blocks import LabelBlock
from ftprobe.geometry.merging.stats import ClusteringStats
from ftprobe.geometry.separability import SEPARATION_TOL

# Planes of the bigger parent tried on a candidate, nearest clusters' first.
_POOL_SIZE = 96
# Up to this many directions, try_centroids projects every point on all of them.
_DENSE_DIRECTIONS = 16
# Points a plane is first tested on: most that fail on a big cluster fail early.
_FIRST_POINTS = 32


class CertificateTable:
    """Verified hyperplanes between the current clusters of different labels, by slot.

    Codes are kept in one int32 table per ordered pair of labels (rows: the slots of the
    first label), the two orientations of a pair mirroring each other, so that every
    look-up and every change is a row's worth of contiguous memory. Only labels whose hulls
    overlap as wholes have tables (their clusters are the only ones ever checked against
    each other: a pair of labels is settled at the first contact of their clusters), made
    at their first certificate.
    """

    def __init__(self, sizes: dict[int, int]) -> None:
        self.sizes = sizes
        self.tables: dict[tuple[int, int], np.ndarray] = {}
        self.partners: dict[int, set[int]] = {}

    def get(self, K: int, s: int, L: int, slots: np.ndarray) -> np.ndarray:
        """Codes of K's slot ``s`` against L's ``slots`` (int64)."""
        table = self.tables.get((K, L))
        if table is None:
            return np.zeros(len(slots), dtype=np.int64)
        return table[s, slots].astype(np.int64)

    def put(self, K: int, s: int, L: int, slots: np.ndarray, codes: np.ndarray) -> None:
        """Record ``codes`` (as :meth:`get` returns them) of K's slot ``s`` against L's
        ``slots``."""
        table = self.tables.get((K, L))
        if table is None:
            table = self.tables[(K, L)] = np.zeros((self.sizes[K], self.sizes[L]), np.int32)
            self.tables[(L, K)] = np.zeros((self.sizes[L], self.sizes[K]), np.int32)
            self.partners.setdefault(K, set()).add(L)
            self.partners.setdefault(L, set()).add(K)
        table[s, slots] = codes
        self.tables[(L, K)][slots, s] = -codes

    def clear(self, K: int, s: int) -> None:
        """Forget every certificate of K's slot ``s`` (its cluster is merged away)."""
        for L in self.partners.get(K, ()):
            row = self.tables[(K, L)][s]
            held = np.flatnonzero(row)
            if len(held):
                row[held] = 0
                self.tables[(L, K)][held, s] = 0


class Planes:
    """Every hyperplane made in a run, by serial: normals and offsets as rows, so that a
    set of them is tested with one gather and one product, and the points that carried
    weight when each was found (None: not found by a solver)."""

    def __init__(self, Xc: np.ndarray, scale: float) -> None:
        self.Xc = Xc
        self.scale = scale
        self.w = np.empty((1024, Xc.shape[1]))
        self.b = np.empty(1024)
        self.n = 0
        self.support: list[np.ndarray | None] = []

    def add(self, w: np.ndarray, b: float, support: np.ndarray | None) -> int:
        """Register a verified hyperplane ``w.x + b = 0`` (``||w|| = 1``); its serial."""
        k = self.n
        if k == len(self.b):
            self.w = np.concatenate([self.w, np.empty_like(self.w)])
            self.b = np.concatenate([self.b, np.empty_like(self.b)])
        self.w[k] = w
        self.b[k] = b
        self.n = k + 1
        self.support.append(support)
        return k

    def clears(self, codes: np.ndarray, mem: np.ndarray) -> np.ndarray:
        """For each code: does its hyperplane put every point of ``mem`` on the side it
        names (by ``tol`` at least)?

        Each distinct hyperplane is evaluated once, on a first few points, then only the
        ones still standing on the rest: most that fail on a big cluster fail early.
        """
        serial = np.abs(codes) - 1
        sign = np.sign(codes).astype(np.float64)
        tol = SEPARATION_TOL * self.scale
        if len(mem) <= _FIRST_POINTS:
            # a few points (often one): every plane on all of them, repeats included
            vals = self.Xc[mem] @ self.w[serial].T + self.b[serial]
            return (sign * vals).min(axis=0) >= tol
        uniq, back = np.unique(serial, return_inverse=True)
        # which orientations of each distinct plane are asked for
        want_pos = np.zeros(len(uniq), dtype=bool)
        want_neg = np.zeros(len(uniq), dtype=bool)
        want_pos[back[sign > 0]] = True
        want_neg[back[sign < 0]] = True
        lo = np.full(len(uniq), np.inf)
        hi = np.full(len(uniq), -np.inf)
        alive = np.arange(len(uniq))
        for part in (mem[:_FIRST_POINTS], mem[_FIRST_POINTS:]):
            if len(part) == 0 or len(alive) == 0:
                break
            cols = uniq[alive]
            vals = self.Xc[part] @ self.w[cols].T + self.b[cols]
            lo[alive] = np.minimum(lo[alive], vals.min(axis=0))
            hi[alive] = np.maximum(hi[alive], vals.max(axis=0))
            alive = np.flatnonzero((want_pos & (lo >= tol)) | (want_neg & (-hi >= tol)))
        standing = np.zeros(len(uniq), dtype=bool)
        standing[alive] = True
        worst = np.where(sign > 0, lo[back], -hi[back])  # min over mem of sign * (w.x + b)
        return (worst >= tol) & standing[back]


def members_of(
    members: dict[int, np.ndarray], blk: LabelBlock, slots: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The points of the clusters in ``slots``, one cluster after the other, and how many
    each has."""
    mems = [members[int(c)] for c in blk.cid[slots]]
    lens = np.fromiter((len(mm) for mm in mems), dtype=np.int64, count=len(mems))
    return np.concatenate(mems), lens


def _starts(lens: np.ndarray) -> np.ndarray:
    """Where each of consecutive segments of these lengths starts (for ``reduceat``)."""
    return np.concatenate([[0], np.cumsum(lens)[:-1]])


def inherit(
    planes: Planes,
    from_a: np.ndarray,
    from_b: np.ndarray,
    mem_a: np.ndarray,
    mem_b: np.ndarray,
    stats: ClusteringStats,
) -> np.ndarray:
    """Certificates for the merged cluster inherited from its parents (0: none).

    ``from_a``/``from_b``: the parents' certificates against the same clusters. A
    hyperplane that separated parent A from D is tested on parent B's points; when both
    parents hold the very same one against D it needs no test at all. The bigger parent's
    hyperplanes go first (they are tested on the smaller parent's points); the smaller
    parent's only for what is left. Each round tests all its hyperplanes at once.
    """
    found = np.where(from_a == from_b, from_a, 0)
    rounds = [(from_a, mem_b), (from_b, mem_a)]
    if len(mem_b) > len(mem_a):
        rounds.reverse()
    for codes, other_mem in rounds:
        idx = np.flatnonzero((found == 0) & (codes != 0))
        if len(idx):
            idx = idx[planes.clears(codes[idx], other_mem)]
            found[idx] = codes[idx]
    stats.certificate_reuses += int(np.count_nonzero(found))
    return found


def try_pool(
    planes: Planes,
    members: dict[int, np.ndarray],
    big_codes: np.ndarray,
    small_mem: np.ndarray,
    oblk: LabelBlock,
    close: np.ndarray,
    codes: np.ndarray,
    stats: ClusteringStats,
) -> None:
    """Try the hyperplanes that separate the bigger parent from the clusters near the
    candidate (``big_codes``) on the merged cluster and the clusters still without a
    certificate (``codes`` 0; filled in where one holds).

    A hyperplane that separated the bigger parent from one cluster often also separates
    the merged cluster from another one nearby, and testing them all at once is much
    cheaper than a solver call. They already hold on the bigger parent, so only the
    smaller one's points need testing.
    """
    held = big_codes[big_codes != 0]
    if not len(held):
        return
    _, first = np.unique(held, return_index=True)
    pool = held[np.sort(first)[:_POOL_SIZE]]  # nearest clusters' first
    pool = pool[planes.clears(pool, small_mem)]
    if not len(pool):
        return
    todo = np.flatnonzero(codes == 0)
    slots = close[todo]
    serial = np.abs(pool) - 1
    W, b = planes.w[serial].T, planes.b[serial]
    # the other cluster must lie on the negative side of each code's orientation
    flip = -np.sign(pool).astype(np.float64)
    scale = planes.scale
    tol = SEPARATION_TOL * scale
    # A cluster's ball on the right side settles it with no pass over its points; its
    # centroid on the wrong side rules the hyperplane out (the slack covers the rounding
    # of the radius, as in the ball test).
    at_centre = (oblk.centre[slots] @ W + b) * flip
    ok = at_centre - oblk.radius[slots][:, None] >= tol + 1e-6 * scale
    hopeful = ~ok.any(axis=1) & (at_centre >= tol).any(axis=1)
    if hopeful.any():
        rows = np.flatnonzero(hopeful)
        pts, lens = members_of(members, oblk, slots[rows])
        vals = (planes.Xc[pts] @ W + b) * flip
        ok[rows] = np.minimum.reduceat(vals, _starts(lens), axis=0) >= tol
    got = ok.any(axis=1)
    codes[todo[got]] = pool[ok[got].argmax(axis=1)]
    stats.certificate_reuses += int(got.sum())


def try_centroids(
    planes: Planes,
    members: dict[int, np.ndarray],
    rows: np.ndarray,
    centre: np.ndarray,
    oblk: LabelBlock,
    close: np.ndarray,
    codes: np.ndarray,
    stats: ClusteringStats,
) -> None:
    """Try, for each cluster still without a certificate, the direction joining the two
    centroids; ``rows`` are the merged cluster's points (centred)."""
    todo = np.flatnonzero(codes == 0)
    slots = close[todo]
    U = centre[None, :] - oblk.centre[slots]
    U /= np.maximum(np.linalg.norm(U, axis=1, keepdims=True), 1e-300)
    lo = (rows @ U.T).min(axis=0)  # (len(todo),)
    scale = planes.scale
    tol = SEPARATION_TOL * scale
    # The other cluster's ball bounds its side (its centroid's projection plus its radius,
    # which is computed from norms: the slack covers that rounding, as in the ball test):
    # enough for most small clusters, whose points then need no projecting.
    slack = 1e-6 * scale
    hi = np.einsum("ij,ij->i", oblk.centre[slots], U) + oblk.radius[slots] + slack
    exact = np.flatnonzero(lo - hi <= 2 * tol)
    if len(exact):
        pts, lens = members_of(members, oblk, slots[exact])
        rows_of = np.repeat(np.arange(len(exact)), lens)
        if len(exact) <= _DENSE_DIRECTIONS:
            # Every point on every direction, one matrix product, and each point's own
            # column kept: the wasted products cost less than gathering a direction per
            # point (a second array the size of the points) for a row-wise product.
            proj = (planes.Xc[pts] @ U[exact].T)[np.arange(len(pts)), rows_of]
        else:
            proj = np.einsum("ij,ij->i", planes.Xc[pts], U[exact][rows_of])
        hi[exact] = np.maximum.reduceat(proj, _starts(lens))
    stats.centroid_tries += len(todo)
    for i in np.flatnonzero(lo - hi > 2 * tol).tolist():
        stats.centroid_wins += 1
        stats.certificate_reuses += 1
        codes[todo[i]] = planes.add(U[i].copy(), -(lo[i] + hi[i]) / 2, None) + 1
