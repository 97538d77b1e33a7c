"""The batched KKT solves of ``hulls.pivoting``: a batch whose free sets differ widely in
size is solved in groups of similar width, and every problem's answer is the one it has
when solved on its own."""

from __future__ import annotations

import numpy as np
import torch

from ftprobe.geometry.hulls.pivoting import _kkt_solve, _width_groups


def _batch(rng: np.random.Generator, widths: list[int], n: int, dim: int):
    """Least-distance NNLS blocks ``G'G + 1`` of ``n`` random points each, with the first
    ``widths[b]`` variables (shuffled) free in problem ``b``."""
    pts = rng.normal(size=(len(widths), n, dim))
    q = torch.from_numpy(pts @ pts.transpose(0, 2, 1) + 1.0)
    c = -torch.ones(len(widths), n, dtype=torch.float64)
    free = torch.zeros(len(widths), n, dtype=torch.bool)
    for b, w in enumerate(widths):
        free[b, torch.from_numpy(rng.permutation(n)[:w])] = True
    return q, c, free


def test_a_batch_of_mixed_widths_is_solved_in_groups_each_problem_as_alone() -> None:
    rng = np.random.default_rng(3)
    # many narrow problems and a few wide ones: padding the narrow ones to the widest
    # width is what the groups avoid
    widths = [12] * 60 + [30] * 40 + [70] * 5 + [0] * 2
    q, c, free = _batch(rng, widths, n=96, dim=128)
    groups = _width_groups(free)
    assert len(groups) >= 2
    rows = np.sort(np.concatenate([g.numpy() for g, _ in groups]))
    assert rows.tolist() == list(range(len(widths)))  # every problem in exactly one group
    for g, width in groups:
        assert width == int(free[g].sum(dim=1).max())

    x, nu = _kkt_solve(q, c, torch.full_like(free, -1, dtype=torch.long), free, 0)
    assert nu.shape == (len(widths), 0)
    for b in range(len(widths)):
        f = free[b].numpy()
        alone = np.zeros(96)
        if f.any():
            alone[f] = np.linalg.solve(q[b].numpy()[np.ix_(f, f)], -c[b].numpy()[f])
        np.testing.assert_allclose(x[b].numpy(), alone, rtol=1e-9, atol=1e-12)


def test_a_batch_of_like_widths_is_one_group() -> None:
    q, c, free = _batch(np.random.default_rng(4), [40] * 30 + [41] * 30, n=64, dim=96)
    assert [(g, w) for g, w in _width_groups(free)] == [(None, 41)]
