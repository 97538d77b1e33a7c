"""Regression fixtures: partitions of non-linear data that a speed-up must not change.

Each label owns several Voronoi cells of random prototypes, so the labels are not linearly
separable and the clustering has to find many clusters, reject hundreds of merges and run
a thousand or more exact checks: the regime of a small model's last layer or of layer 0,
where the engine's shortcuts (certificates, warm starts, thin-margin pairs) do most of the
work. The partitions (ids included) were recorded with the engine as it was before its
speed work (commit 89ec20b); `benchmarks/bench_targets.py` holds the same kind of fixture
for the real workloads (POS, DEP, TREC-50) at full size.
"""

from __future__ import annotations

import numpy as np
import pytest

from ftprobe.geometry.merging import SupervisedClustering


def voronoi_task(
    n: int, dim: int, labels: int, cells: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` Gaussian points labelled by their nearest of ``labels * cells`` prototypes,
    prototype ``j`` belonging to label ``j % labels``."""
    rng = np.random.default_rng(seed)
    protos = rng.normal(size=(labels * cells, dim))
    x = rng.normal(size=(n, dim))
    own = np.argmin(((x[:, None, :] - protos[None]) ** 2).sum(-1), axis=1)
    return x, own % labels


@pytest.mark.parametrize(
    ("task", "clusters", "rejections", "digest"),
    [
        (
            (2000, 8, 5, 10, 1),
            60,
            378,
            "1989ea95e06745e0c4b9b861c30a80f91f045a094b5011fef24380a22d308509",
        ),
        (
            (1500, 12, 6, 5, 3),
            33,
            118,
            "1a808364fa12c4f28e357185cbb95e002e1e0b1d88b467f7bf0c3b52c1abfd64",
        ),
    ],
)
def test_non_linear_partitions_are_the_recorded_ones(
    task: tuple[int, int, int, int, int], clusters: int, rejections: int, digest: str
) -> None:
    x, y = voronoi_task(*task)
    engine = SupervisedClustering(x, y, background=False)
    result = engine.run()
    assert result.n_clusters == clusters
    assert engine.stats.rejections == rejections
    assert result.digest() == digest
    # label-pure, as every partition must be
    assert np.array_equal(result.point_labels(), y)
