"""The coordinates a clustering run works in, made once from the input vectors.

Glossary:

- *origin*: the exactly rounded centre the centroid distances are summed from
  (:func:`~ftprobe.geometry.merging.exact.exact_centre`);
- *centred* (``Xc``): the vectors minus their float64 mean; the run's hyperplanes, centroids
  and radii live here;
- *scale*: the largest norm of a centred vector; *unit-scaled* (``Xs``): ``Xc / scale``,
  the frame every exact decision is made in, so no decision derives a frame of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ftprobe.geometry.merging.exact import exact_centre


@dataclass(frozen=True, eq=False)
class Frame:
    """The input vectors ``X`` and their centred and unit-scaled copies."""

    X: np.ndarray
    origin: np.ndarray
    mean: np.ndarray
    Xc: np.ndarray
    sqnorm: np.ndarray  # squared norms of the rows of Xc
    scale: float
    Xs: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray) -> Frame:
        """The frame of the (n, d) vectors ``X`` (float64)."""
        X = np.asarray(X, dtype=np.float64)
        # numpy's own sums (no BLAS): the same bits on every machine. The centroid
        # distances, which order the merges, are summed exactly from their own origin.
        origin = exact_centre(X)
        mean = X.mean(axis=0)
        Xc = X - mean
        sqnorm = (Xc**2).sum(axis=1)
        scale = max(float(np.sqrt(sqnorm.max())), 1e-300)
        return cls(X, origin, mean, Xc, sqnorm, scale, Xc / scale)
