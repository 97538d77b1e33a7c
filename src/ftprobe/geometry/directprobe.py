"""DirectProbe as a scikit-learn estimator.

>>> probe = DirectProbe(labels=label_names).fit(X_train, y_train)  # doctest: +SKIP
>>> probe.clusters_.n_clusters                           # doctest: +SKIP
>>> probe.distances()            # (K, K) hull-to-hull distances between clusters
>>> probe.predict(X_test)        # label of the nearest cluster hull
>>> probe.score(X_test, y_test)  # nearest-cluster accuracy

Labels follow :mod:`ftprobe.estimators` (names or indices, ``classes_``), as for the
classifier probe. Checkpointing is not a hyperparameter: it is given to :meth:`fit`
as a :class:`Checkpoints`, so that :func:`sklearn.base.clone` copies the method and
not a run's state file.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ftprobe.encode.device import resolve_device
from ftprobe.errors import ConfigError, FtprobeError
from ftprobe.estimators import Labels, check_labels, class_names, label_indices, learn_classes
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


@dataclass(frozen=True)
class Checkpoints:
    """Where a clustering saves its state, how often, and whether it resumes from it.

    See :class:`~ftprobe.geometry.clustering.SupervisedClustering`: the state is
    saved every ``every_seconds`` (0: after every merge decision); with ``resume``
    the clustering continues from ``path`` to the same result as an uninterrupted
    run.
    """

    path: str | os.PathLike[str]
    resume: bool = False
    every_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not self.every_seconds >= 0:
            raise ConfigError(
                f"checkpoints are saved every 0 or more seconds, not {self.every_seconds}"
            )


class DirectProbe(ClassifierMixin, BaseEstimator):
    """DirectProbe (Zhou & Srikumar 2021): supervised clustering and hull geometry.

    Parameters
    ----------
    labels:
        The whole label set, in order (it may hold labels absent from the training
        points); by default learnt from ``y`` (see :mod:`ftprobe.estimators`).
    min_cluster_size:
        Clusters with at most this many points are ignored by the label statistics
        (:meth:`statistics`), as in the ACL 2022 extension; 0 keeps all.
    device:
        ``"auto"`` uses a CUDA GPU through torch when one is present for the dense parts
        (hull distances, point-to-hull distances), the CPU otherwise; ``"cpu"`` or
        ``"cuda"`` force one.
    progress:
        Show progress bars.

    The parameters are checked by :meth:`fit` (a :class:`~ftprobe.errors.ConfigError`).
    Fitted: ``clusters_`` (a :class:`Clustering`), ``classes_``, ``n_features_in_``,
    ``X_``, ``tie_tolerance_`` and, after :meth:`fit`, ``stats_``.
    """

    def __init__(
        self,
        *,
        labels: Sequence[str] | None = None,
        min_cluster_size: int = 5,
        device: str = "auto",
        progress: bool = False,
    ) -> None:
        self.labels = labels
        self.min_cluster_size = min_cluster_size
        self.device = device
        self.progress = progress

    def _check_params(self) -> None:
        check_labels(self.labels)
        size = self.min_cluster_size
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 0:
            raise ConfigError(
                f"min_cluster_size must be 0 or more (0 counts every cluster), not {size!r}"
            )
        resolve_device(self.device)

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: np.ndarray,
        y: Labels,
        *,
        checkpoints: Checkpoints | None = None,
        max_steps: int | None = None,
    ) -> Self:
        """Cluster the training points ``X`` (n, d) with labels ``y`` (names or indices).

        ``checkpoints`` saves the clustering's state as it goes and resumes from it;
        ``max_steps`` stops after that many merge decisions (to test resuming). Sets
        ``clusters_``, ``classes_`` and ``stats_`` (what the clustering did).
        """
        self._check_params()
        X = np.asarray(X)
        classes, yy = learn_classes(y, self.labels)
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
            X, yy, class_names(classes), max_steps=max_steps, progress=self.progress, **saving
        )
        clustering = engine.run()
        self._set(engine.X, clustering, classes)
        self.stats_: ClusteringStats = engine.stats
        return self

    def fit_clusters(self, X: np.ndarray, clustering: Clustering) -> Self:
        """Use a partition computed before (e.g. read from ``clusters.txt``) for ``X``.

        ``classes_`` are the clustering's label names (which must be ``labels``, when
        given).
        """
        self._check_params()
        if self.labels is not None and tuple(self.labels) != clustering.label_names:
            raise FtprobeError(
                f"the clustering's labels {clustering.label_names!r} are not the probe's "
                f"labels {tuple(self.labels)!r}"
            )
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) != clustering.n_points:
            raise FtprobeError(f"{len(X)} vectors for a clustering of {clustering.n_points} points")
        if not np.isfinite(X).all():
            row = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
            raise FtprobeError(f"vector {row + 1} has a NaN or infinite value")
        self._set(X, clustering, np.array(clustering.label_names, dtype=object))
        return self

    def _set(self, X: np.ndarray, clustering: Clustering, classes: np.ndarray) -> None:
        self.X_ = np.asarray(X, dtype=np.float64)
        self.n_features_in_ = self.X_.shape[1]
        # distances to its hulls within this of each other are ties (lowest id first)
        self.tie_tolerance_ = tie_tolerance(self.X_)
        self.clusters_ = clustering
        self.classes_ = classes
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
        y: Labels,
        *,
        distances: np.ndarray | None = None,
    ) -> PredictionTies:
        """How many test points tie across labels at the nearest distance, and the range
        of accuracy those ties allow (see :class:`~ftprobe.geometry.outputs.PredictionTies`).
        """
        clustering = self._fitted()
        top = self._nearest_group(X, distances)
        gold = label_indices(y, self.classes_)
        if len(gold) != len(top):
            raise FtprobeError(f"{len(top)} test vectors but {len(gold)} test labels")
        return prediction_ties(top, clustering.cluster_labels, gold)

    def predict(
        self, X: np.ndarray | None = None, *, distances: np.ndarray | None = None
    ) -> np.ndarray:
        """The label (an element of ``classes_``) of the nearest cluster hull of each point."""
        clustering = self._fitted()
        nearest = self.predict_clusters(X, distances=distances)
        return self.classes_[clustering.cluster_labels[nearest]]

    def score(
        self,
        X: np.ndarray | None,
        y: Labels,
        *,
        distances: np.ndarray | None = None,
    ) -> float:
        """Nearest-cluster accuracy on test points ``X`` with labels ``y`` (names or indices)."""
        clustering = self._fitted()
        nearest = self.predict_clusters(X, distances=distances)
        gold = label_indices(y, self.classes_)
        if len(gold) != len(nearest):
            raise FtprobeError(f"{len(nearest)} test vectors but {len(gold)} test labels")
        if len(gold) == 0:
            raise FtprobeError("no test points to score")
        return float(np.mean(clustering.cluster_labels[nearest] == gold))
