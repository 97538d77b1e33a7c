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
# exact_gram's square tiles (rows): products of this size run near the BLAS's peak, and
# a tile's few arrays stay in cache.
_TILE = 512


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
    one; what is lost is far under float64's own rounding of the result. Three BLAS
    products' work instead of one.
    """
    n = len(P)
    if n == 0 or P.shape[1] == 0:
        return np.zeros((n, n))
    p0, p1, p2 = _slices(P, _product_bits(P.shape[1]), 3)
    # p0 p0' + (t01 + t01') + ((t02 + t02') + p1 p1'), summed in that order, a pair of
    # square tiles at a time into the one n x n array that is returned. Every term is
    # exactly symmetric (exact products; a + b = b + a), so the sum is too: only the tiles
    # on and right of the diagonal are computed, and the lower triangle is copied from
    # the upper. Whole products and transposes took four products' work and a second
    # array of n x n, whose first touch of every page cost as much again (n = 8,200 makes
    # each 0.5 GB; the 50,241 words spent 15 s here).
    out = np.empty((n, n))
    t = _TILE
    bufs = [np.empty(min(t, n) * min(t, n)) for _ in range(4)]
    for i0 in range(0, n, t):
        rows = slice(i0, i0 + t)
        for j0 in range(i0, n, t):
            cols = slice(j0, j0 + t)
            shape = (min(t, n - i0), min(t, n - j0))
            a, b, c, e = (buf[: shape[0] * shape[1]].reshape(shape) for buf in bufs)
            np.matmul(p0[rows], p1[cols].T, out=a)
            np.matmul(p1[rows], p0[cols].T, out=b)  # t01 transposed: p0[cols] p1[rows]'
            a += b
            np.matmul(p0[rows], p2[cols].T, out=c)
            np.matmul(p2[rows], p0[cols].T, out=b)
            c += b
            np.matmul(p1[rows], p1[cols].T, out=b)
            c += b
            np.matmul(p0[rows], p0[cols].T, out=e)
            e += a
            e += c
            out[rows, cols] = e
    _lower_from_upper(out)
    return out


def _lower_from_upper(A: np.ndarray) -> None:
    """Copy the upper triangle of the square ``A`` onto its lower one, a pair of square
    tiles at a time (a transposed pass over the whole array reads across cache lines)."""
    n = len(A)
    for i0 in range(0, n, _TILE):
        rows = slice(i0, i0 + _TILE)
        tile = A[rows, rows]
        lower = np.tril_indices(len(tile), -1)
        tile[lower] = tile.T[lower]
        for j0 in range(i0 + _TILE, n, _TILE):
            cols = slice(j0, j0 + _TILE)
            A[cols, rows] = A[rows, cols].T


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
