"""Certificates: hyperplanes already verified between clusters of different labels, reused
before any solver runs.

Glossary:

- *plane*: a verified hyperplane ``w.x + b = 0`` (``||w|| = 1``, the run's centred
  coordinates), registered once with a *serial* (:class:`Planes`);
- *code*: a certificate between two clusters: ``serial + 1`` when the plane's positive side
  holds the cluster asked about and the other cluster lies on the negative side, minus that
  the other way round, 0 when none is known;
- *table*: the codes of current cluster pairs, by the clusters' creation ids
  (:class:`CertificateTable`);
- *clears*: a code clears a set of points when its plane puts every one of them on the side
  it names, by ``SEPARATION_TOL`` at least (tested on the float32 points by
  :attr:`Planes.clear`, which covers their rounding);
- *reuse*: settling a pair of clusters with a known plane: inherited from a parent
  (:func:`inherit`), one of the bigger parent's planes against nearby clusters
  (:func:`try_pool`), the bigger parent's plane moved past the smaller parent's points
  (:func:`try_shifted`), or the direction joining the two centroids (:func:`try_centroids`).
"""

from __future__ import annotations

import numpy as np

from ftprobe.geometry.compiled import fast
from ftprobe.geometry.merging import compiled_tests
from ftprobe.geometry.merging.blocks import BALL_SLACK, LabelBlock
from ftprobe.geometry.merging.compiled_tests import MemberChains
from ftprobe.geometry.merging.stats import ClusteringStats
from ftprobe.geometry.separability import SEPARATION_TOL

# Planes of the bigger parent tried on a candidate, nearest clusters' first.
_POOL_SIZE = 96


class CertificateTable:
    """Verified hyperplanes between current clusters of different labels, by the clusters'
    creation ids.

    One open-addressing hash table of (cluster pair, code), each pair once (its code as
    seen from the lower id; the other side reads it negated). A cluster's certificates are
    never removed one by one: a merged-away cluster is retired and its entries, which no
    one asks for again (ids are never reused), are dropped when the table is rebuilt.

    Why not a table per pair of labels, by slot: at most a few tens of thousands of
    certificates are current at once (74,416 at the peak of POS layer 6 in 128-d), but
    such tables span every pair of slots (1.76 GiB there, 1.45 GiB of it written, as the
    merges touch a column of the mirror on every row), and on these machines the first
    write to memory a process has not used before costs 4 to 7 s per GiB. The hash table
    stays a few MB (6 MB there).
    """

    def __init__(self, n_ids: int) -> None:
        """A table for clusters with creation ids ``0 .. n_ids - 1``."""
        # a pair's key is the lower id's bits above the higher id's: splitting a key back
        # into its ids (every bucket, at every rebuild) is then a shift and a mask instead
        # of a division and a remainder (the rebuilds' time is mostly their reads and
        # writes of memory all the same: about 10 ns a bucket either way)
        self.bits = max(1, (n_ids - 1).bit_length())
        self.retired = np.zeros(n_ids, dtype=bool)
        self.used = 0  # buckets holding an entry, current or retired
        self._make(_MIN_BUCKETS)

    def _make(self, buckets: int) -> None:
        self.keys = np.full(buckets, -1, dtype=np.int64)
        self.codes = np.zeros(buckets, dtype=np.int32)
        self.shift = 64 - (buckets.bit_length() - 1)

    def get(self, a: int, others: np.ndarray) -> np.ndarray:
        """Codes of cluster ``a`` against the clusters ``others`` (creation ids; int64, 0:
        none known)."""
        out = np.zeros(len(others), dtype=np.int64)
        _hash_get(self.keys, self.codes, self.shift, self.bits, a, others, out)
        return out

    def put(self, a: int, others: np.ndarray, codes: np.ndarray) -> None:
        """Record ``codes`` (as :meth:`get` returns them; 0 records nothing) of cluster
        ``a`` against ``others``."""
        # Below half full, every probe ends within a few buckets.
        if 2 * (self.used + len(others)) > len(self.keys):
            self.rebuild(len(others))
        self.used += _hash_put(self.keys, self.codes, self.shift, self.bits, a, others, codes)

    def retire(self, *ids: int) -> None:
        """The clusters ``ids`` were merged away: their certificates are never asked for
        again."""
        self.retired[list(ids)] = True

    def rebuild(self, coming: int = 0) -> None:
        """Drop retired clusters' entries (:meth:`put` does, before the table would be more
        than half full); twice the buckets while the current entries and ``coming`` more
        would fill more than an eighth of them. Each rebuild reads every bucket: kept to a
        quarter, the table of POS layer 6 in 128-d was rebuilt every 72,000 insertions
        (304 times, 1.6 s of its run)."""
        keys, codes = self.keys, self.codes
        live = _hash_live(keys, self.retired, self.bits)
        buckets = len(keys)
        while 8 * (live + coming) > buckets:
            buckets *= 2
        self._make(buckets)
        self.used = _hash_move(
            keys, codes, self.retired, self.bits, self.keys, self.codes, self.shift
        )


# Buckets of a new certificate table (int64 keys and int32 codes: 768 KB).
_MIN_BUCKETS = 1 << 16
# Fibonacci hashing: the product's top bits index the buckets.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@fast
def _bucket(keys: np.ndarray, shift: int, key: int) -> int:
    """The bucket holding ``key``, or the empty one where it would go (linear probing)."""
    mask = keys.shape[0] - 1
    i = np.int64((np.uint64(key) * _GOLDEN) >> np.uint64(shift))
    while keys[i] != key and keys[i] != -1:
        i = (i + 1) & mask
    return i


@fast
def _pair_key(a: int, b: int, bits: int) -> tuple[int, int]:
    """The key of the pair of clusters ``a`` and ``b`` (the lower id first, each id
    ``bits`` wide), and the sign that turns the stored code into ``a``'s."""
    return ((a << bits) | b, 1) if a < b else ((b << bits) | a, -1)


@fast
def _current(key: int, retired: np.ndarray, bits: int) -> bool:
    """Whether the bucket's ``key`` is an entry of two clusters neither retired."""
    return key >= 0 and not retired[key >> bits] and not retired[key & ((1 << bits) - 1)]


@fast
def _hash_get(
    keys: np.ndarray, codes: np.ndarray, shift: int, bits: int, a: int,
    others: np.ndarray, out: np.ndarray,
) -> None:  # fmt: skip
    for j in range(others.shape[0]):
        key, sign = _pair_key(a, others[j], bits)
        i = _bucket(keys, shift, key)
        if keys[i] == key:
            out[j] = sign * codes[i]


@fast
def _hash_put(
    keys: np.ndarray, codes: np.ndarray, shift: int, bits: int, a: int,
    others: np.ndarray, new: np.ndarray,
) -> int:  # fmt: skip
    """Write the codes; the number of buckets newly taken."""
    taken = 0
    for j in range(others.shape[0]):
        if new[j] == 0:
            continue
        key, sign = _pair_key(a, others[j], bits)
        i = _bucket(keys, shift, key)
        taken += keys[i] == -1
        keys[i] = key
        codes[i] = sign * new[j]
    return taken


@fast
def _hash_live(keys: np.ndarray, retired: np.ndarray, bits: int) -> int:
    live = 0
    for i in range(keys.shape[0]):
        live += _current(keys[i], retired, bits)
    return live


@fast
def _hash_move(
    keys: np.ndarray, codes: np.ndarray, retired: np.ndarray, bits: int,
    to_keys: np.ndarray, to_codes: np.ndarray, shift: int,
) -> int:  # fmt: skip
    """Move the entries of clusters not retired into the empty table ``to_keys``; how many."""
    moved = 0
    for i in range(keys.shape[0]):
        k = keys[i]
        if not _current(k, retired, bits):
            continue
        j = _bucket(to_keys, shift, k)
        to_keys[j] = k
        to_codes[j] = codes[i]
        moved += 1
    return moved


class Planes:
    """Every hyperplane made in a run, by serial: normals and offsets as rows, and the
    points that carried weight when each was found (None: not found by a solver).

    It also holds the tests' memory (see :mod:`compiled_tests`): per orientation of each
    hyperplane, the stamp of the last set of points it was tested on and the outcome (one
    number, see ``compiled_tests._memo_key``);
    and the points and normals as the tests read them, rounded to float32 (``Xh``: the
    run's centred points ``Xc``; ``w``), each rounding moving a product within
    ``rounding`` of the exact one.
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
        # The normals too: the tests read one row of them per hyperplane tried, from
        # hundreds of MB of them (365,000 hyperplanes on POS layer 6 in 128-d, 13.5 million
        # rows read by the inherited certificates' test alone), most from memory not in
        # any cache. A normal rounded to float32 moves a product with a point of norm at
        # most ``scale`` by at most 2**-24 scale again (the products of two float32 numbers
        # are exact in float64, see ``dot``); only directions are read from these rows
        # elsewhere (the exact checks' hints, which are verified like any direction).
        # What a product of a point of Xh and a rounded normal may be off by (both
        # roundings), and so what a hyperplane must clear the points of Xh by, read
        # through its rounded normal, to clear the exact points by tol with its exact one:
        self.both_rounded = 2.0 * self.rounding
        self.clear = self.tol + self.both_rounded
        self.w = np.empty((1024, Xc.shape[1]), dtype=self.Xh.dtype)
        self.b = np.empty(1024)
        self.memo = np.full(2 * 1024, -1, dtype=np.int64)
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
            for name in ("w", "b", "memo"):
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
) -> tuple[np.ndarray, int]:
    """Certificates for the merged cluster inherited from its parents (0: none), and how
    many there are.

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
        planes.stamps(2),
    )
    held = int(np.count_nonzero(found))
    stats.certificate_reuses += held
    return found, held


def try_pool(
    planes: Planes,
    chains: MemberChains,
    big_codes: np.ndarray,
    small_mem: np.ndarray,
    oblk: LabelBlock,
    close: np.ndarray,
    codes: np.ndarray,
    stats: ClusteringStats,
) -> int:
    """Try the hyperplanes that separate the bigger parent from the clusters near the
    candidate (``big_codes``) on the merged cluster and the clusters still without a
    certificate (``codes`` 0; filled in where one holds); how many were settled.

    A hyperplane that separated the bigger parent from one cluster often also separates
    the merged cluster from another one nearby, and testing them all is much cheaper than
    a solver call. They already hold on the bigger parent, so only the smaller one's
    points need testing.
    """
    settled = compiled_tests.pool_certificates(
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
        # the centroids are exact, the normals rounded
        BALL_SLACK * planes.scale + planes.rounding,
        planes.clear,
        planes.memo,
        planes.stamps(2),
    )
    stats.certificate_reuses += settled
    return settled


def try_shifted(
    planes: Planes,
    chains: MemberChains,
    big_codes: np.ndarray,
    small_mem: np.ndarray,
    oblk: LabelBlock,
    close: np.ndarray,
    codes: np.ndarray,
    stats: ClusteringStats,
) -> int:
    """For each cluster still without a certificate, the bigger parent's hyperplane
    against it (``big_codes``) moved towards it, past the smaller parent's points
    (``small_mem``), when there is room between the two: a new hyperplane with the same
    normal (see :func:`compiled_tests.shifted_planes`). How many were settled."""
    at, off = compiled_tests.shifted_planes(
        planes.Xh,
        planes.w,
        planes.b,
        big_codes,
        small_mem,
        oblk.cid,
        close,
        codes,
        chains.head,
        chains.nxt,
        planes.tol,
        planes.both_rounded,
    )
    stats.certificate_reuses += len(at)
    if len(at):
        old = big_codes[at]
        first = planes.add_many(planes.w[np.abs(old) - 1], off)
        codes[at] = np.sign(old) * (first + 1 + np.arange(len(at)))
    return len(at)


def try_centroids(
    planes: Planes,
    chains: MemberChains,
    mem: np.ndarray,
    centre: np.ndarray,
    oblk: LabelBlock,
    close: np.ndarray,
    codes: np.ndarray,
    stats: ClusteringStats,
) -> int:
    """Try, for each cluster still without a certificate, the direction joining the two
    centroids; ``mem`` are the merged cluster's points, ``centre`` its centroid. How many
    were settled."""
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
    return len(at)
