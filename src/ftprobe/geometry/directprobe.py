"""DirectProbe as a scikit-learn-style estimator.

>>> probe = DirectProbe().fit(X_train, y_train)          # doctest: +SKIP
>>> probe.clusters_.n_clusters                           # doctest: +SKIP
>>> probe.distances()            # (K, K) hull-to-hull distances between clusters
>>> probe.predict(X_test)        # label of the nearest cluster hull
>>> probe.score(X_test, y_test)  # nearest-cluster accuracy
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ftprobe.errors import FtprobeError
from ftprobe.geometry.clustering import Clustering, ClusteringStats, SupervisedClustering
from ftprobe.geometry.distances import (
    cluster_distance_matrix,
    nearest_group,
    nearest_hulls,
    point_hull_distances,
    tie_tolerance,
)
from ftprobe.geometry.outputs import PredictionTies, prediction_ties
from ftprobe.geometry.statistics import LabelStatistics, label_statistics


def encode_labels(
    y: Sequence[str] | Sequence[int] | np.ndarray, label_names: Sequence[str] | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Label indices and label names for ``y`` (strings or integer indices).

    String labels are looked up in ``label_names`` (default: their sorted set, the
    published order); integer labels index ``label_names`` (default: ``"0"``, ``"1"``...).
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise FtprobeError(f"labels must be a 1-d sequence, got shape {arr.shape}")
    if arr.dtype.kind in "iu":
        names = (
            tuple(label_names)
            if label_names is not None
            else tuple(str(i) for i in range(int(arr.max()) + 1 if len(arr) else 0))
        )
        if len(arr) and (arr.min() < 0 or arr.max() >= len(names)):
            raise FtprobeError("integer labels must index label_names")
        return arr.astype(np.int64), names
    strs = [str(v) for v in arr.tolist()]
    names = tuple(label_names) if label_names is not None else tuple(sorted(set(strs)))
    pos = {name: i for i, name in enumerate(names)}
    missing = sorted(set(strs) - pos.keys())
    if missing:
        raise FtprobeError(f"labels not in the label set: {', '.join(map(repr, missing[:5]))}")
    return np.array([pos[s] for s in strs], dtype=np.int64), names


class DirectProbe:
    """DirectProbe (Zhou & Srikumar 2021): supervised clustering and hull geometry.

    Parameters
    ----------
    min_cluster_size:
        Clusters with at most this many points are ignored by the label statistics
        (:meth:`statistics`), as in the ACL 2022 extension; 0 keeps all.
    device:
        ``"auto"`` uses a CUDA GPU through torch when one is present for the dense parts
        (hull distances, point-to-hull distances), the CPU otherwise; ``"cpu"`` or
        ``"cuda"`` force one.
    state_path, resume, checkpoint_seconds:
        Checkpoint the clustering to ``state_path`` and resume from it (see
        :class:`~ftprobe.geometry.clustering.SupervisedClustering`).
    progress:
        Show progress bars.
    """

    def __init__(
        self,
        *,
        min_cluster_size: int = 5,
        device: str = "auto",
        state_path: str | os.PathLike[str] | None = None,
        resume: bool = False,
        checkpoint_seconds: float = 30.0,
        progress: bool = False,
    ) -> None:
        if min_cluster_size < 0:
            raise ValueError("min_cluster_size must be >= 0")
        self.min_cluster_size = min_cluster_size
        self.device = device
        self.state_path = state_path
        self.resume = resume
        self.checkpoint_seconds = checkpoint_seconds
        self.progress = progress

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: np.ndarray,
        y: Sequence[str] | Sequence[int] | np.ndarray,
        label_names: Sequence[str] | None = None,
        *,
        max_steps: int | None = None,
    ) -> DirectProbe:
        """Cluster the training points ``X`` (n, d) with labels ``y`` (strings or indices).

        ``label_names`` is the whole label set (it may hold labels absent from ``y``); by
        default the sorted set of ``y``. Sets ``clusters_`` (a :class:`Clustering`),
        ``classes_`` (the label names) and ``stats_`` (what the clustering did).
        """
        X = np.asarray(X)
        yy, names = encode_labels(y, label_names)
        engine = SupervisedClustering(
            X,
            yy,
            names,
            state_path=self.state_path,
            resume=self.resume,
            checkpoint_seconds=self.checkpoint_seconds,
            max_steps=max_steps,
            progress=self.progress,
        )
        clustering = engine.run()
        self._set(engine.X, clustering)
        self.stats_: ClusteringStats = engine.stats
        return self

    def fit_clusters(self, X: np.ndarray, clustering: Clustering) -> DirectProbe:
        """Use a partition computed before (e.g. read from ``clusters.txt``) for ``X``."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) != clustering.n_points:
            raise FtprobeError(f"{len(X)} vectors for a clustering of {clustering.n_points} points")
        if not np.isfinite(X).all():
            row = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
            raise FtprobeError(f"vector {row + 1} has a NaN or infinite value")
        self._set(X, clustering)
        return self

    def _set(self, X: np.ndarray, clustering: Clustering) -> None:
        self.X_ = np.asarray(X, dtype=np.float64)
        # distances to its hulls within this of each other are ties (lowest id first)
        self.tie_tolerance_ = tie_tolerance(self.X_)
        self.clusters_ = clustering
        self.classes_ = clustering.label_names
        self._distances: np.ndarray | None = None
        self._statistics: LabelStatistics | None = None

    def _fitted(self) -> Clustering:
        if not hasattr(self, "clusters_"):
            raise FtprobeError("this DirectProbe is not fitted yet: call fit() first")
        return self.clusters_

    # --------------------------------------------------------------- geometry
    def distances(self) -> np.ndarray:
        """(K, K) hull-to-hull distances between clusters of different labels.

        Same-label pairs are ``nan``, the diagonal 0 (computed once, then cached).
        """
        clustering = self._fitted()
        if self._distances is None:
            self._distances = cluster_distance_matrix(
                self.X_, clustering, device=self.device, progress=self.progress
            )
        return self._distances

    def statistics(self) -> LabelStatistics:
        """Label-to-label distances and per-label statistics (``vec.txt`` and friends)."""
        clustering = self._fitted()
        if self._statistics is None:
            self._statistics = label_statistics(
                self.X_,
                clustering,
                min_cluster_size=self.min_cluster_size,
                cluster_distances=self.distances(),
                device=self.device,
                progress=self.progress,
            )
        return self._statistics

    def _test_points(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.X_.shape[1]:
            raise FtprobeError(
                f"test vectors must have {self.X_.shape[1]} values each, got shape {X.shape}"
            )
        if not np.isfinite(X).all():
            row = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
            raise FtprobeError(f"test vector {row + 1} has a NaN or infinite value")
        return X

    def predict_distances(self, X: np.ndarray) -> np.ndarray:
        """(n_test, K) distance from each test point to each cluster's hull (0 inside)."""
        clustering = self._fitted()
        X = self._test_points(X)
        if len(X) == 0:
            return np.zeros((0, clustering.n_clusters))
        return point_hull_distances(
            X, self.X_, clustering, device=self.device, progress=self.progress
        )

    def predict_clusters(
        self, X: np.ndarray | None = None, *, distances: np.ndarray | None = None
    ) -> np.ndarray:
        """Nearest cluster of each test point (ties: the lower cluster id).

        Distances within ``tie_tolerance_`` (see
        :func:`~ftprobe.geometry.distances.tie_tolerance`) are ties, the same with and
        without ``distances``. Without them, only the clusters that could be nearest are
        solved exactly (:func:`~ftprobe.geometry.distances.nearest_hulls`): same answer as
        the full distance matrix, several times faster.
        """
        return np.argmax(self._nearest_group(X, distances), axis=1)

    def _nearest_group(self, X: np.ndarray | None, distances: np.ndarray | None) -> np.ndarray:
        """Which clusters tie for the nearest, per test point: ``(n, K)`` booleans."""
        clustering = self._fitted()
        if distances is not None:
            dist = np.asarray(distances)
            if dist.ndim != 2 or dist.shape[1] != clustering.n_clusters:
                raise FtprobeError(
                    f"distances must have {clustering.n_clusters} columns, got shape {dist.shape}"
                )
            return nearest_group(dist, self.tie_tolerance_)
        if X is None:
            raise FtprobeError("give the test vectors X or their distances")
        X = self._test_points(X)
        if len(X) == 0:
            return np.zeros((0, clustering.n_clusters), dtype=bool)
        _, _, top = nearest_hulls(
            X, self.X_, clustering, device=self.device, progress=self.progress, with_ties=True
        )
        return top

    def prediction_ties(
        self,
        X: np.ndarray | None,
        y: Sequence[str] | Sequence[int] | np.ndarray,
        *,
        distances: np.ndarray | None = None,
    ) -> PredictionTies:
        """How many test points tie across labels at the nearest distance, and the range
        of accuracy those ties allow (see :class:`~ftprobe.geometry.outputs.PredictionTies`).
        """
        clustering = self._fitted()
        top = self._nearest_group(X, distances)
        gold, _ = encode_labels(y, clustering.label_names)
        if len(gold) != len(top):
            raise FtprobeError(f"{len(top)} test vectors but {len(gold)} test labels")
        return prediction_ties(top, clustering.cluster_labels, gold)

    def predict(
        self, X: np.ndarray | None = None, *, distances: np.ndarray | None = None
    ) -> np.ndarray:
        """Label (name) of the nearest cluster hull of each test point."""
        clustering = self._fitted()
        nearest = self.predict_clusters(X, distances=distances)
        names = np.array(clustering.label_names, dtype=object)
        return names[clustering.cluster_labels[nearest]]

    def score(
        self,
        X: np.ndarray | None,
        y: Sequence[str] | Sequence[int] | np.ndarray,
        *,
        distances: np.ndarray | None = None,
    ) -> float:
        """Nearest-cluster accuracy on test points ``X`` with labels ``y`` (names or indices)."""
        clustering = self._fitted()
        pred = self.predict(X, distances=distances)
        arr = np.asarray(y)
        if len(arr) != len(pred):
            raise FtprobeError(f"{len(pred)} test vectors but {len(arr)} test labels")
        if len(arr) == 0:
            raise FtprobeError("no test points to score")
        if arr.dtype.kind in "iu":
            gold = np.array(clustering.label_names, dtype=object)[arr]
        else:
            gold = arr.astype(object)
        return float(np.mean(pred == gold))
