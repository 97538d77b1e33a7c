"""Linear CKA: the properties that make it a similarity between representations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from ftprobe.geometry.cka import linear_cka


def _gram_cka(x: np.ndarray, y: np.ndarray) -> float:
    """CKA by its definition on centred Gram matrices (O(n^2)), as an independent check."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, m = h @ x @ x.T @ h, h @ y @ y.T @ h
    return float((k * m).sum() / (np.linalg.norm(k) * np.linalg.norm(m)))


def test_cka_of_a_representation_with_itself_is_one() -> None:
    x = np.random.default_rng(0).normal(size=(500, 20))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)


def test_cka_is_invariant_to_orthogonal_transforms_scaling_and_shifts() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 12))
    z = x[:, :6] @ rng.normal(size=(6, 9)) + rng.normal(size=(400, 9))
    q = ortho_group.rvs(12, random_state=2)
    moved = 3.7 * x @ q + 5.0
    assert linear_cka(x, moved) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(moved, z) == pytest.approx(linear_cka(x, z), abs=1e-12)
    assert linear_cka(x, z) == pytest.approx(linear_cka(z, x), abs=1e-12)


def test_cka_matches_the_gram_matrix_definition() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(120, 7))
    y = np.tanh(x @ rng.normal(size=(7, 15))) + 0.3 * rng.normal(size=(120, 15))
    value = linear_cka(x, y)
    assert 0.1 < value < 0.99
    assert value == pytest.approx(_gram_cka(x, y), abs=1e-10)


def test_cka_of_independent_representations_is_near_zero_when_n_exceeds_d() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(20000, 8)), rng.normal(size=(20000, 16))
    assert linear_cka(x, y) < 0.01


def test_cka_survives_huge_activations() -> None:
    # Without rescaling, ||X^T X||_F^2 of values near 1e200 would overflow to inf.
    x = np.random.default_rng(5).normal(size=(300, 10))
    assert linear_cka(x * 1e200, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x * 1e-200, x + 1e6) == pytest.approx(1.0, abs=1e-6)


def test_cka_rejects_bad_input_and_flags_constant_representations() -> None:
    x = np.ones((10, 3))
    assert np.isnan(linear_cka(x, np.random.default_rng(6).normal(size=(10, 4))))
    with pytest.raises(ValueError, match="rows"):
        linear_cka(np.zeros((10, 3)), np.zeros((9, 3)))
    with pytest.raises(ValueError, match="NaN"):
        linear_cka(np.full((4, 2), np.nan), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="2-D"):
        linear_cka(np.zeros(5), np.zeros(5))
