"""Spatial similarity: how alike two representations' label geometries are.

Two representations of the same labelled task (train vs test, before vs after
fine-tuning, two checkpoints, two models) are compared by the Pearson correlation of
their distance vectors (``vec.txt``: one label-to-label distance per label pair), over the
label pairs both define. The comparison is meaningful when each partition has one cluster
per label (then a label-to-label distance is a distance between two hulls); otherwise
:func:`spatial_similarity` still answers, and says so in ``notes`` and with a
:class:`ClusterCountWarning`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ftprobe.geometry.statistics import LabelStatistics

__all__ = [
    "MIN_PAIRS",
    "ClusterCountWarning",
    "DistanceVector",
    "SpatialSimilarity",
    "pearson_over_common_pairs",
    "spatial_similarity",
]


class ClusterCountWarning(UserWarning):
    """A partition does not have one cluster per label: similarity is hard to interpret."""


@dataclass(frozen=True)
class DistanceVector:
    """A representation's label-pair distances and what is known about its partition.

    ``values[i]`` is the distance of ``pairs[i]``; ``defined[i]`` is False where the pair
    has no distance (a label without clusters). ``n_clusters`` and ``n_labels`` (labels
    with at least one cluster) are ``None`` when unknown, e.g. for a ``vec.txt`` read back.
    """

    pairs: tuple[tuple[str, str], ...]
    values: np.ndarray
    defined: np.ndarray
    n_clusters: int | None = None
    n_labels: int | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if not (len(self.pairs) == len(self.values) == len(self.defined)):
            raise ValueError("pairs, values and defined must have the same length")

    @classmethod
    def from_statistics(cls, stats: LabelStatistics, name: str = "") -> DistanceVector:
        """The distance vector of computed statistics (knows its partition's size)."""
        return cls(
            pairs=tuple(stats.pairs),
            values=stats.vec,
            defined=stats.defined,
            n_clusters=stats.n_clusters,
            n_labels=stats.n_labels_present,
            name=name,
        )

    @classmethod
    def from_mapping(
        cls,
        distances: Mapping[tuple[str, str], float],
        *,
        zero_is_undefined: bool = True,
        n_clusters: int | None = None,
        n_labels: int | None = None,
        name: str = "",
    ) -> DistanceVector:
        """From ``{(A, B): d}``, e.g. what ``outputs.read_vec`` returns.

        ``vec.txt`` writes 0 for pairs without a distance; a hull distance between clusters
        of a DirectProbe partition is never exactly 0, so by default a 0 counts as undefined.
        """
        pairs = tuple(distances)
        values = np.array([float(distances[p]) for p in pairs])
        defined = values != 0.0 if zero_is_undefined else np.ones(len(values), dtype=bool)
        return cls(pairs, values, defined, n_clusters, n_labels, name)

    def as_dict(self) -> dict[tuple[str, str], float]:
        """The defined distances by unordered label pair (keys sorted within the pair)."""
        return {
            tuple(sorted(p)): float(v)  # type: ignore[misc]
            for p, v, ok in zip(self.pairs, self.values, self.defined, strict=True)
            if ok
        }

    def cluster_note(self) -> str | None:
        """Why this vector's distances are not hull-to-hull distances of labels, if so."""
        if self.n_clusters is None or self.n_labels is None or self.n_clusters == self.n_labels:
            return None
        who = f"{self.name}: " if self.name else ""
        return (
            f"{who}{self.n_clusters} clusters for {self.n_labels} labels; spatial similarity "
            "is meaningful only with one cluster per label"
        )


MIN_PAIRS = 3
"""Fewest label pairs defined in both vectors for a correlation (two points always fit a line)."""


@dataclass(frozen=True)
class SpatialSimilarity:
    """Pearson correlation of two distance vectors over their common defined pairs.

    ``correlation`` is NaN exactly when ``reason`` says why (too few common pairs, or one
    vector constant over them); ``n_pairs`` is how many label pairs both define.
    """

    correlation: float
    n_pairs: int
    notes: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def meaningful(self) -> bool:
        """True when both partitions have one cluster per label (as far as known)."""
        return not self.notes


def pearson_over_common_pairs(
    a: Mapping[tuple[str, str], float], b: Mapping[tuple[str, str], float]
) -> SpatialSimilarity:
    """Pearson correlation of two ``{(A, B): distance}`` maps over the pairs both hold.

    Only defined distances belong in the maps (a pair without a distance is left out, never
    given as 0). Keys are unordered label pairs: ``(A, B)`` and ``(B, A)`` are the same pair.
    This is the one place ftprobe computes a spatial similarity; tables and analyses call it.
    """
    da = {tuple(sorted(p)): float(v) for p, v in a.items()}
    db = {tuple(sorted(p)): float(v) for p, v in b.items()}
    common = sorted(set(da) & set(db))
    if len(common) < MIN_PAIRS:
        return SpatialSimilarity(
            float("nan"),
            len(common),
            reason=f"only {len(common)} label pairs defined in both (at least {MIN_PAIRS} needed)",
        )
    va = np.array([da[p] for p in common])
    vb = np.array([db[p] for p in common])
    # Deviations from the means first (two passes): no cancellation for large distances.
    sa, sb = va - va.mean(), vb - vb.mean()
    ssa, ssb = float((sa * sa).sum()), float((sb * sb).sum())
    if ssa == 0 or ssb == 0:
        which = "both vectors are" if ssa == ssb == 0 else "one vector is"
        return SpatialSimilarity(
            float("nan"), len(common), reason=f"{which} constant over the {len(common)} pairs"
        )
    r = float((sa * sb).sum() / np.sqrt(ssa * ssb))
    return SpatialSimilarity(max(-1.0, min(1.0, r)), len(common))


def spatial_similarity(a: DistanceVector, b: DistanceVector) -> SpatialSimilarity:
    """Spatial similarity of two representations of the same task.

    Pearson's r over the label pairs both define (:func:`pearson_over_common_pairs`); NaN,
    with the reason, when fewer than :data:`MIN_PAIRS` pairs are common or one side is
    constant over them. A :class:`ClusterCountWarning` (and ``notes``) flags a partition
    without one cluster per label.
    """
    notes = tuple(n for n in (a.cluster_note(), b.cluster_note()) if n)
    for note in notes:
        warnings.warn(note, ClusterCountWarning, stacklevel=2)
    result = pearson_over_common_pairs(a.as_dict(), b.as_dict())
    return SpatialSimilarity(result.correlation, result.n_pairs, notes, result.reason)
