"""How the geometry's compiled loops are compiled: one rule for every module that has them.

Sums may be reordered (vectorised) and products fused: the loops are dot products and
updates over hundreds of entries. No verdict depends on that rounding (every separation is
checked on the data by a margin far above it); infinities keep their meaning ("ninf" and
"nnan" are not allowed: excluded points are priced -inf, missing bounds are +inf). Compiled
once per machine, cached beside the module; ``nogil`` lets the label-pair thread run its
checks beside the merges. Numba's cache is keyed by the source file of each compiled
function, not by these options: after changing them, touch the modules that use them (or
clear their ``__pycache__``) before measuring.
"""

from __future__ import annotations

import numba
import numpy as np

fast = numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz", "arcp"})

# For loops whose results must equal NumPy's bit for bit (the merge order depends on exact
# distances and their ties): no reordering, no fused products.
exact = numba.njit(cache=True, nogil=True)


@fast
def dot(a: np.ndarray, b: np.ndarray) -> float:
    """``a . b``: the compiled loops' one dot product (a row of points by a direction),
    summed in float64. Each product is made in float64 too: for two float32 rows (points
    and normals rounded to float32) it is then exact, as the tests' rounding bounds
    assume."""
    acc = 0.0
    for k in range(a.shape[0]):
        acc += np.float64(a[k]) * np.float64(b[k])
    return acc
