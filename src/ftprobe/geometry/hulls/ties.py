"""When distances from a point to two hulls tie, and the order the ties give.

Glossary:

- *tie*: two distances from one point that differ by at most the *tie tolerance*
  (:func:`tie_tolerance`, :data:`TIE_RTOL` relative to the training data's scale): the
  solvers' last bits are no ground to prefer one;
- *nearest group*: the clusters whose distance ties with a point's smallest
  (:func:`nearest_group`);
- *ranking*: the clusters in order of distance, a group of ties in order of cluster id
  (:func:`ranking_order`); the prediction is the lowest id of the nearest group.
"""

from __future__ import annotations

import numpy as np

TIE_RTOL = 1e-9
"""Distances from a point to two clusters that differ by at most this, relative to the
training data's scale, are a tie: the solvers' last bits are no ground to prefer one."""


def tie_tolerance(x: np.ndarray) -> float:
    """The absolute tie tolerance for distances to hulls of the training points ``x``:
    :data:`TIE_RTOL` times their largest absolute coordinate (at least 1)."""
    arr = np.asarray(x)
    return TIE_RTOL * max(float(np.abs(arr).max()) if arr.size else 0.0, 1.0)


def nearest_group(distances: np.ndarray, tol: float) -> np.ndarray:
    """Per row, which clusters tie for the nearest: distance within ``tol`` of the row's
    smallest. ``(n, K)`` booleans."""
    d = np.asarray(distances, dtype=np.float64)
    return d <= d.min(axis=1, keepdims=True) + tol


def ranking_order(distances: np.ndarray, tol: float = 0.0) -> np.ndarray:
    """Cluster order per row: increasing distance, ties by the lower cluster id.

    Distances within ``tol`` of each other are ties: the nearest group is every cluster
    within ``tol`` of the smallest distance (:func:`nearest_group`), in id order; then the
    same for the clusters left. So ``ranking_order(d, tol)[:, 0]`` is the lowest id of the
    nearest group, which is what the predictions use. ``tol=0`` ties only equal distances.
    """
    d = np.asarray(distances, dtype=np.float64)
    order = np.argsort(d, axis=1, kind="stable")
    if tol <= 0 or d.ndim != 2 or d.shape[1] < 2:
        return order
    ranked = np.take_along_axis(d, order, axis=1)
    group = np.zeros(ranked.shape, dtype=np.int64)
    start = ranked[:, 0].copy()
    current = np.zeros(len(d), dtype=np.int64)
    for j in range(1, d.shape[1]):
        new = ranked[:, j] > start + tol
        current += new
        start = np.where(new, ranked[:, j], start)
        group[:, j] = current
    within = np.argsort(group * d.shape[1] + order, axis=1)
    return np.take_along_axis(order, within, axis=1)
