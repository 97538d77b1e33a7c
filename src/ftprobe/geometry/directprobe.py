"""DirectProbe as a scikit-learn estimator.

>>> probe = DirectProbe(labels=label_names).fit(X_train, y_train)  # doctest: +SKIP
>>> probe.clusters_.n_clusters                           # doctest: +SKIP
>>> probe.distances()            # (K, K) hull-to-hull distances between clusters
>>> probe.predict(X_test)        # label of the nearest cluster hull
>>> probe.score(X_test, y_test)  # nearest-cluster accuracy

Labels follow :mod:`ftprobe.estimators` (names or indices, ``classes_``), as for the
classifier probe. The computing is :class:`~ftprobe.geometry.fitted.FittedPartition`'s
(``fitted_``), which ``ftprobe probe`` uses without scikit-learn. Checkpointing is not
a hyperparameter: it is given to :meth:`fit` as a :class:`Checkpoints`, so that
:func:`sklearn.base.clone` copies the method and not a run's state file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ftprobe.encode.device import resolve_device
from ftprobe.errors import FtprobeError
from ftprobe.estimators import Labels, check_labels, class_names, label_indices, learn_classes
from ftprobe.geometry.fitted import FittedPartition
from ftprobe.geometry.merging import ClusteringStats
from ftprobe.geometry.outputs import PredictionTies
from ftprobe.geometry.partition import Clustering
from ftprobe.geometry.settings import MIN_CLUSTER_SIZE, Checkpoints, check_min_cluster_size
from ftprobe.geometry.statistics import LabelStatistics

__all__ = ["Checkpoints", "DirectProbe"]


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
    ``X_``, ``tie_tolerance_``, ``fitted_`` (the :class:`FittedPartition` that computes)
    and, after :meth:`fit`, ``stats_``.
    """

    def __init__(
        self,
        *,
        labels: Sequence[str] | None = None,
        min_cluster_size: int = MIN_CLUSTER_SIZE,
        device: str = "auto",
        progress: bool = False,
    ) -> None:
        self.labels = labels
        self.min_cluster_size = min_cluster_size
        self.device = device
        self.progress = progress

    def _check_params(self) -> None:
        check_labels(self.labels)
        check_min_cluster_size(self.min_cluster_size)
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
        classes, yy = learn_classes(y, self.labels)
        fitted, stats = FittedPartition.cluster(
            np.asarray(X),
            yy,
            class_names(classes),
            checkpoints=checkpoints,
            max_steps=max_steps,
            **self._computing(),
        )
        self._set(fitted, classes)
        self.stats_: ClusteringStats = stats
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
        fitted = FittedPartition(X, clustering, **self._computing())
        self._set(fitted, np.array(clustering.label_names, dtype=object))
        return self

    def _computing(self) -> dict:
        return {
            "device": self.device,
            "progress": self.progress,
            "min_cluster_size": self.min_cluster_size,
        }

    def _set(self, fitted: FittedPartition, classes: np.ndarray) -> None:
        self.fitted_ = fitted
        self.X_ = fitted.X
        self.n_features_in_ = self.X_.shape[1]
        self.tie_tolerance_ = fitted.tie_tolerance
        self.clusters_ = fitted.clustering
        self.classes_ = classes

    def _fitted(self) -> FittedPartition:
        if not hasattr(self, "fitted_"):
            raise FtprobeError("this DirectProbe is not fitted yet: call fit() first")
        return self.fitted_

    # --------------------------------------------------------------- geometry
    def distances(self) -> np.ndarray:
        """(K, K) hull-to-hull distances between clusters of different labels.

        Same-label pairs are ``nan``, the diagonal 0 (computed once, then cached).
        """
        return self._fitted().distances()

    def statistics(self) -> LabelStatistics:
        """Label-to-label distances and per-label statistics (``vec.txt`` and friends)."""
        return self._fitted().statistics()

    def predict_distances(self, X: np.ndarray) -> np.ndarray:
        """(n_test, K) distance from each test point to each cluster's hull (0 inside)."""
        return self._fitted().point_distances(X)

    def predict_clusters(
        self, X: np.ndarray | None = None, *, distances: np.ndarray | None = None
    ) -> np.ndarray:
        """Nearest cluster of each test point (ties: the lower cluster id).

        Distances within ``tie_tolerance_`` (see
        :func:`~ftprobe.geometry.hulls.tie_tolerance`) are ties, the same with and
        without ``distances``. Without them, only the clusters that could be nearest are
        solved exactly (:func:`~ftprobe.geometry.hulls.nearest_groups`): same answer as
        the full distance matrix, several times faster.
        """
        return self._fitted().nearest_clusters(X, distances)

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
        fitted = self._fitted()
        return fitted.ties(label_indices(y, self.classes_), X, distances)

    def predict(
        self, X: np.ndarray | None = None, *, distances: np.ndarray | None = None
    ) -> np.ndarray:
        """The label (an element of ``classes_``) of the nearest cluster hull of each point."""
        fitted = self._fitted()
        nearest = fitted.nearest_clusters(X, distances)
        return self.classes_[fitted.clustering.cluster_labels[nearest]]

    def score(
        self,
        X: np.ndarray | None,
        y: Labels,
        *,
        distances: np.ndarray | None = None,
    ) -> float:
        """Nearest-cluster accuracy on test points ``X`` with labels ``y`` (names or indices)."""
        fitted = self._fitted()
        return fitted.accuracy(label_indices(y, self.classes_), X, distances)
