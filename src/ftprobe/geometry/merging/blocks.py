"""The clusters of a run, by label, and the queue of closest same-label pairs.

Glossary:

- *unit*: a starting cluster: the points of one (vector, label), in order of first point
  (copies of a vector with one label start together; merging them changes no hull);
- *forced* unit: one whose vector also carries another label; it is never merged;
- *creation id* (``cid``): a cluster's number in order of creation: units of one point are
  that point's index, units of copies come next, then merged clusters in order of merging
  (the published ``clusters.txt`` numbering);
- *block*: the clusters of one label, addressed by *slot* (a unit's place in its label,
  kept by the cluster that absorbs it); ``d2`` holds the squared centroid distances between
  slots, ``inf`` for pairs that may never merge;
- *queue*: a heap of each slot's nearest same-label slot; entries go stale as clusters
  merge and are checked when they come out, or swept out together when they pile up.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from ftprobe.geometry.compiled import exact
from ftprobe.geometry.merging.exact import exact_gram, exact_sqnorms
from ftprobe.geometry.merging.frame import Frame
from ftprobe.geometry.partition import conflict_groups, vector_ids

# Principal directions of the bounding-ball pre-filter's cheap lower bound.
BALL_DIMS = 24
# A ball only prunes, and its radius is computed from norms: this much (relative to the
# scale) keeps that rounding from pruning a touching pair, wherever a ball stands in for
# a cluster's points.
BALL_SLACK = 1e-6
# Rows of a label's distance matrix computed at a time.
_BAND = 512
# The merge queue's length from which its stale entries are swept out, and how many times
# what a sweep left it must grow to before the next (see MergeQueue._sweep).
_SWEEP_MIN = 65_536
_SWEEP_GROWTH = 4


@dataclass(frozen=True)
class Units:
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

    @classmethod
    def of(cls, X: np.ndarray, y: np.ndarray) -> Units:
        """The units of the points ``X`` with labels ``y``."""
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
        return cls(
            point_unit=point_unit,
            first=first.astype(np.int64),
            label=y[first],
            size=np.bincount(point_unit, minlength=len(first)),
            forced=forced,
            conflicts=conflict_groups(vid, y),
        )


@dataclass
class LiveSlots:
    """A block's slots that held a cluster when it was made, ascending, with copies of what
    the ball test reads of them (kept up to date by :meth:`LabelBlock.merged`; a slot
    merged away since stays, with creation id -1)."""

    # the block's arrays it holds rows of, by name
    FIELDS = ("cid", "centre", "cnorm2", "pcentre", "offspan", "radius")

    slots: np.ndarray
    pos: np.ndarray  # per slot of the block: its row here (-1: not here)
    cid: np.ndarray
    centre: np.ndarray
    cnorm2: np.ndarray
    pcentre: np.ndarray | None
    offspan: np.ndarray | None
    radius: np.ndarray


@dataclass
class LabelBlock:
    """The same-label clusters of one label, addressed by slot (0..size-1)."""

    label: int
    points: np.ndarray  # first point of each initial slot's (vector, label) unit
    # squared centroid distances between slots (inf: inactive/frozen/self); the rows of
    # inactive and frozen slots are stale: they are never read
    d2: np.ndarray
    cid: np.ndarray  # creation id of the cluster in each slot (-1: inactive)
    size: np.ndarray  # number of points per slot
    centre: np.ndarray  # centroid per slot (centred coordinates)
    pcentre: np.ndarray | None  # the centroids' coordinates on the principal directions
    offspan: np.ndarray | None  # the centroids' distances from those directions' span
    frozen: np.ndarray  # per slot: its unit is forced (never merged)
    radius: np.ndarray  # largest member distance from the centroid per slot (or a bound)
    rexact: np.ndarray  # the lineage's radius when it was last measured
    cnorm2: np.ndarray  # squared norm of each centroid
    nn: np.ndarray  # candidate nearest same-label slot (-1: none)
    nn_cid: np.ndarray  # its creation id when recorded
    nn_d2: np.ndarray  # recorded distance (a lower bound when stale)
    epoch: np.ndarray  # heap entry version per slot
    n_live: int = 0  # slots holding a cluster
    live_view: LiveSlots | None = None  # the last made by live()

    def live(self) -> LiveSlots:
        """The slots holding a cluster, or a few more (see :class:`LiveSlots`).

        Every merge empties a slot, and a label's slots end mostly empty (25,147 POS words
        end in a few dozen clusters): scanned whole, they cost every ball test as much
        as at the start. The compact copy is made again whenever half of its slots have
        emptied, which costs the merges a constant share; until the first half of all
        slots has emptied, the block's own arrays serve, so that nothing is copied.
        """
        view = self.live_view
        if view is None:
            every = np.arange(len(self.cid))
            rows = {name: getattr(self, name) for name in LiveSlots.FIELDS}
            view = self.live_view = LiveSlots(every, every, **rows)
        if 2 * self.n_live < len(view.slots):
            slots = (self.cid >= 0).nonzero()[0]
            pos = np.full(len(self.cid), -1, dtype=np.int64)
            pos[slots] = np.arange(len(slots))
            rows = {}
            for name in LiveSlots.FIELDS:
                whole = getattr(self, name)
                rows[name] = None if whole is None else whole[slots]
            view = self.live_view = LiveSlots(slots, pos, **rows)
        return view

    def merged(self, s: int, t: int) -> None:
        """Slot ``s`` took in slot ``t``'s cluster (the block's arrays say so already)."""
        self.n_live -= 1
        view = self.live_view
        if view is None or view.cid is self.cid:
            return
        # Both were live when the copy was made (slots only ever empty), so both are in it.
        i = int(view.pos[s])
        for name in LiveSlots.FIELDS:
            copy = getattr(view, name)
            if copy is not None:
                copy[i] = getattr(self, name)[s]
        view.cid[view.pos[t]] = -1

    def merge_distances(self, s: int, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Slot ``s`` takes in slot ``t``: row ``s`` of ``d2`` and column ``s`` of the live,
        unfrozen rows become the merged cluster's distances (Lance-Williams, for centroid
        linkage), column ``t`` of those rows ``inf`` (no other row is read again).
        Returns the merged cluster's row and the slots it is now closer to than their
        recorded nearest neighbour."""
        na, nb = int(self.size[s]), int(self.size[t])
        nm = na + nb
        return _lance_williams(
            self.d2, s, t, float(na), float(nb), float(nm), na * nb / (nm * nm),
            self.cid, self.frozen, self.nn_d2, self.live().slots,
        )  # fmt: skip

    @classmethod
    def of(
        cls,
        frame: Frame,
        frozen: np.ndarray,
        basis: np.ndarray | None,
        lab: int,
        pts: np.ndarray,
        cids: np.ndarray,
        sizes: np.ndarray,
    ) -> LabelBlock:
        """The label's block: one slot per starting cluster, ``pts`` its first point (all
        its points share that vector), ``cids`` its creation id, ``sizes`` its points;
        ``frozen`` flags the points of forced units, ``basis`` the principal directions."""
        P = frame.Xc[pts]
        m = len(pts)
        # The distances from exactly translated points and exact sums (exact_centre,
        # exact_gram): the same bits on every machine, and exact ties kept.
        E = frame.X[pts] - frame.origin
        gram = exact_gram(E)
        esq = np.diag(gram).copy()
        # (|a|^2 + |b|^2) - 2 a.b, in the Gram matrix's own memory, a band of rows at a
        # time: whole, it made three more arrays the Gram's size (0.6 GB each for the
        # 8,600 units of the biggest label of 50,241 words)
        d2 = gram
        d2 *= 2.0
        for r0 in range(0, m, _BAND):
            band = d2[r0 : r0 + _BAND]
            np.subtract(esq[r0 : r0 + _BAND, None] + esq[None, :], band, out=band)
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
        fz = frozen[pts]
        pcentre = None if basis is None else P @ basis
        offspan = None if pcentre is None else off_span(sq, pcentre)
        d2[fz, :] = np.inf
        d2[:, fz] = np.inf
        return cls(
            label=lab,
            points=pts,
            d2=d2,
            cid=cids.copy(),
            size=sizes.astype(np.int64),
            centre=P.copy(),
            pcentre=pcentre,
            offspan=offspan,
            frozen=fz,
            radius=np.zeros(m),
            rexact=np.zeros(m),
            cnorm2=sq.copy(),
            nn=np.full(m, -1, dtype=np.int64),
            nn_cid=np.full(m, -1, dtype=np.int64),
            nn_d2=np.full(m, np.inf),
            epoch=np.zeros(m, dtype=np.int64),
            n_live=m,
        )


@exact
def _lance_williams(
    d2: np.ndarray,
    s: int,
    t: int,
    wa: float,
    wb: float,
    nm: float,
    c: float,
    cid: np.ndarray,
    frozen: np.ndarray,
    nn_d2: np.ndarray,
    slots: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """See :meth:`LabelBlock.merge_distances`; ``slots``: ascending, every live slot among
    them (the block's live view). The arithmetic is NumPy's
    ``(wa * d2[s] + wb * d2[t]) / nm - c * d2[s, t]``, operation for operation: the merge
    order depends on these values and their ties.

    Only live slots are visited: an empty slot's entries are never read again (the
    nearest-neighbour scan skips empty slots, see :func:`_nearest`), and a label's slots
    end mostly empty, so a pass over all of them cost every late merge as much as the
    first ones. The returned row holds the live slots' distances (others undefined).
    """
    m = d2.shape[0]
    dab = d2[s, t]
    row = np.empty(m)
    closer = np.empty(len(slots), dtype=np.int64)
    k = 0
    for j in slots:
        if cid[j] < 0:
            continue
        v = (wa * d2[s, j] + wb * d2[t, j]) / nm - c * dab
        if v < 0.0:
            v = 0.0
        if frozen[j] or j in (s, t):
            v = np.inf
        row[j] = v
        if v < nn_d2[j]:
            closer[k] = j
            k += 1
    # Only the rows of live, unfrozen slots are read again (t's row dies with it), and a
    # column write misses the cache at every row: on the 8,600 slots of the biggest label
    # of 50,241 words they were most of a merge's update. Column t needs no write: t is
    # empty from now on.
    for j in slots:
        if cid[j] < 0:
            continue
        d2[s, j] = row[j]
        if not frozen[j]:
            d2[j, s] = row[j]
    return row, closer[:k]


@exact
def _nearest(row: np.ndarray, slots: np.ndarray, cid: np.ndarray) -> int:
    """The live slot among ``slots`` (ascending) with the least finite entry of ``row``,
    the first of equals (-1: none finite): ``argmin`` over the live slots, whose entries
    alone are kept up to date (:func:`_lance_williams`)."""
    best = -1
    low = np.inf
    for j in slots:
        if cid[j] >= 0 and row[j] < low:
            low = row[j]
            best = j
    return best


def off_span(cnorm2: np.ndarray | float, pcentre: np.ndarray) -> np.ndarray:
    """The distance of a centroid (of each row of ``pcentre``) from the span of the
    principal directions: from its squared norm ``cnorm2`` and its coordinates on them.

    Two centroids are at least as far apart as these distances differ (the parts of two
    vectors outside a subspace are at least that far apart), which rules out balls that
    the principal coordinates alone do not; see the ball test (``compiled_tests``).
    """
    inside = np.einsum("...i,...i->...", pcentre, pcentre)
    return np.sqrt(np.maximum(cnorm2 - inside, 0.0))


def principal_directions(Xc: np.ndarray, k: int, sample: int = 4096) -> np.ndarray | None:
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


def _current(
    entry: tuple[float, int, int, int, int],
    epoch: np.ndarray | list[int],
    cid: np.ndarray | list[int],
) -> bool:
    """Is the queue's ``entry`` (distance, creation id, label, slot, epoch) still its
    slot's (``epoch``, ``cid``: its label's, by slot)? A slot's epoch and creation id only
    grow, so an entry that is not never will be again."""
    return epoch[entry[3]] == entry[4] and cid[entry[3]] == entry[1]


class MergeQueue:
    """The closest same-label pair of every block, in one heap.

    Ties in distance are broken by the creation id of the cluster, then by label and slot.
    """

    def __init__(self, blocks: dict[int, LabelBlock]) -> None:
        self.blocks = blocks
        self.heap: list[tuple[float, int, int, int, int]] = []
        # the heap's length past which its stale entries are dropped in one pass
        self._sweep_at = _SWEEP_MIN

    def refresh(self, blk: LabelBlock, s: int) -> None:
        """Look up slot ``s``'s nearest same-label slot again, and queue it."""
        row = blk.d2[s]
        t = _nearest(row, blk.live().slots, blk.cid)
        blk.epoch[s] += 1
        if t < 0:
            blk.nn[s] = -1
            blk.nn_d2[s] = np.inf
            return
        blk.nn[s] = t
        blk.nn_cid[s] = blk.cid[t]
        blk.nn_d2[s] = row[t]
        self.push(blk, s)

    def push(self, blk: LabelBlock, s: int) -> None:
        """Queue slot ``s`` with its recorded nearest neighbour."""
        self.push_many(blk, np.array([s]))

    def push_many(self, blk: LabelBlock, slots: np.ndarray) -> None:
        """Queue ``slots`` (in that order) with their recorded nearest neighbours (a merge
        can queue dozens: their numbers are converted together)."""
        heap = self.heap
        entries = zip(
            blk.nn_d2[slots].tolist(),
            blk.cid[slots].tolist(),
            [blk.label] * len(slots),
            slots.tolist(),
            blk.epoch[slots].tolist(),
            strict=True,
        )
        for entry in entries:
            heapq.heappush(heap, entry)
        if len(heap) > self._sweep_at:
            self._sweep()

    def _sweep(self) -> None:
        """Drop the entries that are no longer their slot's (requeued or merged away
        since: see :func:`_current`), which :meth:`pop` would skip.

        A slot is queued again each time a merge brings a cluster nearer, and late in a
        run nearly all entries are such leftovers (99% of 360,000 on POS layer 0): popped
        one by one they cost seconds. The entries kept come out in the same order.
        """
        # as lists: indexing them is several times cheaper than indexing arrays
        epoch = {lab: blk.epoch.tolist() for lab, blk in self.blocks.items()}
        cid = {lab: blk.cid.tolist() for lab, blk in self.blocks.items()}
        self.heap = [e for e in self.heap if _current(e, epoch[e[2]], cid[e[2]])]
        heapq.heapify(self.heap)
        self._sweep_at = max(_SWEEP_MIN, _SWEEP_GROWTH * len(self.heap))

    def pop(self) -> tuple[LabelBlock, int, int] | None:
        """The closest pair still valid (block, slot, its nearest slot), None when none."""
        heap = self.heap
        while heap:
            entry = heapq.heappop(heap)
            lab, s = entry[2], entry[3]
            blk = self.blocks[lab]
            if not _current(entry, blk.epoch, blk.cid):
                continue
            t = blk.nn[s]
            if t < 0:
                continue
            valid = blk.cid[t] == blk.nn_cid[s] and blk.cid[t] >= 0 and blk.d2[s, t] == blk.nn_d2[s]
            if not valid:
                self.refresh(blk, s)
                continue
            return blk, s, int(t)
        return None
