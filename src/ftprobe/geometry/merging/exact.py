"""Exact arithmetic for the quantities that order the merges.

Glossary:

- *origin*: the point the centroid distances are measured from (:func:`exact_centre`);
- *slices*: a matrix cut into pieces of few bits each on a per-row (or per-column) grid
  (Ozaki's scheme), so that sums of their entries and of their products are exact in
  float64 whatever the summation order;
- *exact* here means "rounded once from the exact value": the same bits on every machine,
  BLAS, thread count and column order.

The merge order rests on comparisons of centroid distances; where they nearly tie, BLAS
rounding alone would reorder the merges and change the partition between machines.
"""

from __future__ import annotations

import numpy as np

# Bits kept of the origin below each column's largest entry: coarse enough that
# ``X - origin`` is exact for float32 vectors and small integers.
_CENTRE_BITS = 20
# exact_gram's working sizes: bands of rows of a product (bytes), square tiles (rows).
_BAND_BYTES = 1 << 24
_TILE = 256


def _slices(P: np.ndarray, bits: int, pieces: int, axis: int = 1) -> list[np.ndarray]:
    """``P`` cut into ``pieces`` slices of at most ``bits`` bits each, on a grid set by the
    largest entry of each row (``axis=1``) or column (``axis=0``): Ozaki's scheme. ``P``
    is their sum to below ``2**-(pieces * bits)`` of that entry, and sums of the slices'
    entries or of their products are exact in float64 whenever their bits fit in 53, so
    any summation order (any BLAS, CPU, thread count or column order) gives the same."""
    top = np.abs(P).max(axis=axis, keepdims=True)
    rest = np.array(P, dtype=np.float64)
    out = []
    for k in range(1, pieces + 1):
        piece = _on_grid(rest, top, k * bits)
        rest -= piece
        out.append(piece)
    return out


def _on_grid(x: np.ndarray, top: np.ndarray, bits: int) -> np.ndarray:
    """``x`` rounded to the grid ``2**-bits`` of the power of two above ``top`` (exact
    arithmetic: powers of two and integers)."""
    _, expo = np.frexp(np.where(top > 0, top, 1.0))  # top < 2**expo
    grid = np.ldexp(1.0, np.maximum(expo - bits, -1074))
    return np.rint(x / grid) * grid


def _product_bits(d: int) -> int:
    """Bits per slice for products summed over ``d`` terms: ``2 b + log2(d) <= 53``."""
    return (53 - int(np.ceil(np.log2(max(d, 2))))) // 2


def exact_centre(X: np.ndarray) -> np.ndarray:
    """The origin the centroid distances are summed from: the column means of ``X``,
    rounded from the exact sums (the same bits whatever the order of summation, see
    :func:`exact_gram`) and then to ``_CENTRE_BITS`` bits below each column's largest
    entry.

    Any point near the mean serves (distances do not move with the origin); one on that
    coarse grid makes ``X - centre`` exact for the usual inputs (float32 vectors, small
    integers), so the distances keep every exact tie of the original points, which the
    order of the merges then breaks by creation id as it should.
    """
    n = len(X)
    bits = 53 - int(np.ceil(np.log2(max(n, 2))))
    s0, s1 = (piece.sum(axis=0) for piece in _slices(X, bits, 2, axis=0))
    return _on_grid((s0 + s1) / n, np.abs(X).max(axis=0), _CENTRE_BITS)


def exact_gram(P: np.ndarray) -> np.ndarray:
    """``P @ P.T``, rounded from the exact products: the same bits on every machine.

    A BLAS product sums in an order of its own, which differs between CPUs, thread counts
    and column orders; where centroid distances nearly tie, as among the many near-copies
    of layer 0, that rounding alone reorders the merges and changes the partition (POS
    layer 0 of MiniLM did, between two machines). The products of three slices per row
    (:func:`_slices`) are exact whatever the order, and are added elementwise in a fixed
    one; what is lost is far under float64's own rounding of the result. Four BLAS
    products instead of one.
    """
    n = len(P)
    if n == 0 or P.shape[1] == 0:
        return np.zeros((n, n))
    p0, p1, p2 = _slices(P, _product_bits(P.shape[1]), 3)
    # p0 p0' + (t01 + t01') + ((t02 + t02') + p1 p1'), summed in that order, in two arrays
    # of n x n: each fresh one costs its first touch of every page (n = 8,600 makes each
    # 0.6 GB, and the six of a plain evaluation took 11 s where the products take 3 s).
    # Bands of rows of an exact product have the same bits as the whole product.
    out = np.matmul(p0, p1.T)
    _add_transpose(out)
    low = np.matmul(p0, p2.T)
    _add_transpose(low)
    rows = max(1, _BAND_BYTES // (8 * n))
    for r0 in range(0, n, rows):
        band = slice(r0, r0 + rows)
        low[band] += p1[band] @ p1.T
        t = p0[band] @ p0.T
        t += out[band]
        t += low[band]
        out[band] = t
    return out


def _add_transpose(A: np.ndarray) -> None:
    """``A += A.T`` in place, a pair of square tiles at a time (each entry ``a_ij + a_ji``,
    as the out-of-place sum has it; a transposed pass over the whole array reads across
    cache lines and needs a second array)."""
    n = len(A)
    for i0 in range(0, n, _TILE):
        rows = slice(i0, i0 + _TILE)
        for j0 in range(i0, n, _TILE):
            cols = slice(j0, j0 + _TILE)
            s = A[rows, cols] + A[cols, rows].T
            A[rows, cols] = s
            A[cols, rows] = s.T


def exact_sqnorms(D: np.ndarray) -> np.ndarray:
    """Squared norms of the rows of ``D``, rounded from the exact sums (as
    :func:`exact_gram`'s diagonal)."""
    if D.shape[1] == 0:
        return np.zeros(len(D))
    p0, p1, p2 = _slices(D, _product_bits(D.shape[1]), 3)
    cross = (p0 * p1).sum(axis=1)
    return (
        (p0 * p0).sum(axis=1)
        + (cross + cross)
        + (2.0 * (p0 * p2).sum(axis=1) + (p1 * p1).sum(axis=1))
    )
