"""The label vocabulary shared by the probes (``DirectProbe``, ``ClassifierProbe``).

Both are scikit-learn estimators and read labels by one rule, kept here so that
the two cannot drift apart:

- ``y`` holds label **names** (strings) or label **indices** (integers); an index
  is always a position in the probe's ``classes_``.
- ``classes_`` is the estimator's ``labels`` parameter when it is given (the
  task's whole label set in its order, which may hold labels absent from ``y``);
  otherwise it is learnt from ``y``: the sorted set of the names, or the indices
  ``0 .. max(y)`` (an index below the largest keeps its place even when no
  training point has it).
- ``predict`` returns elements of ``classes_``: names, or indices when the
  classes were learnt from indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ftprobe.errors import ConfigError, FtprobeError

Labels = Sequence[str] | Sequence[int] | np.ndarray
"""What ``fit``, ``score`` and friends take as ``y``: label names or label indices."""


def check_labels(labels: Any) -> None:
    """Raise :class:`ConfigError` unless ``labels`` is ``None`` or distinct label names."""
    if labels is None:
        return
    if isinstance(labels, str) or not isinstance(labels, Sequence | np.ndarray):
        raise ConfigError(f"labels must be a list of label names, got {labels!r}")
    names = list(labels)
    if not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"labels must be a non-empty list of label names, got {labels!r}")
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"labels must be distinct; given twice: {', '.join(map(repr, twice))}")


def _as_labels(y: Labels) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise FtprobeError(f"labels must be a 1-d sequence, got shape {arr.shape}")
    if len(arr) and arr.dtype.kind not in "iuUSO":
        raise FtprobeError(
            f"labels must be names (strings) or indices (integers), got {arr.dtype} values"
        )
    return arr


def _is_indices(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "iu"


def label_indices(y: Labels, classes: Sequence[Any] | np.ndarray) -> np.ndarray:
    """The positions in ``classes`` of labels ``y`` (names, or indices checked to fit)."""
    arr = _as_labels(y)
    if len(arr) == 0:
        return np.zeros(0, dtype=np.int64)
    if _is_indices(arr):
        if arr.min() < 0 or arr.max() >= len(classes):
            raise FtprobeError(
                f"label index {int(arr.min() if arr.min() < 0 else arr.max())} is outside "
                f"the {len(classes)} labels"
            )
        return arr.astype(np.int64)
    pos = {str(name): i for i, name in enumerate(classes)}
    strs = [str(v) for v in arr.tolist()]
    missing = sorted(set(strs) - pos.keys())
    if missing:
        raise FtprobeError(f"labels not in the label set: {', '.join(map(repr, missing[:5]))}")
    return np.array([pos[s] for s in strs], dtype=np.int64)


def learn_classes(y: Labels, labels: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``classes_`` for training labels ``y`` (see the module docstring) and ``y``'s indices."""
    check_labels(labels)
    arr = _as_labels(y)
    if labels is not None:
        classes = np.array(list(labels), dtype=object)
    elif _is_indices(arr):
        if len(arr) and arr.min() < 0:
            raise FtprobeError("label indices must be non-negative")
        classes = np.arange(int(arr.max()) + 1 if len(arr) else 0, dtype=np.int64)
    else:
        classes = np.array(sorted({str(v) for v in arr.tolist()}), dtype=object)
    return classes, label_indices(arr, classes)


def class_names(classes: Sequence[Any] | np.ndarray) -> tuple[str, ...]:
    """The classes as label names: what files and per-label tables call them."""
    return tuple(str(c) for c in classes)
