"""Warm starts: what the last exact separations between two lineages leave for the next.

Glossary:

- *lineage*: a cluster and the clusters it was merged from; consecutive checks of a growing
  cluster against the same neighbours are nearly the same problem;
- *support*: the points (global ids) that carried weight in an exact separation
  (:class:`Support`); while the run keeps it, also the solver's end state (its
  factorisation), from which the next check of the lineage starts;
- *one to one*: a support found against a single cluster because the union of that label's
  nearby clusters overlapped; such a pair is checked one to one again;
- *union support*: a lineage's support against a union of one label's clusters.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ftprobe.geometry.compiled import fast
from ftprobe.geometry.separability import Factor

# The memory the supports' factorisations may take together (about 2 MB each at 384-d,
# 0.2 MB at 128-d), least recently used dropped first.
_FACTOR_BYTES = 256 << 20
# Points of a kept end state that may be missing from a new problem before the support
# alone is the better start.
_FACTOR_MISSING = 8


class Support:
    """The points (global ids) that carried weight in an exact separation, and while the
    run keeps it, the solver's end state: the same points in column order, whether each
    was on the P side, and the factorisation (to start the next check of the lineage)."""

    __slots__ = ("ids", "factor")

    def __init__(
        self, ids: np.ndarray, factor: tuple[np.ndarray, np.ndarray, Factor] | None
    ) -> None:
        self.ids = ids
        self.factor = factor


def _nbytes(factor: Factor) -> int:
    return factor.qt.nbytes + factor.r.nbytes + factor.index.nbytes


class WarmStarts:
    """The supports of a run, by lineage, and the ones found for the candidate at hand."""

    def __init__(self, n_points: int) -> None:
        # supports[a][b]: the last support between the lineages of clusters a and b (kept
        # through merges on either side) and whether the two had to be checked one to one
        self.supports: dict[int, dict[int, tuple[Support, bool]]] = {}
        # union_supports[a][L]: the same for a's lineage against a union of L-clusters
        self.union_supports: dict[int, dict[int, Support]] = {}
        # the last exact separation's points between clusters of two labels, by label pair
        self.pair_support: dict[tuple[int, int], np.ndarray] = {}
        # found while checking the current candidate; they go to its lineage when it is
        # decided (merged or rejected)
        self._new: dict[int, tuple[Support, bool]] = {}
        self._new_union: dict[int, Support] = {}
        self._factored: OrderedDict[int, Support] = OrderedDict()
        self._factor_bytes = 0
        self._scratch = np.full(n_points, -1, dtype=np.int64)

    def begin(self) -> None:
        """A new candidate: forget what was found for the last one."""
        self._new = {}
        self._new_union = {}

    def lineage(self, big: int, small: int, oc: int) -> tuple[Support | None, bool]:
        """The last support between a parent's lineage and ``oc``'s (bigger parent first),
        and whether they were checked one to one."""
        for parent in (big, small):
            found = self.supports.get(parent, {}).get(oc)
            if found is not None:
                return found
        return None, False

    def union_lineage(self, big: int, small: int, label: int) -> Support | None:
        """The last support between a parent's lineage and a union of ``label``'s clusters."""
        for cid in (big, small):
            sup = self.union_supports.get(cid, {}).get(label)
            if sup is not None:
                return sup
        return None

    def found(
        self,
        support: Support,
        *,
        other: int | None = None,
        label: int | None = None,
        alone: bool = False,
    ) -> None:
        """Record the candidate's support against cluster ``other`` (one to one when
        ``alone``) or against a union of ``label``'s clusters."""
        if other is not None:
            self._new[other] = (support, alone)
        elif label is not None:
            self._new_union[label] = support

    def keep(
        self, ids: np.ndarray, factor: Factor | None, mem: np.ndarray, union: np.ndarray
    ) -> Support:
        """A separation's support, with the solver's end state in global ids."""
        if factor is None:
            return Support(ids, None)
        gids = np.concatenate([mem, union])[factor.index]
        support = Support(ids, (gids, factor.index < len(mem), factor))
        self._factored[id(support)] = support
        self._factor_bytes += _nbytes(factor)
        while self._factor_bytes > _FACTOR_BYTES and len(self._factored) > 1:
            _, old = self._factored.popitem(last=False)
            self._factor_bytes -= _nbytes(old.factor[2])
            old.factor = None
        return support

    def positions(
        self, ids: np.ndarray, mem: np.ndarray, union: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Where each point of ``ids`` stands in ``mem`` and in ``union`` (-1: not there)."""
        at = _stand(ids, mem, union, self._scratch)
        na = len(mem)
        return np.where(at < na, at, -1), np.where(at >= na, at - na, -1)

    def start(self, support: Support, mem: np.ndarray, union: np.ndarray) -> Factor | None:
        """The lineage's last end state, renumbered for the problem (mem, union)."""
        if support.factor is None:
            return None
        self._factored.move_to_end(id(support))
        gids, on_p, factor = support.factor
        sides, index = _placed(gids, on_p, mem, union, self._scratch, _FACTOR_MISSING)
        if sides < 0:
            return None
        return factor.renumbered(index, index >= 0, sides == 1)

    def merged(self, m: int, big: int, small: int) -> None:
        """Parents ``big`` and ``small`` became cluster ``m``: it inherits their supports,
        the ones found for this merge taking precedence."""
        moved: dict[int, tuple[Support, bool]] = {}
        for parent in (small, big):
            for other, sup in self.supports.pop(parent, {}).items():
                moved[other] = sup
                theirs = self.supports.get(other)
                if theirs is not None:
                    theirs.pop(parent, None)
        for other, (sup, alone) in self._new.items():
            moved[other] = (sup, alone or moved.get(other, (None, False))[1])
        self._new = {}
        unions = self.union_supports.pop(small, {})
        unions.update(self.union_supports.pop(big, {}))
        unions.update(self._new_union)
        self._new_union = {}
        if unions:
            self.union_supports[m] = unions
        for other, sup in moved.items():
            self._link(m, other, sup)

    def rejected(self, big: int) -> None:
        """The candidate was rejected: the supports found for it are the best warm start
        the bigger parent's lineage has against those clusters."""
        for other, sup in self._new.items():
            self._link(big, other, sup)
        self._new = {}
        if self._new_union:
            self.union_supports.setdefault(big, {}).update(self._new_union)
            self._new_union = {}

    def _link(self, a: int, b: int, support: tuple[Support, bool]) -> None:
        self.supports.setdefault(a, {})[b] = support
        self.supports.setdefault(b, {})[a] = support


@fast
def _stand(ids: np.ndarray, mem: np.ndarray, union: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """Where each point of ``ids`` (global ids) stands in ``[P; Q]`` for P = ``mem``,
    Q = ``union`` (``len(mem) + j`` for Q's point ``j``; -1: in neither). ``scratch``: -1
    at every point, and left so."""
    na = mem.shape[0]
    at = np.empty(ids.shape[0], dtype=np.int64)
    for i in range(na):
        scratch[mem[i]] = i
    for c in range(ids.shape[0]):
        at[c] = scratch[ids[c]]
    for i in range(na):
        scratch[mem[i]] = -1
    for i in range(union.shape[0]):
        scratch[union[i]] = na + i
    for c in range(ids.shape[0]):
        if at[c] < 0:
            at[c] = scratch[ids[c]]
    for i in range(union.shape[0]):
        scratch[union[i]] = -1
    return at


@fast
def _placed(
    gids: np.ndarray,
    on_p: np.ndarray,
    mem: np.ndarray,
    union: np.ndarray,
    scratch: np.ndarray,
    max_missing: int,
) -> tuple[int, np.ndarray]:
    """Where a kept end state's points (global ids ``gids``; ``on_p``: whether each was on
    P's side) stand in the problem P = ``mem``, Q = ``union``: a verdict on the sides and
    their positions in ``[P; Q]`` (as :func:`_stand`); the verdict: 0 the same,
    1 exchanged, -1 no start (more than ``max_missing`` points gone: the support alone is
    the better start; or points on both sides moved). ``scratch`` as for :func:`_stand`.
    Compiled: made before nearly every check of a run, in NumPy it was a dozen calls on
    small arrays.
    """
    at = _stand(gids, mem, union, scratch)
    na = mem.shape[0]
    missing = 0
    same = True
    exchanged = True
    for c in range(at.shape[0]):
        if at[c] < 0:
            missing += 1
        elif (at[c] < na) == on_p[c]:
            exchanged = False
        else:
            same = False
    if missing > max_missing or not (same or exchanged):
        return -1, at
    return (0 if same else 1), at
