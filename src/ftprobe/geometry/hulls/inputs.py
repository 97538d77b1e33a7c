"""The inputs every room of the hulls package checks the same way.

Glossary:

- *points*: a non-empty 2-d array of finite float64 rows (:func:`check_points`);
- *device*: where torch computes, from a ``--device`` value (:func:`torch_device`);
- *query*: points whose distances to the hulls of a partition are asked, with the
  training points, their partition and the device (:func:`check_query`): what
  :func:`~ftprobe.geometry.hulls.point.point_hull_distances` and
  :func:`~ftprobe.geometry.hulls.nearest.nearest_hulls` (and ``nearest_groups``) take.
"""

from __future__ import annotations

import numpy as np
import torch

from ftprobe.encode.device import resolve_device
from ftprobe.geometry.partition import ClusteringLike


def torch_device(device: str | torch.device) -> torch.device:
    """The torch device for a ``--device`` value, checked where every stage checks it."""
    return torch.device(resolve_device(device))


def check_points(name: str, a: np.ndarray, dim: int | None = None) -> np.ndarray:
    """``a`` as float64 points, of dimension ``dim`` when given; a ``ValueError`` naming
    ``name`` (and the first bad row) otherwise."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-d array of points, got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name} has dimension {arr.shape[1]}, expected {dim}")
    if not np.all(np.isfinite(arr)):
        row = int(np.flatnonzero(~np.all(np.isfinite(arr), axis=1))[0])
        raise ValueError(f"{name} has a NaN or infinite value in row {row}")
    return arr


def check_query(
    points: np.ndarray, x: np.ndarray, clustering: ClusteringLike, device: str | torch.device
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, torch.device]:
    """The checked query: ``x``, ``points``, the assignment, the number of clusters, and
    the torch device."""
    x = check_points("x", x)
    pts = check_points("points", points, x.shape[1])
    assignment = np.asarray(clustering.assignment)
    if len(assignment) != len(x):
        raise ValueError(f"clustering has {len(assignment)} points but x has {len(x)}")
    return x, pts, assignment, int(clustering.n_clusters), torch_device(device)
