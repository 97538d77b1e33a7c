"""DirectProbe's supervised clustering: the merges that make a :class:`Clustering`."""

from __future__ import annotations

import hashlib
import heapq
import os
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from ftprobe.data.atomic import atomic_open
from ftprobe.errors import FtprobeError
from ftprobe.geometry.partition import Clustering, check_inputs, conflict_groups, vector_ids
from ftprobe.geometry.separability import (
    SEPARATION_TOL,
    Factor,
    Overlap,
    Separation,
    Verdict,
    decide,
    separation_holds,
)

# ======================================================================================
# The supervised clustering
# ======================================================================================


class ClusteringInterrupted(FtprobeError):
    """Raised when a run stops early on request (``max_steps``); its state file is saved."""


@dataclass
class ClusteringStats:
    """What a clustering run did (for logs and benchmarks)."""

    steps: int = 0
    merges: int = 0
    rejections: int = 0
    replayed: int = 0
    label_pair_checks: int = 0
    cluster_checks: int = 0
    certificate_reuses: int = 0
    centroid_tries: int = 0
    centroid_wins: int = 0
    factor_starts: int = 0
    oracle_seconds: float = 0.0
    seconds: float = 0.0
    separable_label_pairs: int = 0
    overlapping_label_pairs: int = 0


@dataclass(frozen=True)
class _Units:
    """The clusters the run starts from: one per (vector, label), in order of first point.

    ``point_unit[i]`` is the unit of point ``i``; ``first[u]`` its first point, ``label[u]``
    its label, ``size[u]`` its number of points, ``forced[u]`` whether its vector also
    carries another label (then the unit is never merged with anything).
    """

    point_unit: np.ndarray
    first: np.ndarray
    label: np.ndarray
    size: np.ndarray
    forced: np.ndarray
    conflicts: tuple[tuple[int, ...], ...]


def _units(X: np.ndarray, y: np.ndarray) -> _Units:
    vid = vector_ids(X)
    # (vector, label) pairs, renumbered in order of their first point
    key = vid * (int(y.max()) + 1) + y
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    point_unit = rank[inverse.ravel()]
    first = np.sort(first)
    # each unit is one (vector, label): a vector's units count its labels
    n_labels_of_vector = np.bincount(vid[first], minlength=int(vid.max()) + 1)
    forced = n_labels_of_vector[vid[first]] > 1
    return _Units(
        point_unit=point_unit,
        first=first.astype(np.int64),
        label=y[first],
        size=np.bincount(point_unit, minlength=len(first)),
        forced=forced,
        conflicts=conflict_groups(vid, y),
    )


class _Certificates:
    """Verified hyperplanes between the current clusters of different labels, by slot.

    A certificate is a code: ``serial + 1`` of a hyperplane of the run's registry when its
    positive side holds the cluster asked about (and the other cluster is on the negative
    side), minus that when the other way round, 0 when none is known. They are kept in
    one int32 table per ordered pair of labels (rows: the slots of the first label), the
    two orientations of a pair mirroring each other, so that every look-up and every
    change is a row's worth of contiguous memory. Only labels whose hulls overlap as
    wholes have tables (their clusters are the only ones ever checked against each
    other: a pair of labels is settled at the first contact of their clusters), made at
    their first certificate.
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


class _Support:
    """The points (global ids) that carried weight in an exact separation, and while the
    run keeps it, the solver's end state: the same points in column order, whether each
    was on the P side, and the factorisation (to start the next check of the lineage)."""

    __slots__ = ("ids", "factor")

    def __init__(
        self, ids: np.ndarray, factor: tuple[np.ndarray, np.ndarray, Factor] | None
    ) -> None:
        self.ids = ids
        self.factor = factor


@dataclass
class _LabelBlock:
    """The same-label clusters of one label, addressed by slot (0..size-1)."""

    label: int
    points: np.ndarray  # first point of each initial slot's (vector, label) unit
    d2: np.ndarray  # squared centroid distances between slots (inf: inactive/frozen/self)
    cid: np.ndarray  # creation id of the cluster in each slot (-1: inactive)
    size: np.ndarray  # number of points per slot
    centre: np.ndarray  # centroid per slot (centred coordinates)
    pcentre: np.ndarray | None  # the centroids' coordinates on the principal directions
    pcnorm2: np.ndarray | None  # their squared norms
    radius: np.ndarray  # largest member distance from the centroid per slot (or a bound)
    rexact: np.ndarray  # the lineage's radius when it was last measured
    cnorm2: np.ndarray  # squared norm of each centroid
    nn: np.ndarray  # candidate nearest same-label slot (-1: none)
    nn_cid: np.ndarray  # its creation id when recorded
    nn_d2: np.ndarray  # recorded distance (a lower bound when stale)
    epoch: np.ndarray  # heap entry version per slot


class SupervisedClustering:
    """DirectProbe's greedy, bottom-up, label-pure clustering (one run).

    Semantics (the published ones): every point starts as its own cluster (copies of one
    vector with one label as one cluster, see below); repeatedly the
    closest pair of same-label clusters (Euclidean distance between centroids) is merged
    unless the merged cluster's hull would overlap the hull of a current cluster of another
    label; a rejected pair is dropped and pairs with a new cluster are considered afresh;
    the run ends when no same-label pair is left. Points whose vector also occurs with a
    different label can never be separated: they are reported in ``Clustering.conflicts``
    and give one cluster per (vector, label) that is never merged (it still counts as a
    cluster that others must not overlap). Copies of a (vector, label) start as one
    cluster: merging them changes no hull, and a count of clusters should not grow with how
    often a sentence repeats in the corpus.

    Ties in distance are broken by the creation id of the cluster, then by slot order.
    Centroid distances are kept as squared distances updated by the Lance-Williams formula
    for centroid linkage (exact in exact arithmetic; float64 here).

    Speed comes from never deciding the same thing twice:

    * label pairs: the first time clusters of labels K and L come close, the two whole
      labels are checked; when they are separable, no K-cluster can ever overlap an
      L-cluster (subsets of separable sets are separable) and that pair is never looked at
      again (with a second CPU, the pairs are decided on a second thread from the start,
      closest labels first, and a merge that needs a verdict takes it from there);
    * rejections: a rejected pair's union overlaps some cluster, and the union of any
      later clusters holding the two does too (hulls only grow), so their pairs, which
      the published code proposes and rejects one by one, are never proposed: the
      merges, and so the partition and its ids, are the same;
    * a bounding-ball pre-filter (centroid, largest member distance);
    * certificates, kept by slot in a table per pair of overlapping labels: the
      hyperplane that separated a parent cluster from D is tried on the other parent's
      points before any solver runs (it is then verified on every point of the merged
      cluster and D), then the bigger parent's hyperplanes against nearby clusters, then
      the direction joining the two centroids;
    * the exact decision (:func:`ftprobe.geometry.separability.decide`) only for what
      remains.

    The run can be checkpointed to ``state_path`` (the sequence of decisions plus the
    label-pair certificates, written atomically every ``checkpoint_seconds``) and resumed:
    resuming replays the recorded decisions (no solver calls) and continues, ending with
    the same result.
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        label_names: Sequence[str] | None = None,
        *,
        state_path: str | os.PathLike[str] | None = None,
        resume: bool = False,
        checkpoint_seconds: float = 30.0,
        max_steps: int | None = None,
        progress: bool = False,
        background: bool | None = None,
    ) -> None:
        X = np.asarray(X)
        y = np.asarray(y)
        if y.dtype.kind not in "iu":
            raise FtprobeError("labels must be integer indices into label_names")
        y = y.astype(np.int64)
        n_labels = len(label_names) if label_names is not None else None
        check_inputs(X, y, n_labels)
        if label_names is None:
            label_names = tuple(str(i) for i in range(int(y.max()) + 1))
        self.label_names = tuple(label_names)
        self.X = np.asarray(X, dtype=np.float64)
        self.y = y
        self.n = len(y)
        self.labels_present = [int(v) for v in np.unique(y)]
        # numpy's own sums (no BLAS): the same bits on every machine. The centroid
        # distances, which order the merges, are summed exactly from their own origin.
        self._origin = exact_centre(self.X)
        self.mean = self.X.mean(axis=0)
        self.Xc = self.X - self.mean
        self.sqnorm = (self.Xc**2).sum(axis=1)
        self.scale = max(float(np.sqrt(self.sqnorm.max())), 1e-300)
        self.Xs = self.Xc / self.scale
        self.state_path = Path(state_path) if state_path is not None else None
        self.resume = resume
        self.checkpoint_seconds = checkpoint_seconds
        self.max_steps = max_steps
        self.progress = progress
        # Label pairs decided on a second thread while the merges go on: by default when
        # there is a second CPU and enough points for it to pay.
        if background is None:
            background = self.n >= _BACKGROUND_MIN_POINTS and _cpus() >= 2
        self.background = background
        self._pair_futures: dict[tuple[int, int], Future] | None = None
        # label pairs: (K, L) with K < L -> True separable (hyperplane kept) / False overlap
        self.pair_status: dict[tuple[int, int], bool] = {}
        self.pair_cert: dict[tuple[int, int], tuple[np.ndarray, float]] = {}
        self.stats = ClusteringStats()

    # ----------------------------------------------------------------------------------
    def run(self) -> Clustering:
        """Cluster and return the partition (ids numbered as in :class:`Clustering`)."""
        t_start = time.perf_counter()
        replay = self._load_state() if self.resume else None
        # The second thread starts before the set-up, which takes seconds on big inputs:
        # the first merges then find more of the verdicts they need.
        pool = self._start_label_pairs() if self.background else None
        try:
            # one BLAS thread beside the second thread's (two each would oversubscribe)
            with threadpool_limits(1 if pool is not None else None):
                self._setup()
            self._loop(replay)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            self._pair_futures = None
        self.stats.seconds = time.perf_counter() - t_start
        if self.state_path is not None:
            self._save_state()
        return self._result()

    # ----------------------------------------------------------------------------------
    def _setup(self) -> None:
        n, y = self.n, self.y
        units = _units(self.X, y)
        self.conflicts = units.conflicts
        # per point: its vector carries several labels, so its unit is never merged
        self.frozen = units.forced[units.point_unit]
        self.basis = _principal_directions(self.Xc, _BALL_DIMS)
        # Creation ids. A unit of one point is that point, numbered with the points never
        # merged. Copies of one (vector, label) are a cluster created before any merge
        # (merging them changes no hull: they are the merges at centroid distance 0), in
        # order of their first point.
        copies = units.size > 1
        uid = units.first.copy()
        uid[copies] = n + np.arange(int(copies.sum()))
        cap = 2 * n
        self.c_label = np.full(cap, -1, dtype=np.int64)
        self.c_slot = np.full(cap, -1, dtype=np.int64)
        self.c_label[uid] = units.label
        by_unit = np.argsort(units.point_unit, kind="stable")  # points ascending per unit
        self.members: dict[int, np.ndarray] = {
            int(uid[u]): pts for u, pts in enumerate(np.split(by_unit, np.cumsum(units.size)[:-1]))
        }
        self.owner = uid[units.point_unit]  # active cluster of every point
        self._scratch = np.full(n, -1, dtype=np.int64)
        self.next_cid = n + int(copies.sum())
        self.blocks: dict[int, _LabelBlock] = {}
        self.heap: list[tuple[float, int, int, int, int]] = []
        for lab in self.labels_present:
            us = np.flatnonzero(units.label == lab)  # in order of first point
            self.c_slot[uid[us]] = np.arange(len(us))
            blk = self._make_block(lab, units.first[us], uid[us], units.size[us])
            self.blocks[lab] = blk
            for s in np.flatnonzero(~units.forced[us]).tolist():
                self._refresh_nn(blk, s)
        # certificates between current clusters of different labels (see _Certificates);
        # one hyperplane serves every pair it was verified for
        self.certs = _Certificates({lab: len(b.points) for lab, b in self.blocks.items()})
        self.pair_support: dict[tuple[int, int], np.ndarray] = {}
        # supports[a][b]: the points that carried weight in the last exact separation
        # between the lineages of clusters a and b (kept through merges on either side)
        # and whether the two had to be checked one to one (a union with others overlapped)
        self.supports: dict[int, dict[int, tuple[_Support, bool]]] = {}
        self._new_supports: dict[int, tuple[_Support, bool]] = {}
        # union_supports[a][L]: the same for a's lineage against a union of L-clusters
        self.union_supports: dict[int, dict[int, _Support]] = {}
        self._new_union: dict[int, _Support] = {}
        self._rows: dict[bool, np.ndarray] = {}
        # the supports that still hold a factorisation, least recently used first (each
        # is about 1 MB at 384-d)
        self._factored: OrderedDict[int, _Support] = OrderedDict()
        self.decisions: list[tuple[int, int, int]] = []  # (cid_a, cid_b, accepted)
        # every hyperplane made in the run, by serial: its normal and offset as rows, so a
        # set of them is tested with one gather and one product
        self._plane_w = np.empty((1024, self.Xc.shape[1]))
        self._plane_b = np.empty(1024)
        self._n_planes = 0
        # and the points that carried weight when it was found (None: not by a solver)
        self._plane_support: list[np.ndarray | None] = []

    def _make_block(
        self, lab: int, pts: np.ndarray, cids: np.ndarray, sizes: np.ndarray
    ) -> _LabelBlock:
        """The label's block: one slot per starting cluster, ``pts`` its first point (all
        its points share that vector), ``cids`` its creation id, ``sizes`` its points."""
        P = self.Xc[pts]
        m = len(pts)
        # The distances from exactly translated points and exact sums (exact_centre,
        # exact_gram): the same bits on every machine, and exact ties kept.
        E = self.X[pts] - self._origin
        gram = exact_gram(E)
        esq = np.diag(gram)
        d2 = esq[:, None] + esq[None, :] - 2.0 * gram
        np.maximum(d2, 0.0, out=d2)
        # Near-coincident pairs lose digits in the expansion above: recompute them directly
        # so that near-ties are ordered correctly (the slots' vectors are all distinct).
        close = np.argwhere(d2 < 1e-6 * 2.0 * float(esq.max()))
        close = close[close[:, 0] < close[:, 1]]
        if len(close):
            v = exact_sqnorms(E[close[:, 0]] - E[close[:, 1]])
            d2[close[:, 0], close[:, 1]] = v
            d2[close[:, 1], close[:, 0]] = v
        sq = (P**2).sum(axis=1)  # the centroids' norms in the run's centred coordinates
        np.fill_diagonal(d2, np.inf)
        fz = self.frozen[pts]
        pcentre = None if self.basis is None else P @ self.basis
        d2[fz, :] = np.inf
        d2[:, fz] = np.inf
        return _LabelBlock(
            label=lab,
            points=pts,
            d2=d2,
            cid=cids.copy(),
            size=sizes.astype(np.int64),
            centre=P.copy(),
            pcentre=pcentre,
            pcnorm2=None if pcentre is None else (pcentre**2).sum(axis=1),
            radius=np.zeros(m),
            rexact=np.zeros(m),
            cnorm2=sq.copy(),
            nn=np.full(m, -1, dtype=np.int64),
            nn_cid=np.full(m, -1, dtype=np.int64),
            nn_d2=np.full(m, np.inf),
            epoch=np.zeros(m, dtype=np.int64),
        )

    # ----------------------------------------------------------------------------------
    # nearest same-label neighbours and the global queue

    def _refresh_nn(self, blk: _LabelBlock, s: int) -> None:
        row = blk.d2[s]
        t = int(np.argmin(row))
        blk.epoch[s] += 1
        if not np.isfinite(row[t]):
            blk.nn[s] = -1
            blk.nn_d2[s] = np.inf
            return
        blk.nn[s] = t
        blk.nn_cid[s] = blk.cid[t]
        blk.nn_d2[s] = row[t]
        self._push(blk, s)

    def _push(self, blk: _LabelBlock, s: int) -> None:
        heapq.heappush(
            self.heap, (float(blk.nn_d2[s]), int(blk.cid[s]), blk.label, s, int(blk.epoch[s]))
        )

    def _next_pair(self) -> tuple[_LabelBlock, int, int] | None:
        heap = self.heap
        while heap:
            d2, cid, lab, s, epoch = heapq.heappop(heap)
            blk = self.blocks[lab]
            if blk.epoch[s] != epoch or blk.cid[s] != cid:
                continue
            t = blk.nn[s]
            if t < 0:
                continue
            valid = blk.cid[t] == blk.nn_cid[s] and blk.cid[t] >= 0 and blk.d2[s, t] == blk.nn_d2[s]
            if not valid:
                self._refresh_nn(blk, s)
                continue
            return blk, s, int(t)
        return None

    # ----------------------------------------------------------------------------------
    def _loop(self, replay: list[tuple[int, int, int]] | None) -> None:
        replay = replay or []
        total = sum(max(0, len(b.points) - 1) for b in self.blocks.values())
        bar = tqdm(
            total=total, desc="clustering", unit="merge", disable=not self.progress, leave=False
        )
        last_save = time.perf_counter()
        step = 0
        with threadpool_limits(1):
            while True:
                nxt = self._next_pair()
                if nxt is None:
                    break
                blk, s, t = nxt
                ca, cb = int(blk.cid[s]), int(blk.cid[t])
                if step < len(replay):
                    ra, rb, accepted = replay[step]
                    if {ra, rb} != {ca, cb}:
                        raise FtprobeError(
                            "the state file does not match this run (different input or "
                            "version): start again with --overwrite instead of --resume"
                        )
                    self.stats.replayed += 1
                else:
                    if self.max_steps is not None and step >= self.max_steps:
                        bar.close()
                        if self.state_path is not None:
                            self._save_state()
                        raise ClusteringInterrupted(
                            f"stopped after {step} steps as asked; state saved"
                            + (f" in {self.state_path}" if self.state_path else "")
                        )
                    accepted = self._check_merge(blk, s, t)
                self.decisions.append((ca, cb, int(accepted)))
                step += 1
                self.stats.steps = step
                if accepted:
                    self._merge(blk, s, t)
                    self.stats.merges += 1
                    bar.update(1)
                else:
                    self._reject(blk, s, t)
                    self.stats.rejections += 1
                if (
                    self.state_path is not None
                    and time.perf_counter() - last_save > self.checkpoint_seconds
                ):
                    self._save_state()
                    last_save = time.perf_counter()
        bar.close()

    # ----------------------------------------------------------------------------------
    def _merge(self, blk: _LabelBlock, s: int, t: int) -> None:
        if t < s:
            s, t = t, s
        ca, cb = int(blk.cid[s]), int(blk.cid[t])
        na, nb = int(blk.size[s]), int(blk.size[t])
        nm = na + nb
        # Lance-Williams update for centroid linkage (squared distances).
        dab = blk.d2[s, t]
        row = (na * blk.d2[s] + nb * blk.d2[t]) / nm - (na * nb / (nm * nm)) * dab
        np.maximum(row, 0.0, out=row)
        dead = blk.cid < 0
        row[dead] = np.inf
        fz = self.frozen[blk.points]
        row[fz] = np.inf
        row[s] = row[t] = np.inf
        blk.d2[s, :] = row
        blk.d2[:, s] = row
        blk.d2[t, :] = np.inf
        blk.d2[:, t] = np.inf
        m = self.next_cid
        self.next_cid += 1
        mem = np.concatenate([self.members.pop(ca), self.members.pop(cb)])
        mem.sort()
        self.members[m] = mem
        self.owner[mem] = m
        self.c_label[m] = blk.label
        self.c_slot[m] = s
        centre = (na * blk.centre[s] + nb * blk.centre[t]) / nm
        pend = getattr(self, "_pending", None)
        if pend is not None and pend[0] in ((ca, cb), (cb, ca)):
            centre, radius, rexact, new_certs = pend[1], pend[2], pend[3], pend[4]
        else:
            radius = rexact = self._radius(mem, centre)
            new_certs = {}
        self._pending = None
        blk.centre[s] = centre
        if blk.pcentre is not None:
            blk.pcentre[s] = centre @ self.basis
            blk.pcnorm2[s] = float(blk.pcentre[s] @ blk.pcentre[s])
        blk.cnorm2[s] = float(centre @ centre)
        blk.radius[s] = radius
        blk.rexact[s] = rexact
        blk.size[s] = nm
        blk.size[t] = 0
        blk.cid[s] = m
        blk.cid[t] = -1
        blk.epoch[t] += 1
        # the merged cluster holds the certificates built for this merge alone
        K = blk.label
        self.certs.clear(K, s)
        self.certs.clear(K, t)
        for L, (slots, codes) in new_certs.items():
            self.certs.put(K, s, L, slots, codes)
        big, small = (ca, cb) if na >= nb else (cb, ca)  # parents already popped
        moved: dict[int, tuple[_Support, bool]] = {}
        for parent in (small, big):
            for other, sup in self.supports.pop(parent, {}).items():
                moved[other] = sup
                theirs = self.supports.get(other)
                if theirs is not None:
                    theirs.pop(parent, None)
        for other, (sup, alone) in self._new_supports.items():
            moved[other] = (sup, alone or moved.get(other, (None, False))[1])
        self._new_supports = {}
        unions = self.union_supports.pop(small, {})
        unions.update(self.union_supports.pop(big, {}))
        unions.update(self._new_union)
        self._new_union = {}
        if unions:
            self.union_supports[m] = unions
        for other, sup in moved.items():
            self._link_support(m, other, sup)
        # neighbours: m's own, and everyone for whom m is now closer
        self._refresh_nn(blk, s)
        closer = np.flatnonzero(row < blk.nn_d2)
        for o in closer.tolist():
            blk.nn[o] = s
            blk.nn_cid[o] = m
            blk.nn_d2[o] = row[o]
            blk.epoch[o] += 1
            self._push(blk, o)

    def _link_support(self, a: int, b: int, support: tuple[_Support, bool]) -> None:
        self.supports.setdefault(a, {})[b] = support
        self.supports.setdefault(b, {})[a] = support

    def _reject(self, blk: _LabelBlock, s: int, t: int) -> None:
        self._pending = None
        # Supports found for the rejected candidate are the best warm start the bigger
        # parent's lineage has against those clusters.
        big = self._bigger_first(int(blk.cid[s]), int(blk.cid[t]))[0]
        for other, sup in self._new_supports.items():
            self._link_support(big, other, sup)
        self._new_supports = {}
        if self._new_union:
            self.union_supports.setdefault(big, {}).update(self._new_union)
            self._new_union = {}
        # The union overlaps another label's cluster, and so does the union of any two
        # clusters that will ever contain these two (hulls only grow, and so does that
        # cluster's): the pair is out for good. An infinite distance says so, and the
        # Lance-Williams update carries it to every merge of either side, so no
        # descendant pair is ever proposed (each would be rejected on the same grounds).
        blk.d2[s, t] = blk.d2[t, s] = np.inf
        self._refresh_nn(blk, s)
        if blk.nn[t] == s:
            self._refresh_nn(blk, t)

    # ----------------------------------------------------------------------------------
    # the overlap check of a candidate merge

    def _check_merge(self, blk: _LabelBlock, s: int, t: int) -> bool:
        """May slots s and t merge? False when their union overlaps a cluster of another
        label (a verified common point)."""
        K = blk.label
        ca, cb = int(blk.cid[s]), int(blk.cid[t])
        self._new_supports = {}
        self._new_union = {}
        self._rows = {}  # the candidate's points, gathered at most once per coordinates
        na, nb = int(blk.size[s]), int(blk.size[t])
        nm = na + nb
        centre = (na * blk.centre[s] + nb * blk.centre[t]) / nm
        mem_a, mem_b = self.members[ca], self.members[cb]
        mem = np.concatenate([mem_a, mem_b])
        radius, rexact = self._merged_radius(blk, s, t, mem, centre)
        cn2 = float(centre @ centre)
        pc = centre @ self.basis if self.basis is not None else None
        pcn2 = float(pc @ pc) if pc is not None else 0.0
        # the ball test only prunes; this slack keeps rounding from pruning a touching pair
        tol = 1e-6 * self.scale
        # per other label: the slots of its clusters near the candidate and a
        # certificate for each (see _Certificates; from the candidate's side)
        new_certs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for L in self.labels_present:
            if L == K:
                continue
            key = (min(K, L), max(K, L))
            if self.pair_status.get(key) is True:
                continue
            oblk = self.blocks[L]
            reach = radius + oblk.radius + tol
            if pc is not None:
                # The distance within a few principal directions is a lower bound on the
                # distance: it rules out most balls at a fraction of the cost. It runs over
                # every slot (merged-away ones are dropped after), as gathering the live
                # ones would cost more than it saves. Its rounding is far below tol.
                low2 = oblk.pcnorm2 - 2.0 * (oblk.pcentre @ pc) + pcn2
                live = np.flatnonzero((low2 <= reach * reach) & (oblk.cid >= 0))
            else:
                live = np.flatnonzero(oblk.cid >= 0)
            reach = reach[live]
            prod = oblk.centre[live] @ centre
            dist_live = np.sqrt(np.maximum(oblk.cnorm2[live] + cn2 - 2.0 * prod, 0.0))
            keep = np.flatnonzero(dist_live <= reach)
            if len(keep) == 0:
                continue
            # First contact between the two labels: settle the whole pair once (it has to be
            # settled by the end anyway, when the last clusters of both labels meet).
            if key not in self.pair_status and self._settle_label_pair(K, L):
                continue
            close = live[keep[np.argsort(dist_live[keep], kind="stable")]]
            from_a = self.certs.get(K, s, L, close)
            from_b = self.certs.get(K, t, L, close)
            codes = self._inherit(from_a, from_b, mem_a, mem_b)
            new_certs[L] = (close, codes)
            if codes.all():
                continue
            big_codes, small_mem = (from_a, mem_b) if len(mem_a) >= len(mem_b) else (from_b, mem_a)
            self._try_pool(big_codes, small_mem, oblk, close, codes)
            if codes.all():
                continue
            self._try_centroids(mem, centre, oblk, close, codes)
            if codes.all():
                continue
            if not self._check_against(ca, cb, mem, oblk, close, codes):
                return False
        self._pending = ((ca, cb), centre, radius, rexact, new_certs)
        return True

    def _merged_rows(self, mem: np.ndarray, scaled: bool) -> np.ndarray:
        """The candidate's points (unit-scaled or centred), gathered once per candidate:
        a big candidate is projected and checked against several labels in one step."""
        rows = self._rows.get(scaled)
        if rows is None:
            rows = self._rows[scaled] = (self.Xs if scaled else self.Xc)[mem]
        return rows

    def _merged_radius(
        self, blk: _LabelBlock, s: int, t: int, mem: np.ndarray, centre: np.ndarray
    ) -> tuple[float, float]:
        """A radius for the merged ball, and the last exactly measured one of its lineage.

        The radius only prunes (balls that do not meet need no check), so an upper bound
        serves: each parent's ball, moved to the merged centroid, contains its points. A
        big cluster taking in a few points then needs no pass over its members; the
        radius is measured again once the bound has drifted a few percent above the last
        measurement (or the cluster is small).
        """
        na, nb = int(blk.size[s]), int(blk.size[t])
        nm = na + nb
        big = s if na >= nb else t
        gap = float(np.linalg.norm(blk.centre[s] - blk.centre[t]))
        bound = max(blk.radius[s] + nb / nm * gap, blk.radius[t] + na / nm * gap)
        if nm > _RADIUS_MEASURED and bound <= (1.0 + _RADIUS_DRIFT) * blk.rexact[big]:
            return bound, float(blk.rexact[big])
        radius = self._radius(mem, centre, self._merged_rows(mem, scaled=False))
        return radius, radius

    def _radius(self, mem: np.ndarray, centre: np.ndarray, rows: np.ndarray | None = None) -> float:
        """Largest distance from ``centre`` to a member (via norms: one matrix-vector product);
        ``rows``: the members' points when already gathered."""
        if rows is None:
            rows = self.Xc[mem]
        r2 = self.sqnorm[mem] - 2.0 * (rows @ centre) + float(centre @ centre)
        return float(np.sqrt(max(float(r2.max()), 0.0)))

    def _inherit(
        self,
        from_a: np.ndarray,
        from_b: np.ndarray,
        mem_a: np.ndarray,
        mem_b: np.ndarray,
    ) -> np.ndarray:
        """Certificates for the merged cluster inherited from its parents (0: none).

        ``from_a``/``from_b``: the parents' certificates against the same clusters. A
        hyperplane that separated parent A from D is tested on parent B's points; when
        both parents hold the very same one against D it needs no test at all. The bigger
        parent's hyperplanes go first (they are tested on the smaller parent's points);
        the smaller parent's only for what is left. Each round tests all its hyperplanes
        at once.
        """
        found = np.where(from_a == from_b, from_a, 0)
        rounds = [(from_a, mem_b), (from_b, mem_a)]
        if len(mem_b) > len(mem_a):
            rounds.reverse()
        for codes, other_mem in rounds:
            idx = np.flatnonzero((found == 0) & (codes != 0))
            if len(idx):
                idx = idx[self._clears(codes[idx], other_mem)]
                found[idx] = codes[idx]
        self.stats.certificate_reuses += int(np.count_nonzero(found))
        return found

    def _try_pool(
        self,
        big_codes: np.ndarray,
        small_mem: np.ndarray,
        oblk: _LabelBlock,
        close: np.ndarray,
        codes: np.ndarray,
    ) -> None:
        """Try the hyperplanes that separate the bigger parent from the clusters near the
        candidate (``big_codes``) on the merged cluster and the clusters still without a
        certificate (``codes`` 0; filled in where one holds).

        A hyperplane that separated the bigger parent from one cluster often also
        separates the merged cluster from another one nearby, and testing them all at once
        is much cheaper than a solver call. They already hold on the bigger parent, so only
        the smaller one's points need testing.
        """
        held = big_codes[big_codes != 0]
        if not len(held):
            return
        _, first = np.unique(held, return_index=True)
        pool = held[np.sort(first)[:_POOL_SIZE]]  # nearest clusters' first
        pool = pool[self._clears(pool, small_mem)]
        if not len(pool):
            return
        todo = np.flatnonzero(codes == 0)
        slots = close[todo]
        serial = np.abs(pool) - 1
        W, b = self._plane_w[serial].T, self._plane_b[serial]
        # the other cluster must lie on the negative side of each code's orientation
        flip = -np.sign(pool).astype(np.float64)
        tol = SEPARATION_TOL * self.scale
        # A cluster's ball on the right side settles it with no pass over its points; its
        # centroid on the wrong side rules the hyperplane out (the slack covers the
        # rounding of the radius, as in the ball test).
        at_centre = (oblk.centre[slots] @ W + b) * flip
        ok = at_centre - oblk.radius[slots][:, None] >= tol + 1e-6 * self.scale
        hopeful = ~ok.any(axis=1) & (at_centre >= tol).any(axis=1)
        if hopeful.any():
            rows = np.flatnonzero(hopeful)
            pts, lens = self._members_of(oblk, slots[rows])
            vals = (self.Xc[pts] @ W + b) * flip
            ok[rows] = np.minimum.reduceat(vals, _starts(lens), axis=0) >= tol
        got = ok.any(axis=1)
        codes[todo[got]] = pool[ok[got].argmax(axis=1)]
        self.stats.certificate_reuses += int(got.sum())

    def _try_centroids(
        self,
        mem: np.ndarray,
        centre: np.ndarray,
        oblk: _LabelBlock,
        close: np.ndarray,
        codes: np.ndarray,
    ) -> None:
        """Try, for each cluster still without a certificate, the direction joining the
        two centroids."""
        todo = np.flatnonzero(codes == 0)
        slots = close[todo]
        U = centre[None, :] - oblk.centre[slots]
        U /= np.maximum(np.linalg.norm(U, axis=1, keepdims=True), 1e-300)
        lo = (self._merged_rows(mem, scaled=False) @ U.T).min(axis=0)  # (len(todo),)
        tol = SEPARATION_TOL * self.scale
        # The other cluster's ball bounds its side (its centroid's projection plus its
        # radius, which is computed from norms: the slack covers that rounding, as in the
        # ball test): enough for most small clusters, whose points then need no projecting.
        slack = 1e-6 * self.scale
        hi = np.einsum("ij,ij->i", oblk.centre[slots], U) + oblk.radius[slots] + slack
        exact = np.flatnonzero(lo - hi <= 2 * tol)
        if len(exact):
            pts, lens = self._members_of(oblk, slots[exact])
            proj = np.einsum("ij,ij->i", self.Xc[pts], U[np.repeat(exact, lens)])
            hi[exact] = np.maximum.reduceat(proj, _starts(lens))
        self.stats.centroid_tries += len(todo)
        for i in np.flatnonzero(lo - hi > 2 * tol).tolist():
            self.stats.centroid_wins += 1
            self.stats.certificate_reuses += 1
            codes[todo[i]] = self._new_plane(U[i].copy(), -(lo[i] + hi[i]) / 2, None) + 1

    def _members_of(self, blk: _LabelBlock, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The points of the clusters in ``slots``, one cluster after the other, and how
        many each has."""
        mems = [self.members[int(c)] for c in blk.cid[slots]]
        lens = np.fromiter((len(mm) for mm in mems), dtype=np.int64, count=len(mems))
        return np.concatenate(mems), lens

    def _check_against(
        self,
        ca: int,
        cb: int,
        mem: np.ndarray,
        oblk: _LabelBlock,
        close: np.ndarray,
        codes: np.ndarray,
    ) -> bool:
        """Decide the merged cluster against the clusters near it of one label that are
        still without a certificate (``codes`` 0; filled in as they are separated).

        First against the union of their points: one hyperplane then serves for all of
        them. When the union overlaps, the clusters holding the common point's other side
        are checked one by one (an overlap with one of them rejects the merge), and the
        rest again as a union; if the common point was spread over several clusters, the
        rest are checked one by one. False when it overlaps one of them (a verified
        common point).
        """
        at = {int(oblk.cid[close[i]]): int(i) for i in np.flatnonzero(codes == 0)}
        todo = list(at)
        # Clusters that a parent could only be separated from one at a time (the union of
        # them overlapped it) are checked one at a time again: the union check would fail
        # the same way, at the price of a solver call on the largest problem.
        alone = [oc for oc in todo if self._lineage(ca, cb, oc)[1]]
        for oc in alone:
            verdict, other = self._decide(ca, cb, mem, [oc], alone=True)
            if isinstance(verdict, Overlap):
                return False
            codes[at[oc]] = self._plane(verdict, mem, other) + 1
        rest = [oc for oc in todo if oc not in alone]
        while rest:
            single = len(rest) == 1
            if single:
                groups = [rest[0]]
            else:
                verdict, union = self._decide(ca, cb, mem, rest)
                if isinstance(verdict, Separation):
                    codes[[at[oc] for oc in rest]] = self._plane(verdict, mem, union) + 1
                    return True
                groups = [int(o) for o in np.unique(self.owner[union[verdict.q_index]])]
            one_by_one = len(groups) > 1
            for oc in groups + ([o for o in rest if o not in groups] if one_by_one else []):
                verdict, other = self._decide(ca, cb, mem, [oc], alone=not single)
                if isinstance(verdict, Overlap):
                    return False
                codes[at[oc]] = self._plane(verdict, mem, other) + 1
                rest.remove(oc)
        return True

    def _bigger_first(self, ca: int, cb: int) -> tuple[int, int]:
        """The two parents, the one with more points first (ties: ``ca``)."""
        return (ca, cb) if len(self.members[ca]) >= len(self.members[cb]) else (cb, ca)

    def _lineage(self, ca: int, cb: int, oc: int) -> tuple[_Support | None, bool]:
        """The last support between a parent's lineage and ``oc``'s (bigger parent first)."""
        big, small = self._bigger_first(ca, cb)
        for parent in (big, small):
            found = self.supports.get(parent, {}).get(oc)
            if found is not None:
                return found
        return None, False

    def _decide(
        self,
        ca: int,
        cb: int,
        mem: np.ndarray,
        others: list[int],
        alone: bool = False,
    ) -> tuple[Verdict, np.ndarray]:
        """The exact verdict for the merged cluster ``mem`` against the union of ``others``.

        Hints are the parents' hyperplanes against those clusters; the points that carried
        weight in them warm-start the solver. Returns the verdict and the union's points.
        """
        union = np.concatenate([self.members[oc] for oc in others])
        hints: list[np.ndarray] = []
        warm: list[np.ndarray] = []
        # The best warm start by far: the support of the last separation between the same
        # lineages (e.g. the growing cluster of one label against that of another). It is
        # nearly the optimal support of this problem; a mix of other supports is not, and
        # on near-degenerate pairs (hundreds of points on the margin) each wrong point
        # costs dozens of pivots.
        # Against a union, only the largest cluster's: several supports together hold more
        # points than can carry weight, and the surplus costs a pivot each.
        L = int(self.c_label[others[0]])
        big, small = self._bigger_first(ca, cb)
        lineage: list[_Support] = []
        if len(others) > 1:
            for cid in (big, small):
                sup = self.union_supports.get(cid, {}).get(L)
                if sup is not None:
                    lineage = [sup]
                    break
        if not lineage:
            for oc in sorted(others, key=lambda c: -len(self.members[c])):
                sup = self._lineage(ca, cb, oc)[0]
                if sup is not None:
                    lineage = [sup]
                    break
        K = int(self.c_label[ca])
        key = self._label_key(K, L)
        start = None
        if lineage:
            warm = [lineage[0].ids]
            start = self._start(lineage[0], mem, union)
            self.stats.factor_starts += start is not None
        if start is None:
            # A start brings its own points and tries no hint: the parents' hyperplanes
            # against these clusters are only looked up without one.
            slots = self.c_slot[others]
            held = np.concatenate(
                [self.certs.get(K, int(self.c_slot[c]), L, slots) for c in (ca, cb)]
            )
            held = held[held != 0]
            _, first = np.unique(np.abs(held), return_index=True)
            for code in held[np.sort(first)[:4]].tolist():
                hints.append(np.sign(code) * self._plane_w[abs(code) - 1])
            if not lineage:
                warm = [
                    sup
                    for code in held[np.sort(first)].tolist()
                    if (sup := self._plane_support[abs(code) - 1]) is not None
                ]
                # The last exact separation between clusters of these two labels:
                # consecutive checks of a growing cluster against the same neighbours are
                # nearly the same problem, and its support warm-starts the next one even
                # after the clusters on either side were renamed by merges.
                recent = self.pair_support.get(key)
                if recent is not None:
                    warm.append(recent)
        warm_local = None
        if warm and start is None:
            on_p, on_q = self._positions(np.unique(np.concatenate(warm)), mem, union)
            warm_local = (on_p[on_p >= 0], on_q[on_q >= 0])
        self.stats.cluster_checks += 1
        t0 = time.perf_counter()
        # In unit-scaled coordinates, the same for every check, so no check has to derive
        # its own frame (the verdict's offset is mapped back in _plane).
        verdict = decide(
            self._merged_rows(mem, scaled=True),
            self.Xs[union],
            scale=1.0,
            hints=hints,
            # From the lineage's last end state the first separating hyperplane is nearly
            # the optimal one (the problems differ by the points merged since) and is found
            # at once; running on to the optimum costs several more pivots each time.
            # Without a start, the wide margin makes the hyperplane last more merges.
            wide=start is None,
            warm=warm_local,
            frame=(None, 1.0),
            validate=False,
            start=start,
        )
        self.stats.oracle_seconds += time.perf_counter() - t0
        if isinstance(verdict, Separation) and verdict.support is not None:
            ids = np.concatenate([mem[verdict.support[0]], union[verdict.support[1]]])
            self.pair_support[key] = ids
            support = self._keep(ids, verdict.factor, mem, union)
            if len(others) > 1:
                self._new_union[L] = support
            else:
                self._new_supports[others[0]] = (support, alone)
        return verdict, union

    def _keep(
        self, ids: np.ndarray, factor: Factor | None, mem: np.ndarray, union: np.ndarray
    ) -> _Support:
        """Record a separation's support, with the solver's end state in global ids."""
        if factor is None:
            return _Support(ids, None)
        gids = np.concatenate([mem, union])[factor.index]
        support = _Support(ids, (gids, factor.index < len(mem), factor))
        self._factored[id(support)] = support
        while len(self._factored) > _FACTORS_KEPT:
            _, old = self._factored.popitem(last=False)
            old.factor = None
        return support

    def _positions(
        self, ids: np.ndarray, mem: np.ndarray, union: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Where each point of ``ids`` stands in ``mem`` and in ``union`` (-1: not there)."""
        pos = self._scratch
        pos[mem] = np.arange(len(mem))
        at_p = pos[ids]
        pos[mem] = -1
        pos[union] = np.arange(len(union))
        at_q = pos[ids]
        pos[union] = -1
        return at_p, at_q

    def _start(self, support: _Support, mem: np.ndarray, union: np.ndarray) -> Factor | None:
        """The lineage's last end state, renumbered for the problem (mem, union)."""
        if support.factor is None:
            return None
        self._factored.move_to_end(id(support))
        gids, on_p, factor = support.factor
        at_p, at_q = self._positions(gids, mem, union)
        in_p = at_p >= 0
        present = in_p | (at_q >= 0)
        if (~present).sum() > _FACTOR_MISSING:
            return None  # too far from this problem: its support alone is a better start
        if np.array_equal(in_p[present], on_p[present]):
            swapped = False
        elif np.array_equal(in_p[present], ~on_p[present]):
            swapped = True
        else:
            return None
        index = np.where(in_p, at_p, len(mem) + at_q)
        return factor.renumbered(index, present, swapped)

    @staticmethod
    def _label_key(k: int, m: int) -> tuple[int, int]:
        return (k, m) if k < m else (m, k)

    def _plane(self, verdict: Separation, mem: np.ndarray, union: np.ndarray) -> int:
        """Register a solver's hyperplane (in the run's centred coordinates); its serial."""
        support = None
        if verdict.support is not None:
            support = np.concatenate([mem[verdict.support[0]], union[verdict.support[1]]])
        return self._new_plane(verdict.w, verdict.b * self.scale, support)

    def _new_plane(self, w: np.ndarray, b: float, support: np.ndarray | None) -> int:
        """Register a verified hyperplane ``w.x + b = 0`` (``||w|| = 1``); its serial."""
        k = self._n_planes
        if k == len(self._plane_b):
            self._plane_w = np.concatenate([self._plane_w, np.empty_like(self._plane_w)])
            self._plane_b = np.concatenate([self._plane_b, np.empty_like(self._plane_b)])
        self._plane_w[k] = w
        self._plane_b[k] = b
        self._n_planes = k + 1
        self._plane_support.append(support)
        return k

    def _clears(self, codes: np.ndarray, mem: np.ndarray) -> np.ndarray:
        """For each certificate code (see :class:`_Certificates`): does its hyperplane put
        every point of ``mem`` on the side it names (by ``tol`` at least)?

        Each distinct hyperplane is evaluated once, on a first few points, then only the
        ones still standing on the rest: most that fail on a big cluster fail early.
        """
        serial = np.abs(codes) - 1
        sign = np.sign(codes).astype(np.float64)
        tol = SEPARATION_TOL * self.scale
        if len(mem) <= _FIRST_POINTS:
            # a few points (often one): every plane on all of them, repeats included
            vals = self.Xc[mem] @ self._plane_w[serial].T + self._plane_b[serial]
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
            vals = self.Xc[part] @ self._plane_w[cols].T + self._plane_b[cols]
            lo[alive] = np.minimum(lo[alive], vals.min(axis=0))
            hi[alive] = np.maximum(hi[alive], vals.max(axis=0))
            alive = np.flatnonzero((want_pos & (lo >= tol)) | (want_neg & (-hi >= tol)))
        standing = np.zeros(len(uniq), dtype=bool)
        standing[alive] = True
        worst = np.where(sign > 0, lo[back], -hi[back])  # min over mem of sign * (w.x + b)
        return (worst >= tol) & standing[back]

    def _start_label_pairs(self) -> ThreadPoolExecutor | None:
        """Hand every undecided label pair to a second thread, closest labels first, so
        that most verdicts are there before the merges first need them."""
        labels = self.labels_present
        means = {k: self.Xs[self.y == k].mean(axis=0) for k in labels}
        keys = [
            (a, b)
            for i, a in enumerate(labels)
            for b in labels[i + 1 :]
            if (a, b) not in self.pair_status
        ]
        if not keys:
            return None
        keys.sort(key=lambda k: float(np.linalg.norm(means[k[0]] - means[k[1]])))
        # A thread, not a process: the solver spends most of its time in LAPACK and BLAS,
        # which release the GIL, and a process would have to re-import the caller's main
        # module (a script without a __main__ guard would start again).
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ftprobe-label-pairs")
        self._pair_futures = {
            k: pool.submit(_label_pair_verdict, self.Xs, self.y, k[0], k[1]) for k in keys
        }
        return pool

    def _settle_label_pair(self, K: int, L: int) -> bool:
        """The label pair's verdict (True: separable): the second thread's when it has it
        or is working on it (then it is waited for), else decided here.

        Going on without it would cost more than the wait: until a separable pair is known
        as such, every merge near the other label is checked against its clusters in vain.
        """
        key = (min(K, L), max(K, L))
        fut = (self._pair_futures or {}).get(key)
        if fut is None:
            return self._decide_label_pair(K, L)
        del self._pair_futures[key]
        if fut.cancel():  # not started: deciding it here beats waiting behind the others
            return self._decide_label_pair(K, L)
        try:
            sep, w, b = fut.result()
        except Exception:  # a lost worker only costs the time: decide it here
            return self._decide_label_pair(K, L)
        if sep:
            # checked here before it is trusted, as a certificate from a state file is
            cert = Separation(np.asarray(w), float(b) * self.scale, 0.0)
            P, Q = self.Xc[self.y == key[0]], self.Xc[self.y == key[1]]
            if not separation_holds(cert, P, Q, self.scale):
                return self._decide_label_pair(K, L)
            return self._record_label_pair(key, cert.w, cert.b)
        return self._record_label_pair(key, None, 0.0)

    def _decide_label_pair(self, K: int, L: int) -> bool:
        """Decide (once) whether all of K is separable from all of L; True if separable."""
        key = (min(K, L), max(K, L))
        t0 = time.perf_counter()
        _, w, b = _label_pair_verdict(self.Xs, self.y, key[0], key[1])
        self.stats.oracle_seconds += time.perf_counter() - t0
        return self._record_label_pair(key, w, b * self.scale)

    def _record_label_pair(self, key: tuple[int, int], w: np.ndarray | None, b: float) -> bool:
        self.stats.label_pair_checks += 1
        sep = w is not None
        self.pair_status[key] = sep
        if sep:
            self.pair_cert[key] = (w, b)
            self.stats.separable_label_pairs += 1
        else:
            self.stats.overlapping_label_pairs += 1
        return sep

    # ----------------------------------------------------------------------------------
    def _result(self) -> Clustering:
        active = sorted(self.members)
        assignment = np.empty(self.n, dtype=np.int64)
        labels = np.empty(len(active), dtype=np.int64)
        for k, cid in enumerate(active):
            assignment[self.members[cid]] = k
            labels[k] = self.c_label[cid]
        return Clustering(assignment, labels, self.label_names, self.conflicts)

    # ----------------------------------------------------------------------------------
    # checkpoints

    def _fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.X).tobytes())
        h.update(np.ascontiguousarray(self.y).tobytes())
        h.update("\n".join(self.label_names).encode())
        h.update(STATE_VERSION.encode())
        return h.hexdigest()

    def _save_state(self) -> None:
        assert self.state_path is not None
        dec = np.array(self.decisions, dtype=np.int64).reshape(-1, 3)
        keys = sorted(self.pair_status)
        seps = [k for k in keys if self.pair_status[k]]
        d = self.X.shape[1]
        arrays = {
            "fingerprint": np.array(self._fingerprint()),
            "decisions": dec,
            "pair_keys": np.array(keys, dtype=np.int64).reshape(-1, 2),
            "pair_separable": np.array([self.pair_status[k] for k in keys], dtype=bool),
            "cert_keys": np.array(seps, dtype=np.int64).reshape(-1, 2),
            "cert_w": np.array([self.pair_cert[k][0] for k in seps]).reshape(-1, d),
            "cert_b": np.array([self.pair_cert[k][1] for k in seps], dtype=np.float64),
        }
        # Written atomically: a run killed while saving leaves the last whole state, and its
        # temporary is swept by the next save (a full disk names the state file).
        with atomic_open(self.state_path, "wb") as fh:
            np.savez(fh, **arrays)

    def _load_state(self) -> list[tuple[int, int, int]]:
        if self.state_path is None or not self.state_path.exists():
            raise FtprobeError(
                f"nothing to resume: no state file at {self.state_path}"
                if self.state_path
                else "nothing to resume: no state file was given"
            )
        with np.load(self.state_path, allow_pickle=False) as z:
            if str(z["fingerprint"]) != self._fingerprint():
                raise FtprobeError(
                    f"{self.state_path} belongs to a different input (vectors, labels or "
                    "version differ): start again with --overwrite instead of --resume"
                )
            decisions = [tuple(int(v) for v in row) for row in z["decisions"]]
            # Label-pair verdicts: overlaps are taken as recorded (they only add checks);
            # separations are trusted only after their hyperplane is verified again.
            for (k0, k1), sep in zip(
                z["pair_keys"].tolist(), z["pair_separable"].tolist(), strict=True
            ):
                if not sep:
                    self.pair_status[(k0, k1)] = False
            for (k0, k1), w, b in zip(
                z["cert_keys"].tolist(), z["cert_w"], z["cert_b"], strict=True
            ):
                cert = Separation(np.asarray(w), float(b), 0.0)
                if separation_holds(cert, self.Xc[self.y == k0], self.Xc[self.y == k1], self.scale):
                    self.pair_status[(k0, k1)] = True
                    self.pair_cert[(k0, k1)] = (cert.w, cert.b)
        return decisions  # type: ignore[return-value]


STATE_VERSION = "ftprobe-clustering-state-3"
_BACKGROUND_MIN_POINTS = 5000


def _cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _label_pair_verdict(
    Xs: np.ndarray, y: np.ndarray, K: int, L: int
) -> tuple[bool, np.ndarray | None, float]:
    """Is all of label K separable from all of L? (separable, w, b), in the run's unit-scaled
    frame, as the cluster checks; on the main thread or the second one."""
    v = decide(Xs[y == K], Xs[y == L], scale=1.0, frame=(None, 1.0), validate=False)
    if isinstance(v, Separation):
        return True, v.w, v.b
    return False, None, 0.0


def _starts(lens: np.ndarray) -> np.ndarray:
    """Where each of consecutive segments of these lengths starts (for ``reduceat``)."""
    return np.concatenate([[0], np.cumsum(lens)[:-1]])


_POOL_SIZE = 96
_FIRST_POINTS = 32
_RADIUS_MEASURED = 64
_RADIUS_DRIFT = 0.03
_FACTORS_KEPT = 128
_FACTOR_MISSING = 8
_BALL_DIMS = 24
_CENTRE_BITS = 20


def _slices(P: np.ndarray, bits: int, pieces: int, axis: int = 1) -> list[np.ndarray]:
    """``P`` cut into ``pieces`` slices of at most ``bits`` bits each, on a grid set by the
    largest entry of each row (``axis=1``) or column (``axis=0``): Ozaki's scheme. ``P``
    is their sum to below ``2**-(pieces * bits)`` of that entry, and sums of the slices'
    entries or of their products are exact in float64 whenever their bits fit in 53, so
    any summation order (any BLAS, CPU, thread count or column order) gives the same."""
    top = np.abs(P).max(axis=axis, keepdims=True)
    rest = np.array(P, dtype=np.float64)
    out = []
    for k in range(1, pieces + 1):
        piece = _on_grid(rest, top, k * bits)
        rest -= piece
        out.append(piece)
    return out


def _on_grid(x: np.ndarray, top: np.ndarray, bits: int) -> np.ndarray:
    """``x`` rounded to the grid ``2**-bits`` of the power of two above ``top`` (exact
    arithmetic: powers of two and integers)."""
    _, expo = np.frexp(np.where(top > 0, top, 1.0))  # top < 2**expo
    grid = np.ldexp(1.0, np.maximum(expo - bits, -1074))
    return np.rint(x / grid) * grid


def _product_bits(d: int) -> int:
    """Bits per slice for products summed over ``d`` terms: ``2 b + log2(d) <= 53``."""
    return (53 - int(np.ceil(np.log2(max(d, 2))))) // 2


def exact_centre(X: np.ndarray) -> np.ndarray:
    """The origin the centroid distances are summed from: the column means of ``X``,
    rounded from the exact sums (the same bits whatever the order of summation, see
    :func:`exact_gram`) and then to ``_CENTRE_BITS`` bits below each column's largest
    entry.

    Any point near the mean serves (distances do not move with the origin); one on that
    coarse grid makes ``X - centre`` exact for the usual inputs (float32 vectors, small
    integers), so the distances keep every exact tie of the original points, which the
    order of the merges then breaks by creation id as it should.
    """
    n = len(X)
    bits = 53 - int(np.ceil(np.log2(max(n, 2))))
    s0, s1 = (piece.sum(axis=0) for piece in _slices(X, bits, 2, axis=0))
    return _on_grid((s0 + s1) / n, np.abs(X).max(axis=0), _CENTRE_BITS)


def exact_gram(P: np.ndarray) -> np.ndarray:
    """``P @ P.T``, rounded from the exact products: the same bits on every machine.

    A BLAS product sums in an order of its own, which differs between CPUs, thread counts
    and column orders; where centroid distances nearly tie, as among the many near-copies
    of layer 0, that rounding alone reorders the merges and changes the partition (POS
    layer 0 of MiniLM did, between two machines). The products of three slices per row
    (:func:`_slices`) are exact whatever the order, and are added elementwise in a fixed
    one; what is lost is far under float64's own rounding of the result. Four BLAS
    products instead of one.
    """
    n = len(P)
    if n == 0 or P.shape[1] == 0:
        return np.zeros((n, n))
    p0, p1, p2 = _slices(P, _product_bits(P.shape[1]), 3)
    t01 = p0 @ p1.T
    t02 = p0 @ p2.T
    return p0 @ p0.T + (t01 + t01.T) + ((t02 + t02.T) + p1 @ p1.T)


def exact_sqnorms(D: np.ndarray) -> np.ndarray:
    """Squared norms of the rows of ``D``, rounded from the exact sums (as
    :func:`exact_gram`'s diagonal)."""
    if D.shape[1] == 0:
        return np.zeros(len(D))
    p0, p1, p2 = _slices(D, _product_bits(D.shape[1]), 3)
    cross = (p0 * p1).sum(axis=1)
    return (
        (p0 * p0).sum(axis=1)
        + (cross + cross)
        + (2.0 * (p0 * p2).sum(axis=1) + (p1 * p1).sum(axis=1))
    )


def _principal_directions(Xc: np.ndarray, k: int, sample: int = 4096) -> np.ndarray | None:
    """``k`` orthonormal columns spanning the top principal directions of (centred) ``Xc``.

    None when the vectors have too few dimensions for a projection to save anything. The
    directions come from an evenly spaced sample of the rows (any orthonormal columns give
    a valid lower bound on distances; principal ones give the tightest).
    """
    d = Xc.shape[1]
    if d <= 4 * k:
        return None
    rows = Xc[:: max(1, len(Xc) // sample)]
    _, _, vt = np.linalg.svd(rows, full_matrices=False)
    return np.ascontiguousarray(vt[:k].T)


def supervised_clustering(
    X: np.ndarray,
    y: np.ndarray,
    label_names: Sequence[str] | None = None,
    *,
    state_path: str | os.PathLike[str] | None = None,
    resume: bool = False,
    checkpoint_seconds: float = 30.0,
    max_steps: int | None = None,
    progress: bool = False,
    background: bool | None = None,
) -> Clustering:
    """Run DirectProbe's supervised clustering (see :class:`SupervisedClustering`).

    ``X``: (n, d) vectors; ``y``: (n,) label indices into ``label_names`` (default: the
    indices as strings). With ``state_path`` the run saves checkpoints there; with
    ``resume=True`` it continues from one. ``max_steps`` stops the run (state saved, then
    :class:`ClusteringInterrupted`) after that many merge decisions, for testing resumes.
    ``background`` (default: with a second CPU and at least 5,000 points) decides the label
    pairs on a second thread while the merges go on; the partition is the same.
    """
    return SupervisedClustering(
        X,
        y,
        label_names,
        state_path=state_path,
        resume=resume,
        checkpoint_seconds=checkpoint_seconds,
        max_steps=max_steps,
        progress=progress,
        background=background,
    ).run()
