"""DirectProbe's supervised clustering: the merges that make a :class:`Clustering`.

Glossary (the other modules of this package hold the rest):

- *candidate*: the closest pair of same-label clusters, proposed for a merge;
- *merge* / *reject*: the candidate's union overlaps no cluster of another label / does;
- *ball*: a cluster's centroid and largest member distance (or an upper bound on it): balls
  that do not meet need no check;
- *exact decision*: :func:`ftprobe.geometry.separability.decide` between the candidate and
  one or more clusters of another label; its verdict is a verified separating hyperplane or
  a verified common point.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from ftprobe.errors import FtprobeError
from ftprobe.geometry.merging import compiled_tests
from ftprobe.geometry.merging.blocks import (
    BALL_DIMS,
    BALL_SLACK,
    LabelBlock,
    MergeQueue,
    Units,
    off_span,
    principal_directions,
)
from ftprobe.geometry.merging.certificates import (
    CertificateTable,
    Planes,
    inherit,
    try_centroids,
    try_pool,
    try_shifted,
)
from ftprobe.geometry.merging.compiled_tests import MemberChains
from ftprobe.geometry.merging.frame import Frame
from ftprobe.geometry.merging.label_pairs import (
    BACKGROUND_MIN_POINTS,
    LabelPairs,
    cpus,
    pair_key,
)
from ftprobe.geometry.merging.state import fingerprint, load_state, save_state
from ftprobe.geometry.merging.stats import ClusteringStats
from ftprobe.geometry.merging.warm import Support, WarmStarts
from ftprobe.geometry.partition import Clustering, check_inputs
from ftprobe.geometry.separability import Overlap, Rows, Separation, Verdict, decide

# Clusters up to this size have their radius measured at every merge; bigger ones keep an
# upper bound until it has drifted this far above the last measurement.
_RADIUS_MEASURED = 64
_RADIUS_DRIFT = 0.03
# How often the merges record the label-pair verdicts the second thread has finished.
_HARVEST_SECONDS = 0.5
# What the ball test is given for the principal coordinates when there are none.
_NO_ROWS = np.empty((0, 0))
_NO_VALUES = np.empty(0)


class ClusteringInterrupted(FtprobeError):
    """Raised when a run stops early on request (``max_steps``); its state file is saved."""


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

    * label pairs (:mod:`~ftprobe.geometry.merging.label_pairs`): the first time clusters
      of labels K and L come close, the two whole labels are checked; when they are
      separable, no K-cluster can ever overlap an L-cluster (subsets of separable sets are
      separable) and that pair is never looked at again (with a second CPU, the pairs are
      decided on a second thread from the start, closest labels first, and a merge that
      needs a verdict takes it from there);
    * rejections: a rejected pair's union overlaps some cluster, and the union of any
      later clusters holding the two does too (hulls only grow), so their pairs, which
      the published code proposes and rejects one by one, are never proposed: the
      merges, and so the partition and its ids, are the same;
    * a bounding-ball pre-filter (centroid, largest member distance);
    * the other labels in the order of their last rejections (``check_order``): a
      rejected candidate is checked until the first label that overlaps it, usually the
      one that overlapped the last;
    * certificates (:mod:`~ftprobe.geometry.merging.certificates`), kept for every pair of
      current clusters of different labels that has one: the hyperplane that separated a
      parent cluster from D is tried on the other parent's points before any solver runs
      (it is then verified on every point of the merged cluster and D), then the bigger
      parent's hyperplanes against nearby clusters, then the bigger parent's hyperplane
      against D moved towards D past the smaller parent's points, then the direction
      joining the two centroids;
    * the exact decision (:func:`ftprobe.geometry.separability.decide`) only for what
      remains, warm-started from the lineages' last supports
      (:mod:`~ftprobe.geometry.merging.warm`).

    The run can be checkpointed to ``state_path`` (the sequence of decisions plus the
    label-pair certificates, written atomically every ``checkpoint_seconds``) and resumed:
    resuming replays the recorded decisions (no solver calls) and continues, ending with
    the same result (:mod:`~ftprobe.geometry.merging.state`).

    ``on_whole_label(K)`` is called, on the run's thread and at most once per label, as
    soon as label K is known to end as one cluster of all its points (it is separable
    from every other label), so that work on that cluster can start before the run ends.
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
        on_whole_label: Callable[[int], None] | None = None,
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
        self.frame = Frame.of(X)
        self.X = self.frame.X
        self.y = y
        self.n = len(y)
        self.state_path = Path(state_path) if state_path is not None else None
        self.resume = resume
        self.checkpoint_seconds = checkpoint_seconds
        self.max_steps = max_steps
        self.progress = progress
        # Label pairs decided on a second thread while the merges go on: by default when
        # there is a second CPU and enough points for it to pay.
        if background is None:
            background = self.n >= BACKGROUND_MIN_POINTS and cpus() >= 2
        self.background = background
        self.stats = ClusteringStats()
        self.pairs = LabelPairs(self.frame, y, self.stats, on_whole_label)
        self.labels_present = self.pairs.labels

    # ----------------------------------------------------------------------------------
    def run(self) -> Clustering:
        """Cluster and return the partition (ids numbered as in :class:`Clustering`)."""
        t_start = time.perf_counter()
        stamp = fingerprint(self.X, self.y, self.label_names)
        replay = load_state(self.state_path, stamp, self.pairs) if self.resume else None
        # The second thread starts before the set-up, which takes seconds on big inputs:
        # the first merges then find more of the verdicts they need.
        pool = self.pairs.start() if self.background else None
        try:
            self._setup(background=pool is not None)
            self._loop(replay, stamp)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            self.pairs.stop()
        self.stats.seconds = time.perf_counter() - t_start
        if self.state_path is not None:
            save_state(self.state_path, stamp, self.decisions, self.pairs)
        return self._result()

    # ----------------------------------------------------------------------------------
    def _setup(self, background: bool = False) -> None:
        # One BLAS thread beside the second thread's while it decides label pairs (two each
        # would oversubscribe), all of them once it is done: on 50,241 POS words the pairs
        # take 13 s of a 31 s set-up, most of it the distance matrices of the big labels.
        with threadpool_limits(1 if background else None):
            units, uid = self._setup_units()
        for lab in self.labels_present:
            busy = background and self.pairs.busy()
            with threadpool_limits(1) if busy else nullcontext():
                self._setup_block(lab, units, uid)
        # certificates between current clusters of different labels; one hyperplane serves
        # every pair it was verified for
        self.certs = CertificateTable(len(self.c_label))
        self.planes = Planes(self.frame.Xc, self.frame.scale)
        self.warm = WarmStarts(self.n)
        # what the accepted check measured, for the merge that follows it
        self._pending: tuple | None = None
        self.decisions: list[tuple[int, int, int]] = []  # (cid_a, cid_b, accepted)
        # Per label, the other labels in the order its candidates are checked against them:
        # the label that rejected its last merge first (see _check_merge).
        self.check_order = {
            K: [L for L in self.labels_present if L != K] for K in self.labels_present
        }

    def _setup_units(self) -> tuple[Units, np.ndarray]:
        """The starting clusters (units) and their creation ids; the run's per-point and
        per-cluster tables."""
        n, y, frame = self.n, self.y, self.frame
        units = Units.of(self.X, y)
        self.conflicts = units.conflicts
        # per point: its vector carries several labels, so its unit is never merged
        self.frozen = units.forced[units.point_unit]
        self.basis = principal_directions(frame.Xc, BALL_DIMS)
        # Creation ids. A unit of one point is that point, numbered with the points never
        # merged. Copies of one (vector, label) are a cluster created before any merge
        # (merging them changes no hull: they are the merges at centroid distance 0), in
        # order of their first point.
        copies = units.size > 1
        uid = units.first.copy()
        uid[copies] = n + np.arange(int(copies.sum()))
        cap = 2 * n
        self.c_label = np.full(cap, -1, dtype=np.int64)
        self.c_label[uid] = units.label
        by_unit = np.argsort(units.point_unit, kind="stable")  # points ascending per unit
        self.members: dict[int, np.ndarray] = {
            int(uid[u]): pts for u, pts in enumerate(np.split(by_unit, np.cumsum(units.size)[:-1]))
        }
        self.owner = uid[units.point_unit]  # active cluster of every point
        self.chains = MemberChains(n, self.members)
        self.next_cid = n + int(copies.sum())
        self.blocks: dict[int, LabelBlock] = {}
        self.queue = MergeQueue(self.blocks)
        return units, uid

    def _setup_block(self, lab: int, units: Units, uid: np.ndarray) -> None:
        """Label ``lab``'s block of starting clusters (``units``, creation ids ``uid``),
        queued for their first merges."""
        us = np.flatnonzero(units.label == lab)  # in order of first point
        blk = LabelBlock.of(
            self.frame, self.frozen, self.basis, lab, units.first[us], uid[us], units.size[us]
        )
        self.blocks[lab] = blk
        for s in np.flatnonzero(~units.forced[us]).tolist():
            self.queue.refresh(blk, s)

    # ----------------------------------------------------------------------------------
    def _loop(self, replay: list[tuple[int, int, int]] | None, stamp: str) -> None:
        replay = replay or []
        total = sum(max(0, len(b.points) - 1) for b in self.blocks.values())
        bar = tqdm(
            total=total, desc="clustering", unit="merge", disable=not self.progress, leave=False
        )
        last_save = last_harvest = time.perf_counter()
        step = 0
        with threadpool_limits(1):
            while True:
                nxt = self.queue.pop()
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
                            save_state(self.state_path, stamp, self.decisions, self.pairs)
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
                if self.pairs.pending and time.perf_counter() - last_harvest > _HARVEST_SECONDS:
                    self.pairs.harvest()
                    last_harvest = time.perf_counter()
                if (
                    self.state_path is not None
                    and time.perf_counter() - last_save > self.checkpoint_seconds
                ):
                    save_state(self.state_path, stamp, self.decisions, self.pairs)
                    last_save = time.perf_counter()
        bar.close()

    # ----------------------------------------------------------------------------------
    def _merge(self, blk: LabelBlock, s: int, t: int) -> None:
        if t < s:
            s, t = t, s
        ca, cb = int(blk.cid[s]), int(blk.cid[t])
        na, nb = int(blk.size[s]), int(blk.size[t])
        nm = na + nb
        row, closer = blk.merge_distances(s, t)
        m = self.next_cid
        self.next_cid += 1
        mem = np.concatenate([self.members.pop(ca), self.members.pop(cb)])
        mem.sort()
        self.members[m] = mem
        self.chains.join(ca, cb, m)
        self.owner[mem] = m
        self.c_label[m] = blk.label
        centre = (na * blk.centre[s] + nb * blk.centre[t]) / nm
        pend = self._pending
        if pend is not None and pend[0] in ((ca, cb), (cb, ca)):
            centre, radius, rexact, new_certs = pend[1], pend[2], pend[3], pend[4]
        else:
            radius = rexact = self._radius(mem, centre)
            new_certs = {}
        self._pending = None
        blk.centre[s] = centre
        blk.cnorm2[s] = float(centre @ centre)
        if blk.pcentre is not None:
            blk.pcentre[s] = centre @ self.basis
            blk.offspan[s] = off_span(blk.cnorm2[s], blk.pcentre[s])
        blk.radius[s] = radius
        blk.rexact[s] = rexact
        blk.size[s] = nm
        blk.size[t] = 0
        blk.cid[s] = m
        blk.cid[t] = -1
        blk.epoch[t] += 1
        blk.merged(s, t)
        # the merged cluster holds the certificates built for this merge alone
        self.certs.retire(ca, cb)
        for others, codes in new_certs.values():
            self.certs.put(m, others, codes)
        big, small = (ca, cb) if na >= nb else (cb, ca)  # parents already popped
        self.warm.merged(m, big, small)
        # neighbours: m's own, and everyone for whom m is now closer
        self.queue.refresh(blk, s)
        blk.nn[closer] = s
        blk.nn_cid[closer] = m
        blk.nn_d2[closer] = row[closer]
        blk.epoch[closer] += 1
        self.queue.push_many(blk, closer)

    def _reject(self, blk: LabelBlock, s: int, t: int) -> None:
        self._pending = None
        self.warm.rejected(self._bigger_first(int(blk.cid[s]), int(blk.cid[t]))[0])
        # The union overlaps another label's cluster, and so does the union of any two
        # clusters that will ever contain these two (hulls only grow, and so does that
        # cluster's): the pair is out for good. An infinite distance says so, and the
        # Lance-Williams update carries it to every merge of either side, so no
        # descendant pair is ever proposed (each would be rejected on the same grounds).
        blk.d2[s, t] = blk.d2[t, s] = np.inf
        self.queue.refresh(blk, s)
        if blk.nn[t] == s:
            self.queue.refresh(blk, t)

    # ----------------------------------------------------------------------------------
    # the overlap check of a candidate merge

    def _check_merge(self, blk: LabelBlock, s: int, t: int) -> bool:
        """May slots s and t merge? False when their union overlaps a cluster of another
        label (a verified common point)."""
        K = blk.label
        ca, cb = int(blk.cid[s]), int(blk.cid[t])
        self.warm.begin()
        na, nb = int(blk.size[s]), int(blk.size[t])
        nm = na + nb
        centre = (na * blk.centre[s] + nb * blk.centre[t]) / nm
        mem_a, mem_b = self.members[ca], self.members[cb]
        mem = np.concatenate([mem_a, mem_b])
        # the candidate's points where they lie, for every exact decision about it (one
        # that needs them as an array copies them once, for all the labels)
        points = Rows(self.frame.Xs, mem)
        radius, rexact = self._merged_radius(blk, s, t, mem, centre)
        cn2 = float(centre @ centre)
        pc = centre @ self.basis if self.basis is not None else None
        off = float(off_span(cn2, pc)) if pc is not None else 0.0
        tol = BALL_SLACK * self.frame.scale
        # per other label: the creation ids of its clusters near the candidate and a
        # certificate for each (see CertificateTable; from the candidate's side)
        new_certs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        status = self.pairs.status
        # A rejected candidate is checked against other labels only until one overlaps it,
        # and the labels that overlap a label's clusters are few and the same again and
        # again (POS layer 6 in 128-d: 2 of 3 rejections came after separations from other
        # labels, each a solver call). The order changes no verdict, only how soon a
        # rejection is found.
        order = self.check_order[K]
        for L in order:
            key = pair_key(K, L)
            if status.get(key) is True:
                continue
            oblk = self.blocks[L]
            view = oblk.live()
            near = compiled_tests.near_slots(
                view.cid, view.centre, view.cnorm2,
                _NO_ROWS if pc is None else view.pcentre,
                _NO_VALUES if pc is None else view.offspan,
                view.radius, centre, cn2,
                _NO_VALUES if pc is None else pc, off, radius, tol,
            )  # fmt: skip
            if len(near) == 0:
                continue
            # First contact between the two labels: settle the whole pair once (it has to be
            # settled by the end anyway, when the last clusters of both labels meet).
            if key not in status and self.pairs.settle(K, L):
                continue
            close = view.slots[near]
            close_ids = view.cid[near]
            from_a = self.certs.get(ca, close_ids)
            from_b = self.certs.get(cb, close_ids)
            codes, held = inherit(self.planes, from_a, from_b, mem_a, mem_b, self.stats)
            new_certs[L] = (close_ids, codes)
            # the pairs still open, counted down from what each test settles (an array's
            # all() per test cost more than some of the tests)
            open_pairs = len(codes) - held
            if open_pairs == 0:
                continue
            big_codes, small_mem = (from_a, mem_b) if len(mem_a) >= len(mem_b) else (from_b, mem_a)
            tried = (self.planes, self.chains, big_codes, small_mem, oblk, close, codes, self.stats)
            open_pairs -= try_pool(*tried)
            if open_pairs == 0:
                continue
            open_pairs -= try_shifted(*tried)
            if open_pairs == 0:
                continue
            open_pairs -= try_centroids(
                self.planes, self.chains, mem, centre, oblk, close, codes, self.stats
            )
            if open_pairs == 0:
                continue
            if not self._check_against(ca, cb, points, oblk, close, codes):
                order.remove(L)
                order.insert(0, L)
                return False
        self._pending = ((ca, cb), centre, radius, rexact, new_certs)
        return True

    def _merged_radius(
        self, blk: LabelBlock, s: int, t: int, mem: np.ndarray, centre: np.ndarray
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
        radius = self._radius(mem, centre)
        return radius, radius

    def _radius(self, mem: np.ndarray, centre: np.ndarray) -> float:
        """Largest distance from ``centre`` to a member (via norms: one matrix-vector product)."""
        r2 = self.frame.sqnorm[mem] - 2.0 * (self.frame.Xc[mem] @ centre) + float(centre @ centre)
        return float(np.sqrt(max(float(r2.max()), 0.0)))

    def _check_against(
        self,
        ca: int,
        cb: int,
        points: Rows,
        oblk: LabelBlock,
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
        common point). ``points``: the merged cluster's.
        """
        mem = points.index
        at = {int(oblk.cid[close[i]]): int(i) for i in np.flatnonzero(codes == 0)}
        todo = list(at)
        big, small = self._bigger_first(ca, cb)
        # Clusters that a parent could only be separated from one at a time (the union of
        # them overlapped it) are checked one at a time again: the union check would fail
        # the same way, at the price of a solver call on the largest problem.
        alone = [oc for oc in todo if self.warm.lineage(big, small, oc)[1]]
        for oc in alone:
            verdict, other = self._decide(ca, cb, points, [oc], alone=True)
            if isinstance(verdict, Overlap):
                return False
            codes[at[oc]] = self._plane(verdict, mem, other) + 1
        rest = [oc for oc in todo if oc not in alone]
        while rest:
            single = len(rest) == 1
            if single:
                groups = [rest[0]]
            else:
                verdict, union = self._decide(ca, cb, points, rest)
                if isinstance(verdict, Separation):
                    codes[[at[oc] for oc in rest]] = self._plane(verdict, mem, union) + 1
                    return True
                groups = [int(o) for o in np.unique(self.owner[union[verdict.q_index]])]
            one_by_one = len(groups) > 1
            for oc in groups + ([o for o in rest if o not in groups] if one_by_one else []):
                verdict, other = self._decide(ca, cb, points, [oc], alone=not single)
                if isinstance(verdict, Overlap):
                    return False
                codes[at[oc]] = self._plane(verdict, mem, other) + 1
                rest.remove(oc)
        return True

    def _bigger_first(self, ca: int, cb: int) -> tuple[int, int]:
        """The two parents, the one with more points first (ties: ``ca``)."""
        return (ca, cb) if len(self.members[ca]) >= len(self.members[cb]) else (cb, ca)

    def _decide(
        self,
        ca: int,
        cb: int,
        points: Rows,
        others: list[int],
        alone: bool = False,
    ) -> tuple[Verdict, np.ndarray]:
        """The exact verdict for the merged cluster (``points``) against the union of
        ``others``.

        Hints are the parents' hyperplanes against those clusters; the points that carried
        weight in them warm-start the solver. Returns the verdict and the union's points.
        """
        mem = points.index
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
        lineage: Support | None = None
        if len(others) > 1:
            lineage = self.warm.union_lineage(big, small, L)
        if lineage is None:
            for oc in sorted(others, key=lambda c: -len(self.members[c])):
                lineage = self.warm.lineage(big, small, oc)[0]
                if lineage is not None:
                    break
        K = int(self.c_label[ca])
        key = pair_key(K, L)
        start = None
        if lineage is not None:
            warm = [lineage.ids]
            start = self.warm.start(lineage, mem, union)
            self.stats.factor_starts += start is not None
        if start is None:
            # A start brings its own points and tries no hint: the parents' hyperplanes
            # against these clusters are only looked up without one.
            ids = np.asarray(others, dtype=np.int64)
            held = np.concatenate([self.certs.get(c, ids) for c in (ca, cb)])
            held = held[held != 0]
            _, first = np.unique(np.abs(held), return_index=True)
            for code in held[np.sort(first)[:4]].tolist():
                hints.append(np.sign(code) * self.planes.w[abs(code) - 1])
            if lineage is None:
                warm = [
                    sup
                    for code in held[np.sort(first)].tolist()
                    if (sup := self.planes.support[abs(code) - 1]) is not None
                ]
                # The last exact separation between clusters of these two labels:
                # consecutive checks of a growing cluster against the same neighbours are
                # nearly the same problem, and its support warm-starts the next one even
                # after the clusters on either side were renamed by merges.
                recent = self.warm.pair_support.get(key)
                if recent is not None:
                    warm.append(recent)
        warm_local = None
        if warm and start is None:
            on_p, on_q = self.warm.positions(np.unique(np.concatenate(warm)), mem, union)
            warm_local = (on_p[on_p >= 0], on_q[on_q >= 0])
        self.stats.cluster_checks += 1
        t0 = time.perf_counter()
        # In unit-scaled coordinates, the same for every check, so no check has to derive
        # its own frame (the verdict's offset is mapped back in _plane).
        verdict = decide(
            # the points where they lie: the solver reads them without a copy
            points,
            Rows(self.frame.Xs, union),
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
            self.warm.pair_support[key] = ids
            support = self.warm.keep(ids, verdict.factor, mem, union)
            if len(others) > 1:
                self.warm.found(support, label=L)
            else:
                self.warm.found(support, other=others[0], alone=alone)
        return verdict, union

    def _plane(self, verdict: Separation, mem: np.ndarray, union: np.ndarray) -> int:
        """Register a solver's hyperplane (in the run's centred coordinates); its serial."""
        support = None
        if verdict.support is not None:
            support = np.concatenate([mem[verdict.support[0]], union[verdict.support[1]]])
        return self.planes.add(verdict.w, verdict.b * self.frame.scale, support)

    # ----------------------------------------------------------------------------------
    def _result(self) -> Clustering:
        active = sorted(self.members)
        assignment = np.empty(self.n, dtype=np.int64)
        labels = np.empty(len(active), dtype=np.int64)
        for k, cid in enumerate(active):
            assignment[self.members[cid]] = k
            labels[k] = self.c_label[cid]
        return Clustering(assignment, labels, self.label_names, self.conflicts)


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
