"""A fitted DirectProbe without scikit-learn: a partition of the training points and
everything computed from it.

Glossary: the *partition* is the clustering of the training points ``X``; a test
point's *distances* are its distances to every cluster's hull (0 inside); its
*nearest group* is every cluster within the tie tolerance of the nearest.

The estimator (:class:`~ftprobe.geometry.directprobe.DirectProbe`) and ``ftprobe
probe`` (:mod:`ftprobe.geometry.runner`) each hold a :class:`FittedPartition`, so
both compute by the same rules. It lives apart from the estimator because importing
scikit-learn takes about a second, which the command line need not pay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future

import numpy as np

from ftprobe.errors import FtprobeError
from ftprobe.geometry.hulls import (
    cluster_distance_matrix,
    nearest_group,
    nearest_groups,
    point_hull_distances,
    tie_tolerance,
)
from ftprobe.geometry.hulls.point import Column
from ftprobe.geometry.merging import ClusteringStats, SupervisedClustering
from ftprobe.geometry.outputs import PredictionTies, prediction_ties
from ftprobe.geometry.partition import Clustering, nonfinite_rows
from ftprobe.geometry.settings import MIN_CLUSTER_SIZE, Checkpoints, check_min_cluster_size
from ftprobe.geometry.statistics import LabelStatistics, label_statistics


class FittedPartition:
    """The training points ``X`` (n, d), their partition, and its geometry (cached).

    ``device`` and ``progress`` are passed to the hull computations; label statistics
    ignore clusters with at most ``min_cluster_size`` points.
    """

    def __init__(
        self,
        X: np.ndarray,
        clustering: Clustering,
        *,
        device: str = "auto",
        progress: bool = False,
        min_cluster_size: int = MIN_CLUSTER_SIZE,
    ) -> None:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) != clustering.n_points:
            raise FtprobeError(f"{len(X)} vectors for a clustering of {clustering.n_points} points")
        bad = nonfinite_rows(X)
        if len(bad):
            raise FtprobeError(f"vector {bad[0] + 1} has a NaN or infinite value")
        self.X = X
        self.clustering = clustering
        self.device = device
        self.progress = progress
        self.min_cluster_size = check_min_cluster_size(min_cluster_size)
        # distances to its hulls within this of each other are ties (lowest id first)
        self.tie_tolerance = tie_tolerance(X)
        self._distances: np.ndarray | None = None
        self._statistics: LabelStatistics | None = None

    @classmethod
    def cluster(
        cls,
        X: np.ndarray,
        y: np.ndarray,
        label_names: tuple[str, ...],
        *,
        checkpoints: Checkpoints | None = None,
        max_steps: int | None = None,
        device: str = "auto",
        progress: bool = False,
        min_cluster_size: int = MIN_CLUSTER_SIZE,
        on_whole_label: Callable[[int], None] | None = None,
    ) -> tuple[FittedPartition, ClusteringStats]:
        """Cluster ``X`` with label indices ``y`` into ``label_names``; and what it did.

        ``checkpoints`` saves the clustering's state as it goes and resumes from it;
        ``max_steps`` stops after that many merge decisions (to test resuming);
        ``on_whole_label`` hears of each label that will end as one cluster as soon as
        that is known (see :class:`~ftprobe.geometry.merging.SupervisedClustering`).
        """
        saving = (
            {}
            if checkpoints is None
            else {
                "state_path": checkpoints.path,
                "resume": checkpoints.resume,
                "checkpoint_seconds": checkpoints.every_seconds,
            }
        )
        engine = SupervisedClustering(
            X,
            y,
            label_names,
            max_steps=max_steps,
            progress=progress,
            on_whole_label=on_whole_label,
            **saving,
        )
        clustering = engine.run()
        fitted = cls(
            engine.X,
            clustering,
            device=device,
            progress=progress,
            min_cluster_size=min_cluster_size,
        )
        return fitted, engine.stats

    # --------------------------------------------------------------- geometry
    def distances(
        self, helper: Callable[[np.ndarray, np.ndarray, float, float], Future[float]] | None = None
    ) -> np.ndarray:
        """(K, K) hull-to-hull distances between clusters of different labels.

        Same-label pairs are ``nan``, the diagonal 0 (computed once, then cached). ``helper``
        (a second process already running, :meth:`~ftprobe.geometry.ahead.HullsAhead.pair`)
        shares the large pairs: see :func:`~ftprobe.geometry.hulls.cluster_distance_matrix`.
        """
        if self._distances is None:
            self._distances = cluster_distance_matrix(
                self.X, self.clustering, device=self.device, progress=self.progress, helper=helper
            )
        return self._distances

    def statistics(self) -> LabelStatistics:
        """Label-to-label distances and per-label statistics (``vec.txt`` and friends)."""
        if self._statistics is None:
            self._statistics = label_statistics(
                self.X,
                self.clustering,
                min_cluster_size=self.min_cluster_size,
                cluster_distances=self.distances(),
                device=self.device,
                progress=self.progress,
            )
        return self._statistics

    # ------------------------------------------------------------ test points
    def test_points(self, X: np.ndarray) -> np.ndarray:
        """``X`` as float64 test vectors of the training width, or an error naming the row."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.X.shape[1]:
            raise FtprobeError(
                f"test vectors must have {self.X.shape[1]} values each, got shape {X.shape}"
            )
        bad = nonfinite_rows(X)
        if len(bad):
            raise FtprobeError(f"test vector {bad[0] + 1} has a NaN or infinite value")
        return X

    def point_distances(
        self,
        X: np.ndarray,
        ahead: Mapping[int, Future[Column]] | None = None,
        helper: Callable[[np.ndarray], Future[Column]] | None = None,
    ) -> np.ndarray:
        """(n_test, K) distance from each test point to each cluster's hull (0 inside).

        ``ahead`` (columns already being computed) and ``helper`` (a second process that
        computes columns): see :func:`~ftprobe.geometry.hulls.point_hull_distances` and
        :class:`~ftprobe.geometry.ahead.HullsAhead`.
        """
        X = self.test_points(X)
        if len(X) == 0:
            return np.zeros((0, self.clustering.n_clusters))
        return point_hull_distances(
            X,
            self.X,
            self.clustering,
            device=self.device,
            progress=self.progress,
            ahead=ahead,
            helper=helper,
        )

    def nearest(self, X: np.ndarray | None, distances: np.ndarray | None = None) -> np.ndarray:
        """Which clusters tie for the nearest, per test point: ``(n, K)`` booleans.

        From ``distances`` when given (see :meth:`point_distances`); otherwise only the
        clusters that could be nearest to ``X`` are solved exactly
        (:func:`~ftprobe.geometry.hulls.nearest_groups`): the same answer, faster.
        """
        k = self.clustering.n_clusters
        if distances is not None:
            dist = np.asarray(distances)
            if dist.ndim != 2 or dist.shape[1] != k:
                raise FtprobeError(f"distances must have {k} columns, got shape {dist.shape}")
            return nearest_group(dist, self.tie_tolerance)
        if X is None:
            raise FtprobeError("give the test vectors X or their distances")
        X = self.test_points(X)
        if len(X) == 0:
            return np.zeros((0, k), dtype=bool)
        return nearest_groups(
            X, self.X, self.clustering, device=self.device, progress=self.progress
        )

    def nearest_clusters(
        self, X: np.ndarray | None, distances: np.ndarray | None = None
    ) -> np.ndarray:
        """The nearest cluster of each test point (ties: the lowest cluster id)."""
        return np.argmax(self.nearest(X, distances), axis=1)

    def accuracy(
        self, gold: np.ndarray, X: np.ndarray | None, distances: np.ndarray | None = None
    ) -> float:
        """Nearest-cluster accuracy against the gold label indices ``gold``."""
        nearest = self.nearest_clusters(X, distances)
        if len(gold) != len(nearest):
            raise FtprobeError(f"{len(nearest)} test vectors but {len(gold)} test labels")
        if len(gold) == 0:
            raise FtprobeError("no test points to score")
        return float(np.mean(self.clustering.cluster_labels[nearest] == gold))

    def ties(
        self, gold: np.ndarray, X: np.ndarray | None, distances: np.ndarray | None = None
    ) -> PredictionTies:
        """How many test points tie across labels at the nearest distance, and the range
        of accuracy those ties allow (see :class:`~ftprobe.geometry.outputs.PredictionTies`).
        """
        top = self.nearest(X, distances)
        if len(gold) != len(top):
            raise FtprobeError(f"{len(top)} test vectors but {len(gold)} test labels")
        return prediction_ties(top, self.clustering.cluster_labels, gold)
