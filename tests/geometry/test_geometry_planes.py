"""The run's store of verified hyperplanes grows in place. Copying hundreds of megabytes
of normals into fresh memory at each doubling took seconds of a clustering; growth must
still keep every plane registered so far, leave the new planes untested, and never pull
memory from under a caller that still holds the old arrays."""

from __future__ import annotations

import numpy as np

from ftprobe.geometry.compiled import dot
from ftprobe.geometry.merging.certificates import Planes


def _planes(d: int = 5) -> Planes:
    return Planes(np.zeros((3, d)), scale=1.0)


def _register(planes: Planes, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    W = rng.standard_normal((n, planes.w.shape[1]))
    b = rng.standard_normal(n)
    for start in range(0, n, 7):
        planes.add_many(W[start : start + 7], b[start : start + 7])
    return W, b


def test_planes_survive_growth_and_new_ones_are_untested() -> None:
    planes = _planes()
    start = len(planes.b)
    # mark the first planes as tested under stamp 0, as the certificate tests do
    W, b = _register(planes, 10, np.random.default_rng(0))
    stamp = planes.stamps(1)
    planes.memo[:20] = 2 * stamp + 1  # tested under that stamp, and held
    more_W, more_b = _register(planes, 3 * start, np.random.default_rng(1))
    assert len(planes.b) >= 4 * start  # it grew, twice at least
    n = planes.n
    assert n == 10 + 3 * start
    # the normals as the tests read them (rounded to float32), the offsets exact
    assert np.array_equal(planes.w[:10], W.astype(np.float32)) and np.array_equal(planes.b[:10], b)
    assert np.array_equal(planes.w[10:n], more_W.astype(np.float32))
    assert np.array_equal(planes.b[10:n], more_b)
    # the tests' memory: what was recorded stays, and every plane past it is untested
    assert (planes.memo[:20] == 2 * stamp + 1).all()
    assert (planes.memo[20:] == -1).all()
    assert len(planes.memo) == 2 * len(planes.b) == 2 * len(planes.w)


def test_arrays_a_caller_holds_stay_valid_when_the_store_grows() -> None:
    planes = _planes()
    W, b = _register(planes, len(planes.b), np.random.default_rng(2))
    held_w, held_memo = planes.w, planes.memo  # e.g. a compiled test's arguments
    planes.add_many(np.ones((1, 5)), np.ones(1))
    assert planes.w is not held_w  # copied, not moved from under the holder
    W = W.astype(planes.w.dtype)
    assert np.array_equal(held_w, W) and np.array_equal(planes.w[: len(W)], W)
    assert np.array_equal(planes.w[len(W)], np.ones(5)) and planes.b[len(W)] == 1.0
    assert (held_memo == -1).all() and (planes.memo[2 * len(W) :] == -1).all()


def test_the_tests_float32_points_and_normals_move_no_product_past_the_bound() -> None:
    # The certificate tests read the points and the normals rounded to float32 and ask a
    # hyperplane to clear the points by ``clear``: by the tolerance plus a bound on what
    # the two roundings move a product. A bound too small would let a hyperplane pass
    # that misses an exact point by up to the difference.
    rng = np.random.default_rng(7)
    X = rng.standard_normal((400, 384)) * np.exp(2 * rng.standard_normal((400, 1)))
    X[:5] *= 1e-12  # tiny points among big ones: the bound is on the run's scale
    Xc = X - X.mean(axis=0)
    scale = float(np.sqrt((Xc**2).sum(axis=1).max()))
    planes = Planes(Xc, scale)
    assert planes.Xh.dtype == np.float32
    W = rng.standard_normal((50, 384))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    # the worst case: a normal along a point's own rounding error (the longest points')
    err = (planes.Xh.astype(np.float64) - Xc)[np.argsort(-(Xc**2).sum(axis=1))[:20]]
    W = np.vstack([W, err / np.linalg.norm(err, axis=1, keepdims=True)])
    moved = np.abs(planes.Xh.astype(np.float64) @ W.T - Xc @ W.T).max()
    assert 0 < moved <= planes.rounding
    assert planes.rounding < 0.2 * planes.tol  # a small part of the tolerance
    # and with the normals rounded as the store keeps them, through the tests' own dot
    # product (which must multiply in float64: two float32 numbers' product is exact there)
    planes.add_many(W, np.zeros(len(W)))
    assert planes.w.dtype == np.float32
    both = np.array(
        [[dot(planes.Xh[i], planes.w[k]) for k in range(len(W))] for i in range(len(Xc))]
    )
    moved = np.abs(both - Xc @ W.T).max()
    assert 0 < moved <= planes.clear - planes.tol
    # outside float32's range the points are kept as they are, and nothing is widened
    far = Xc * 1e40
    huge = Planes(far, scale * 1e40)
    assert huge.Xh is far and huge.rounding == 0.0 and huge.clear == huge.tol
    assert huge.w.dtype == np.float64
