"""The compiled exact method's factorisation updates: a wrong rotation or reflection would
make every later step solve the wrong least-squares problem (and the verdicts rest on it)."""

from __future__ import annotations

import numpy as np

from ftprobe.geometry import active_set
from ftprobe.geometry.separability import _dual_columns


def _factor_of(P: np.ndarray, Q: np.ndarray, order: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Insert the dual's columns of ``order`` one by one, as the solver does."""
    m = P.shape[1] + 2
    Qt, R = np.eye(m), np.zeros((m, m))
    col, w = np.empty(m), np.empty(m)
    ip, iq = np.arange(len(P)), np.arange(len(Q))
    for pos, j in enumerate(order):
        active_set._column(P, ip, Q, iq, j, col)
        active_set._insert(Qt, R, pos, col, w)
    return Qt, R


def test_insertions_and_deletions_keep_an_orthogonal_factorisation() -> None:
    rng = np.random.default_rng(3)
    P, Q = rng.normal(size=(9, 6)), rng.normal(size=(7, 6))
    order = [0, 12, 3, 9, 5, 15, 1]  # points of both sides
    Qt, R = _factor_of(P, Q, order)
    m, ks = len(Qt), len(order)
    assert np.allclose(Qt @ Qt.T, np.eye(m), atol=1e-12)
    assert np.allclose(Qt.T @ R[:, :ks], _dual_columns(P, Q, np.array(order)), atol=1e-12)
    assert np.allclose(np.tril(R[:, :ks], -1), 0.0)

    for i in (2, 0, 4):  # middle, first, last of what remains
        active_set._delete(Qt, R, ks, i)
        del order[i]
        ks -= 1
        assert np.allclose(Qt @ Qt.T, np.eye(m), atol=1e-12)
        assert np.allclose(Qt.T @ R[:, :ks], _dual_columns(P, Q, np.array(order)), atol=1e-12)
        assert np.allclose(np.tril(R[:, :ks], -1), 0.0)
        assert not R[:, ks:].any()


def test_the_passive_weights_solve_the_least_squares_problem() -> None:
    rng = np.random.default_rng(4)
    P, Q = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    order = [1, 6, 3, 8]
    Qt, R = _factor_of(P, Q, order)
    z = np.zeros(len(Qt))
    assert active_set.passive_solution(Qt, R, len(order), z)
    A = _dual_columns(P, Q, np.array(order))
    r = np.zeros(len(Qt))
    r[-2:] = 1.0
    assert np.allclose(z[: len(order)], np.linalg.lstsq(A, r, rcond=None)[0], atol=1e-12)


def test_top_ranks_the_largest_first_with_ties_by_position() -> None:
    g = np.array([0.5, 2.0, -np.inf, 2.0, 1.0, 0.5])
    assert active_set._top(g, 4).tolist() == [1, 3, 4, 0]
    assert active_set._top(g, 10).tolist() == [1, 3, 4, 0, 5, 2]
    assert active_set._top(g, 0).tolist() == []
