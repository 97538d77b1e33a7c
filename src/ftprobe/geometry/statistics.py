"""Label-level statistics of a DirectProbe partition (the ACL 2022 extension's files).

From the clusters of one representation:

- the *label-to-label distance* of labels A and B is the mean hull distance over all pairs
  of a cluster of A and a cluster of B;
- ``vec``: one label-to-label distance per label pair (A, B) with A before B in label order
  (the representation's "distance vector"), 0 where a label has no cluster;
- ``outside_min``: per label, its smallest label-to-label distance to any other label;
- ``inside_max``: per label, the largest distance between two points of one of its clusters;
- ``inside_mean``: per label, the mean over its clusters of the mean pairwise distance
  inside the cluster.

As in the extension's code, small clusters are left out of all of these: a cluster counts
only when it has more than ``min_cluster_size`` points (5 by default, the extension's
setting). Every label of the label set appears, also labels absent from the training set or
left with no cluster after the size filter. Their statistics are undefined, and
:class:`LabelStatistics` holds them as NaN (``outside_min_defined`` and friends say which);
only the published files write 0 for them, as the extension does (``outputs.write_statistics``),
because a 0 standing for "undefined" in a table reads as "the labels touch".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ftprobe.encode.device import resolve_device
from ftprobe.geometry.hulls import cluster_distance_matrix
from ftprobe.geometry.partition import ClusteringLike
from ftprobe.geometry.settings import MIN_CLUSTER_SIZE, check_min_cluster_size

__all__ = ["LabelStatistics", "label_statistics", "within_cluster_distances"]


@dataclass(frozen=True)
class LabelStatistics:
    """The extension's statistics for one representation; arrays follow ``label_names``.

    ``label_distance[a, b]`` is the label-to-label distance (``nan`` where undefined: on the
    diagonal and where a label has no eligible cluster); ``vec`` lists the pairs ``a < b``
    in row-major order with 0 for undefined entries, ``defined`` says which are defined.
    ``outside_min`` is NaN for a label with no eligible cluster (or when no other label has
    one); ``inside_max`` and ``inside_mean`` are NaN for a label with no eligible cluster of
    two or more points.
    """

    label_names: tuple[str, ...]
    label_distance: np.ndarray
    outside_min: np.ndarray
    inside_max: np.ndarray
    inside_mean: np.ndarray
    eligible: np.ndarray
    min_cluster_size: int
    cluster_labels: np.ndarray

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """Label pairs (A, B), A before B in label order: the order of ``vec``."""
        names = self.label_names
        return [(names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names))]

    @property
    def vec(self) -> np.ndarray:
        """The distance vector: label-to-label distance per pair, 0 where undefined."""
        iu = np.triu_indices(len(self.label_names), k=1)
        return np.nan_to_num(self.label_distance[iu], nan=0.0)

    @property
    def defined(self) -> np.ndarray:
        """Which entries of ``vec`` are defined (both labels have an eligible cluster)."""
        iu = np.triu_indices(len(self.label_names), k=1)
        return ~np.isnan(self.label_distance[iu])

    @property
    def outside_min_defined(self) -> np.ndarray:
        """Which labels have an ``outside_min`` (an eligible cluster and another label's)."""
        return ~np.isnan(self.outside_min)

    @property
    def labels_counted(self) -> np.ndarray:
        """Which labels have at least one cluster that the statistics count (eligible)."""
        counted = np.zeros(len(self.label_names), dtype=bool)
        counted[self.cluster_labels[self.eligible]] = True
        return counted

    @property
    def n_clusters(self) -> int:
        """Number of clusters of the partition (all sizes)."""
        return len(self.cluster_labels)

    @property
    def n_labels_present(self) -> int:
        """Number of labels that have at least one cluster (all sizes)."""
        return len(np.unique(self.cluster_labels))


def within_cluster_distances(
    x: np.ndarray, members: np.ndarray, *, device: str | torch.device = "cpu", block: int = 2048
) -> tuple[float, float]:
    """Largest and mean Euclidean distance between two distinct points of one cluster.

    Returns ``(0.0, 0.0)`` for a single point. Pairwise distances are computed in blocks, so
    large clusters need no quadratic memory.
    """
    n = len(members)
    if n < 2:
        return 0.0, 0.0
    dev = torch.device(resolve_device(device))
    pts = torch.from_numpy(np.asarray(x[members], dtype=np.float64)).to(dev)
    pts = pts - pts.mean(dim=0)
    total = 0.0
    largest = 0.0
    for start in range(0, n, block):
        a = pts[start : start + block]
        # Only pairs (i, j) with j > i: the rest of this block and all later points.
        d = torch.cdist(a, pts[start:])
        rows = torch.arange(len(a), device=dev)[:, None]
        cols = torch.arange(d.shape[1], device=dev)[None, :]
        d = torch.where(cols > rows, d, torch.zeros((), dtype=d.dtype, device=dev))
        total += float(d.sum())
        largest = max(largest, float(d.max()))
    return largest, total / (n * (n - 1) / 2)


def label_statistics(
    x: np.ndarray,
    clustering: ClusteringLike,
    *,
    min_cluster_size: int = MIN_CLUSTER_SIZE,
    cluster_distances: np.ndarray | None = None,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> LabelStatistics:
    """Label-to-label distances and the per-label statistics of a partition of ``x``.

    Labels are the clustering's ``label_names`` (the whole label set); clusters with at most
    ``min_cluster_size`` points are ignored (``min_cluster_size=0`` keeps them all).
    ``cluster_distances`` may pass a ``(K, K)`` hull-distance matrix already computed
    (e.g. for ``dis.txt``); otherwise the needed entries are computed.
    """
    check_min_cluster_size(min_cluster_size)
    names = tuple(clustering.label_names)
    assignment = np.asarray(clustering.assignment)
    labels = np.asarray(clustering.cluster_labels)
    k = int(clustering.n_clusters)
    if len(labels) and labels.max() >= len(names):
        raise ValueError("a cluster label is out of range of the label names")
    sizes = np.bincount(assignment, minlength=k)
    eligible = sizes > min_cluster_size
    if cluster_distances is None:
        dist = cluster_distance_matrix(
            x, clustering, clusters=eligible, device=device, progress=progress
        )
    else:
        dist = np.asarray(cluster_distances, dtype=np.float64)
        if dist.shape != (k, k):
            raise ValueError(f"cluster_distances must be ({k}, {k}), got {dist.shape}")

    n_labels = len(names)
    sums = np.zeros((n_labels, n_labels))
    counts = np.zeros((n_labels, n_labels))
    idx = np.flatnonzero(eligible)
    for a_pos, i in enumerate(idx):
        for j in idx[a_pos + 1 :]:
            li, lj = labels[i], labels[j]
            if li == lj:
                continue
            d = dist[i, j]
            if np.isnan(d):
                raise ValueError(f"cluster_distances lacks the distance of clusters {i} and {j}")
            sums[li, lj] += d
            sums[lj, li] += d
            counts[li, lj] += 1
            counts[lj, li] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        label_distance = np.where(counts > 0, sums / counts, np.nan)

    outside_min = np.full(n_labels, np.nan)
    for a in range(n_labels):
        row = label_distance[a][~np.isnan(label_distance[a])]
        if len(row):
            outside_min[a] = row.min()

    inside_max = np.full(n_labels, np.nan)
    inside_mean = np.full(n_labels, np.nan)
    per_label: dict[int, list[tuple[float, float]]] = {}
    for i in idx:
        members = np.flatnonzero(assignment == i)
        if len(members) < 2:
            continue  # a single point has no pairwise distance (the extension skips it too)
        per_label.setdefault(int(labels[i]), []).append(
            within_cluster_distances(x, members, device=device)
        )
    for lab, values in per_label.items():
        inside_max[lab] = max(v[0] for v in values)
        inside_mean[lab] = float(np.mean([v[1] for v in values]))

    return LabelStatistics(
        label_names=names,
        label_distance=label_distance,
        outside_min=outside_min,
        inside_max=inside_max,
        inside_mean=inside_mean,
        eligible=eligible,
        min_cluster_size=min_cluster_size,
        cluster_labels=labels.copy(),
    )
