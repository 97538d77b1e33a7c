"""A partition of labelled points into label-pure clusters, and the input rules it rests on.

Glossary:

- *point*: one training example, a row of ``X`` with a label index into ``label_names``;
- *vector*: a point's coordinates; two points have *the same vector* only when their rows
  are bitwise identical (-0.0 read as +0.0, :func:`vector_ids`);
- *cluster*: a set of points of one label; its id ``0..K-1`` follows the published
  ``clusters.txt`` numbering (:class:`Clustering`);
- *conflict*: a vector that carries more than one label; no partition can separate its
  points, so it gives one *forced* cluster per label it carries.

This module owns what a partition is; the merging package (``geometry.merging``) makes one
and the hulls package (``geometry.hulls``) measures it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ftprobe.errors import FtprobeError


@dataclass(frozen=True, eq=False)
class Clustering:
    """A partition of ``n`` labelled training points into label-pure clusters.

    ``assignment[i]`` is the cluster id (``0..K-1``) of training point ``i``;
    ``cluster_labels[k]`` is the label index (into ``label_names``) of cluster ``k``.
    Cluster ids follow the published DirectProbe's ``clusters.txt`` numbering: clusters are
    numbered in order of creation, a point never merged counting as created first (in point
    order), then merged clusters in the order their last merge happened.

    Points whose vectors are bitwise identical (-0.0 read as +0.0) and that carry the same
    label are one cluster from the start: merging them changes no hull. Such clusters of
    copies count as merged clusters created before any other merge, in order of their
    first point.

    ``conflicts`` lists groups of point indices whose vectors are identical but whose labels
    differ: no partition can separate them, so such a vector gives one cluster per label
    it carries (its *forced* clusters), never merged with anything else.
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

    @property
    def n_conflicting_vectors(self) -> int:
        """Number of distinct vectors that carry more than one label."""
        return len(self.conflicts)

    @property
    def n_conflicting_points(self) -> int:
        """Number of points that sit on a vector carrying more than one label."""
        return len(self.conflicting_points)

    @property
    def forced_clusters(self) -> np.ndarray:
        """Ids (ascending) of the clusters that hold a conflicting vector: one per
        (vector, label), forced by the conflict."""
        return np.unique(self.assignment[self.conflicting_points])

    @property
    def n_forced_clusters(self) -> int:
        """Number of clusters forced by conflicting vectors (see :attr:`forced_clusters`)."""
        return len(self.forced_clusters)

    @property
    def n_other_clusters(self) -> int:
        """Number of clusters the points off conflicting vectors form."""
        return self.n_clusters - self.n_forced_clusters

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

    def digest(self) -> str:
        """SHA-256 of the partition, cluster ids included: what a regression fixture pins."""
        h = hashlib.sha256(np.ascontiguousarray(self.assignment, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(self.cluster_labels, dtype=np.int64).tobytes())
        return h.hexdigest()

    def same_partition(self, other: Clustering) -> bool:
        """True when both put the same points together (cluster ids may differ)."""
        if self.n_points != other.n_points or self.n_clusters != other.n_clusters:
            return False
        pairs = np.unique(np.stack([self.assignment, other.assignment]), axis=1)
        return pairs.shape[1] == self.n_clusters


def nonfinite_rows(X: np.ndarray) -> np.ndarray:
    """Indices (0-based) of the rows of ``X`` holding a NaN or an infinite value."""
    return np.flatnonzero(~np.isfinite(X).all(axis=1))


def check_inputs(X: np.ndarray, y: np.ndarray, n_labels: int | None = None) -> None:
    """Raise :class:`FtprobeError` for inputs the clustering cannot take.

    Rows are reported 1-based (as lines of an embeddings file).
    """
    if X.ndim != 2:
        raise FtprobeError(f"the vectors must form a 2-d array, got shape {X.shape}")
    if y.ndim != 1:
        raise FtprobeError(f"the labels must form a 1-d array, got shape {y.shape}")
    if len(X) != len(y):
        raise FtprobeError(f"{len(X)} vectors but {len(y)} labels: the counts must be equal")
    if len(X) == 0:
        raise FtprobeError("no points to cluster")
    bad = nonfinite_rows(X)
    if len(bad):
        raise FtprobeError(
            f"vector {bad[0] + 1} has a NaN or infinite value ({len(bad)} such vectors)"
        )
    if y.min() < 0 or (n_labels is not None and y.max() >= n_labels):
        raise FtprobeError("label indices must lie in 0..len(label_names)-1")


def vector_ids(X: np.ndarray) -> np.ndarray:
    """An id per row, equal for rows whose vectors are bitwise identical (-0.0 read as +0.0).

    This is the one meaning of "the same vector" for the clustering: copies that compare
    equal only after rounding are different vectors.
    """
    Xn = np.ascontiguousarray(X, dtype=np.float64) + 0.0  # -0.0 -> 0.0
    rows = Xn.view(np.dtype((np.void, Xn.dtype.itemsize * Xn.shape[1]))).ravel()
    return np.unique(rows, return_inverse=True)[1].ravel().astype(np.int64)


def find_conflicts(X: np.ndarray, y: np.ndarray) -> tuple[tuple[int, ...], ...]:
    """Groups of points with identical vectors but more than one label (ascending)."""
    return conflict_groups(vector_ids(X), np.asarray(y))


def conflict_groups(vid: np.ndarray, y: np.ndarray) -> tuple[tuple[int, ...], ...]:
    """Groups of points sharing a vector id (:func:`vector_ids`) but not a label."""
    order = np.lexsort((np.arange(len(vid)), vid))
    starts = np.flatnonzero(np.r_[True, vid[order][1:] != vid[order][:-1]])
    groups = []
    for members in np.split(order, starts[1:]):
        if len(members) > 1 and np.any(y[members] != y[members[0]]):
            groups.append(tuple(int(i) for i in members))
    groups.sort()
    return tuple(groups)


class ClusteringLike(Protocol):
    """What the distance functions need of a partition (:class:`Clustering` has it)."""

    @property
    def assignment(self) -> np.ndarray: ...

    @property
    def cluster_labels(self) -> np.ndarray: ...

    @property
    def n_clusters(self) -> int: ...

    @property
    def label_names(self) -> tuple[str, ...]: ...
