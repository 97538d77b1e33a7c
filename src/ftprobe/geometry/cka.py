"""Linear centred kernel alignment (CKA) between two representations of the same examples.

CKA (Kornblith et al., 2019) compares two representations X (n x d1) and Y
(n x d2) of the same n examples; it is invariant to orthogonal transforms and
isotropic scaling of either. With centred columns, linear CKA equals

    ||Y^T X||_F^2 / (||X^T X||_F * ||Y^T Y||_F),

the feature-space form, which costs O(n d^2) instead of the O(n^2) of the
Gram-matrix form: right for representations with many more examples than
dimensions.

It stands beside spatial similarity (:mod:`ftprobe.geometry.similarity`): both
say how alike two representations of the same examples are, CKA from the
vectors themselves, spatial similarity from the label geometry DirectProbe finds.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _prepare(a: ArrayLike, name: str) -> np.ndarray:
    x = np.asarray(a, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (examples x features), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds NaN or infinite values")
    x = x - x.mean(axis=0, keepdims=True)
    # CKA is scale-invariant. Dividing by the largest entry first (the norm itself
    # could overflow), then by the Frobenius norm, keeps the Gram products near 1.
    peak = np.abs(x).max() if x.size else 0.0
    if peak == 0:
        return x
    x = x / peak
    return x / np.linalg.norm(x)


def linear_cka(X: ArrayLike, Y: ArrayLike) -> float:
    """Linear CKA between ``X`` (n x d1) and ``Y`` (n x d2), rows being the same examples.

    Returns a value in [0, 1]; 1 when Y is an orthogonal transform and isotropic
    rescaling of X (after centring). NaN when either representation is constant
    (every row the same), where CKA is undefined. Raises ValueError when the
    inputs are not 2-D, hold non-finite values, or differ in number of rows.
    """
    x, y = _prepare(X, "X"), _prepare(Y, "Y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"X has {x.shape[0]} rows but Y has {y.shape[0]}: rows must be the same examples"
        )
    if x.shape[0] < 2:
        raise ValueError("CKA needs at least 2 examples")
    xx = np.linalg.norm(x.T @ x)
    yy = np.linalg.norm(y.T @ y)
    if xx == 0 or yy == 0:
        return float("nan")
    cross = np.linalg.norm(y.T @ x) ** 2
    return float(np.clip(cross / (xx * yy), 0.0, 1.0))
