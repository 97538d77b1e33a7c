"""The result of DirectProbe's supervised clustering.

The clustering algorithm itself lives in this module too (below the result type) so that
everything about a partition of labelled points is in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Clustering:
    """A partition of ``n`` labelled training points into label-pure clusters.

    ``assignment[i]`` is the cluster id (``0..K-1``) of training point ``i``;
    ``cluster_labels[k]`` is the label index (into ``label_names``) of cluster ``k``.
    Cluster ids follow the published DirectProbe's ``clusters.txt`` numbering: clusters are
    numbered in order of creation, a point never merged counting as created first (in point
    order), then merged clusters in the order their last merge happened.

    ``conflicts`` lists groups of point indices whose vectors are identical but whose labels
    differ: no partition can separate them, so each such point stays a singleton cluster.
    """

    assignment: np.ndarray
    cluster_labels: np.ndarray
    label_names: tuple[str, ...]
    conflicts: tuple[tuple[int, ...], ...] = field(default=())

    def __post_init__(self) -> None:
        assignment = np.asarray(self.assignment, dtype=np.int64)
        cluster_labels = np.asarray(self.cluster_labels, dtype=np.int64)
        if assignment.ndim != 1 or cluster_labels.ndim != 1:
            raise ValueError("assignment and cluster_labels must be 1-d arrays")
        k = len(cluster_labels)
        if len(assignment) and (assignment.min() < 0 or assignment.max() >= k):
            raise ValueError(f"cluster ids must lie in 0..{k - 1}")
        if len(np.unique(assignment)) != k:
            raise ValueError("every cluster id 0..K-1 must have at least one point")
        if k and (cluster_labels.min() < 0 or cluster_labels.max() >= len(self.label_names)):
            raise ValueError("cluster label index out of range of label_names")
        assignment.setflags(write=False)
        cluster_labels.setflags(write=False)
        object.__setattr__(self, "assignment", assignment)
        object.__setattr__(self, "cluster_labels", cluster_labels)
        object.__setattr__(self, "label_names", tuple(self.label_names))
        object.__setattr__(
            self, "conflicts", tuple(tuple(int(i) for i in g) for g in self.conflicts)
        )

    @property
    def n_clusters(self) -> int:
        """Number of clusters K."""
        return len(self.cluster_labels)

    @property
    def n_points(self) -> int:
        """Number of training points n."""
        return len(self.assignment)

    def members(self, k: int) -> np.ndarray:
        """Indices (ascending) of the training points in cluster ``k``."""
        return np.flatnonzero(self.assignment == k)

    def sizes(self) -> np.ndarray:
        """Number of points per cluster, shape (K,)."""
        return np.bincount(self.assignment, minlength=self.n_clusters)

    def point_labels(self) -> np.ndarray:
        """Label index of every training point, shape (n,)."""
        return self.cluster_labels[self.assignment]

    def cluster_name(self, k: int) -> str:
        """The published ``id-label`` name of cluster ``k`` (as in dis.txt)."""
        return f"{k}-{self.label_names[self.cluster_labels[k]]}"

    @property
    def conflicting_points(self) -> np.ndarray:
        """All point indices that take part in a conflict, ascending."""
        if not self.conflicts:
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.concatenate([np.asarray(g) for g in self.conflicts]))

    @classmethod
    def from_assignment(
        cls,
        assignment: Sequence[int] | np.ndarray,
        y: Sequence[int] | np.ndarray,
        label_names: Sequence[str],
        conflicts: Sequence[Sequence[int]] = (),
    ) -> Clustering:
        """Build from cluster ids (any integers) and per-point label indices.

        Ids are kept when they are already ``0..K-1``, otherwise renumbered in order of first
        appearance. Raises ``ValueError`` when a cluster mixes labels.
        """
        a = np.asarray(assignment, dtype=np.int64)
        yy = np.asarray(y, dtype=np.int64)
        if a.shape != yy.shape:
            raise ValueError(f"{len(a)} cluster ids for {len(yy)} labels")
        uniq = np.unique(a)
        if len(uniq) and not (uniq[0] == 0 and uniq[-1] == len(uniq) - 1):
            _, first = np.unique(a, return_index=True)
            order = uniq[np.argsort(first)]
            remap = {int(old): new for new, old in enumerate(order)}
            a = np.array([remap[int(v)] for v in a], dtype=np.int64)
        k = int(a.max()) + 1 if len(a) else 0
        labels = np.full(k, -1, dtype=np.int64)
        labels[a] = yy
        if np.any(labels[a] != yy):
            bad = int(a[np.flatnonzero(labels[a] != yy)[0]])
            raise ValueError(f"cluster {bad} mixes labels")
        return cls(a, labels, tuple(label_names), tuple(tuple(g) for g in conflicts))

    def same_partition(self, other: Clustering) -> bool:
        """True when both put the same points together (cluster ids may differ)."""
        if self.n_points != other.n_points or self.n_clusters != other.n_clusters:
            return False
        pairs = np.unique(np.stack([self.assignment, other.assignment]), axis=1)
        return pairs.shape[1] == self.n_clusters
