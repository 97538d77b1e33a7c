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
  it names, by ``SEPARATION_TOL`` at least (tested on the float32 points by
  :attr:`Planes.clear`, which covers their rounding);
- *reuse*: settling a pair of clusters with a known plane: inherited from a parent
  (:func:`inherit`), one of the bigger parent's planes against nearby clusters
  (:func:`try_pool`), or the direction joining the two centroids (:func:`try_centroids`).
"""

from __future__ import annotations

import numpy as np

from ftprobe.geometry.merging import compiled_tests
from ftprobe.geometry.merging.blocks import BALL_SLACK, LabelBlock
from ftprobe.geometry.merging.compiled_tests import MemberChains
from ftprobe.geometry.merging.stats import ClusteringStats
from ftprobe.geometry.separability import SEPARATION_TOL

# Planes of the bigger parent tried on a candidate, nearest clusters' first.
_POOL_SIZE = 96


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
        compiled_tests.put_row(table, self.tables[(L, K)], s, slots, codes)

    def clear(self, K: int, s: int) -> None:
        """Forget every certificate of K's slot ``s`` (its cluster is merged away)."""
        for L in self.partners.get(K, ()):
            compiled_tests.clear_row(self.tables[(K, L)], self.tables[(L, K)], s)


class Planes:
    """Every hyperplane made in a run, by serial: normals and offsets as rows, and the
    points that carried weight when each was found (None: not found by a solver).

    It also holds the tests' memory (see :mod:`compiled_tests`): per orientation of each
    hyperplane, the stamp of the last set of points it was tested on, and the outcome;
    and the points as the tests read them (``Xh``: the run's centred points ``Xc``
    rounded to float32, each product with a unit normal within ``rounding`` of the exact
    one).
    """

    def __init__(self, Xc: np.ndarray, scale: float) -> None:
        self.scale = scale
        self.tol = SEPARATION_TOL * scale
        # The tests' passes over points read them rounded to float32: they are bound by
        # memory, not arithmetic (the 50,241 words read 300 million rows in the centroid
        # test alone), and half the bytes is about a third less time. Rounding moves a
        # point's product with a unit normal by at most 2**-24 |x| <= 2**-24 scale
        # (products summed in float64), about an eighth of the tolerance; the tests widen
        # every projection by that much, so what they accept holds on the exact points.
        # Outside float32's range (where that bound fails) the points stay as they are.
        if 1e-30 < scale < 1e30:
            self.Xh = Xc.astype(np.float32)
            self.rounding = 2.0**-24 * scale * 1.01
        else:
            self.Xh, self.rounding = Xc, 0.0
        # what a hyperplane must clear the points of Xh by to clear the exact ones by tol
        self.clear = self.tol + self.rounding
        self.w = np.empty((1024, Xc.shape[1]))
        self.b = np.empty(1024)
        self.memo = np.full(2 * 1024, -1, dtype=np.int64)
        self.memo_ok = np.zeros(2 * 1024, dtype=bool)
        self._stamp = 0
        self.n = 0
        self.support: list[np.ndarray | None] = []

    def add(self, w: np.ndarray, b: float, support: np.ndarray | None) -> int:
        """Register a verified hyperplane ``w.x + b = 0`` (``||w|| = 1``); its serial."""
        k = self.add_many(w[None, :], np.array([b]))
        self.support[k] = support
        return k

    def add_many(self, W: np.ndarray, b: np.ndarray) -> int:
        """Register verified hyperplanes ``W[i].x + b[i] = 0`` found by no solver; the
        first one's serial (the others follow in order)."""
        k, m = self.n, len(b)
        while k + m > len(self.b):
            for name in ("w", "b", "memo", "memo_ok"):
                self._double(name)
            self.memo[len(self.memo) // 2 :] = -1
        self.w[k : k + m] = W
        self.b[k : k + m] = b
        self.n = k + m
        self.support.extend([None] * m)
        return k

    def _double(self, name: str) -> None:
        """Give the array attribute ``name`` twice its rows, the new ones zero.

        In place (``realloc``: the memory is remapped, not copied) when the attribute is
        the array's only reference, as it is between calls; otherwise (a caller still
        holds it, or a profiler's hooks hold references) as a copy, so that what the
        caller holds stays valid. A run can register hundreds of thousands of hyperplanes
        (200 to 400 MB of normals): copying them at each doubling into fresh memory took
        2.2 s of POS layer 0's 64 s.
        """
        a = vars(self).pop(name)  # the attribute's reference, which resize counts, is gone
        try:
            a.resize((2 * a.shape[0], *a.shape[1:]), refcheck=True)
        except ValueError:
            a = np.concatenate([a, np.zeros_like(a)])
        finally:
            setattr(self, name, a)

    def stamps(self, k: int) -> int:
        """The first of ``k`` fresh stamps (one per set of points the tests run on)."""
        first = self._stamp
        self._stamp += k
        return first


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
    parent's only for what is left.
    """
    found = compiled_tests.inherited(
        planes.Xh,
        planes.w,
        planes.b,
        from_a,
        from_b,
        mem_a,
        mem_b,
        planes.clear,
        planes.memo,
        planes.memo_ok,
        planes.stamps(2),
    )
    stats.certificate_reuses += int(np.count_nonzero(found))
    return found


def try_pool(
    planes: Planes,
    chains: MemberChains,
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
    the merged cluster from another one nearby, and testing them all is much cheaper than
    a solver call. They already hold on the bigger parent, so only the smaller one's
    points need testing.
    """
    stats.certificate_reuses += compiled_tests.pool_certificates(
        planes.Xh,
        planes.w,
        planes.b,
        big_codes,
        small_mem,
        _POOL_SIZE,
        oblk.centre,
        oblk.radius,
        oblk.cid,
        close,
        codes,
        chains.head,
        chains.nxt,
        planes.tol,
        BALL_SLACK * planes.scale,
        planes.clear,
        planes.memo,
        planes.memo_ok,
        planes.stamps(2),
    )


def try_centroids(
    planes: Planes,
    chains: MemberChains,
    mem: np.ndarray,
    centre: np.ndarray,
    oblk: LabelBlock,
    close: np.ndarray,
    codes: np.ndarray,
    stats: ClusteringStats,
) -> None:
    """Try, for each cluster still without a certificate, the direction joining the two
    centroids; ``mem`` are the merged cluster's points, ``centre`` its centroid."""
    at, U, off, tries = compiled_tests.centroid_directions(
        planes.Xh,
        mem,
        centre,
        oblk.centre,
        oblk.radius,
        oblk.cid,
        close,
        codes,
        chains.head,
        chains.nxt,
        planes.tol,
        BALL_SLACK * planes.scale,
        planes.rounding,
    )
    stats.centroid_tries += tries
    stats.centroid_wins += len(at)
    stats.certificate_reuses += len(at)
    if len(at):
        codes[at] = planes.add_many(U, off) + 1 + np.arange(len(at))
