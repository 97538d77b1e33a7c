"""Label statistics and spatial similarity on a hand-built partition with known answers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ftprobe.geometry.partition import Clustering
from ftprobe.geometry.similarity import (
    ClusterCountWarning,
    DistanceVector,
    spatial_similarity,
)
from ftprobe.geometry.statistics import label_statistics, within_cluster_distances

NAMES = ("A", "B", "C", "D")  # D never occurs


def _column(x0: float, n: int) -> np.ndarray:
    """n points on the vertical segment x = x0, y = 0..n-1."""
    return np.c_[np.full(n, x0), np.arange(n, dtype=float)]


def _partition() -> tuple[np.ndarray, Clustering]:
    # Clusters: A at x=0 and x=10 (6 points each), B at x=4 (6), C at x=100 (3 points).
    # Two columns of equal height are exactly |x1 - x2| apart.
    parts = [(_column(0, 6), 0), (_column(10, 6), 0), (_column(4, 6), 1), (_column(100, 3), 2)]
    x = np.vstack([p for p, _ in parts])
    assignment = np.repeat(np.arange(4), [len(p) for p, _ in parts])
    labels = np.array([lab for _, lab in parts])
    return x, Clustering.from_assignment(assignment, labels[assignment], NAMES)


MEAN_GAP_6 = 35 / 15  # mean |i - j| over pairs of 0..5
MEAN_GAP_3 = 4 / 3


def test_small_clusters_are_ignored_by_default() -> None:
    x, clustering = _partition()
    stats = label_statistics(x, clustering, progress=False)
    assert stats.min_cluster_size == 5
    assert stats.eligible.tolist() == [True, True, True, False]
    # A-B: mean of d(A@0, B@4) = 4 and d(A@10, B@4) = 6.
    assert stats.label_distance[0, 1] == pytest.approx(5.0, abs=1e-7)
    assert stats.pairs == [("A", "B"), ("A", "C"), ("A", "D"), ("B", "C"), ("B", "D"), ("C", "D")]
    np.testing.assert_allclose(stats.vec, [5, 0, 0, 0, 0, 0], atol=1e-7)
    assert stats.defined.tolist() == [True, False, False, False, False, False]
    # C's only cluster is too small and D has none: their statistics are undefined (NaN),
    # not 0, which would read as "touching another label".
    np.testing.assert_allclose(stats.outside_min, [5, 5, np.nan, np.nan], atol=1e-7)
    np.testing.assert_allclose(stats.inside_max, [5, 5, np.nan, np.nan], atol=1e-9)
    np.testing.assert_allclose(
        stats.inside_mean, [MEAN_GAP_6, MEAN_GAP_6, np.nan, np.nan], atol=1e-9
    )
    assert stats.outside_min_defined.tolist() == [True, True, False, False]
    assert stats.labels_counted.tolist() == [True, True, False, False]
    assert stats.n_clusters == 4 and stats.n_labels_present == 3


def test_keeping_every_cluster_changes_the_statistics() -> None:
    x, clustering = _partition()
    stats = label_statistics(x, clustering, min_cluster_size=0, progress=False)
    # A-C: columns of different heights: the nearest points are level, so |dx| again.
    np.testing.assert_allclose(stats.vec, [5, (100 + 90) / 2, 0, 96, 0, 0], atol=1e-6)
    np.testing.assert_allclose(stats.outside_min, [5, 5, 95, np.nan], atol=1e-6)
    np.testing.assert_allclose(stats.inside_max, [5, 5, 2, np.nan], atol=1e-9)
    np.testing.assert_allclose(stats.inside_mean, [MEAN_GAP_6, MEAN_GAP_6, MEAN_GAP_3, np.nan])


def test_published_files_keep_the_extensions_zero_for_undefined_labels(tmp_path) -> None:
    from ftprobe.geometry.outputs import read_label_values, write_statistics

    x, clustering = _partition()
    write_statistics(tmp_path, label_statistics(x, clustering, progress=False))
    assert read_label_values(tmp_path / "outside_min.txt") == pytest.approx(
        {"A": 5.0, "B": 5.0, "C": 0.0, "D": 0.0}
    )
    assert read_label_values(tmp_path / "inside_max.txt")["D"] == 0.0


def test_precomputed_cluster_distances_are_used() -> None:
    x, clustering = _partition()
    given = np.full((4, 4), 7.0)
    stats = label_statistics(x, clustering, cluster_distances=given, progress=False)
    assert stats.label_distance[0, 1] == 7.0
    with pytest.raises(ValueError, match="must be"):
        label_statistics(x, clustering, cluster_distances=np.zeros((2, 2)), progress=False)


def test_within_cluster_distances_in_blocks() -> None:
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(57, 5))
    diff = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    iu = np.triu_indices(57, k=1)
    largest, mean = within_cluster_distances(pts, np.arange(57), block=10)
    assert largest == pytest.approx(diff[iu].max(), rel=1e-9)
    assert mean == pytest.approx(diff[iu].mean(), rel=1e-9)
    assert within_cluster_distances(pts, np.array([3])) == (0.0, 0.0)


def _vector(values: dict[tuple[str, str], float], k: int | None = None, n: int | None = None):
    return DistanceVector.from_mapping(values, n_clusters=k, n_labels=n)


def test_similarity_is_pearson_over_common_defined_pairs() -> None:
    a = _vector({("A", "B"): 1.0, ("A", "C"): 2.0, ("B", "C"): 4.0, ("A", "D"): 0.0})
    b = _vector({("A", "B"): 3.0, ("A", "C"): 5.0, ("B", "C"): 9.0, ("A", "D"): 7.0})
    res = spatial_similarity(a, b)
    # A-D is undefined in a (0), so only three pairs count; b = 2a + 1 on them.
    assert res.n_pairs == 3 and res.correlation == pytest.approx(1.0)
    assert res.meaningful
    c = _vector({("A", "B"): 4.0, ("A", "C"): 2.0, ("B", "C"): 1.0})
    assert spatial_similarity(a, c).correlation == pytest.approx(
        np.corrcoef([1, 2, 4], [4, 2, 1])[0, 1]
    )


def test_similarity_warns_when_clusters_do_not_match_labels() -> None:
    a = _vector({("A", "B"): 1.0, ("A", "C"): 2.0, ("B", "C"): 4.0}, k=5, n=3)
    b = _vector({("A", "B"): 1.0, ("A", "C"): 2.0, ("B", "C"): 3.0}, k=3, n=3)
    with pytest.warns(ClusterCountWarning, match="5 clusters for 3 labels"):
        res = spatial_similarity(a, b)
    assert not res.meaningful and len(res.notes) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert spatial_similarity(b, b).meaningful


def test_similarity_is_nan_with_a_reason_below_three_common_pairs() -> None:
    a = _vector({("A", "B"): 1.0, ("A", "C"): 2.0, ("B", "C"): 3.0})
    b = _vector({("A", "B"): 1.0, ("B", "C"): 2.0, ("C", "D"): 4.0})
    res = spatial_similarity(a, b)
    assert res.n_pairs == 2 and np.isnan(res.correlation)
    assert "only 2 label pairs" in res.reason


def test_similarity_is_nan_with_a_reason_for_a_constant_vector() -> None:
    a = _vector({("A", "B"): 2.0, ("A", "C"): 2.0, ("B", "C"): 2.0})
    b = _vector({("A", "B"): 1.0, ("A", "C"): 2.0, ("B", "C"): 3.0})
    res = spatial_similarity(a, b)
    assert res.n_pairs == 3 and np.isnan(res.correlation) and "constant" in res.reason


def test_hand_made_vectors_give_the_exact_pearson_and_pair_count() -> None:
    from ftprobe.geometry.similarity import pearson_over_common_pairs

    x = [3.0, 1.0, 4.0, 1.5, 5.0]
    y = [2.0, 7.0, 1.0, 8.0, 2.5]
    keys = [("A", "B"), ("A", "C"), ("B", "C"), ("A", "D"), ("C", "D")]
    # Reversed keys in one map are the same unordered pairs.
    res = pearson_over_common_pairs(
        dict(zip(keys, x, strict=True)), {(b, a): v for (a, b), v in zip(keys, y, strict=True)}
    )
    xm, ym = np.mean(x), np.mean(y)
    num = sum((a - xm) * (b - ym) for a, b in zip(x, y, strict=True))
    den = np.sqrt(sum((a - xm) ** 2 for a in x) * sum((b - ym) ** 2 for b in y))
    assert res.n_pairs == 5 and res.reason is None
    assert res.correlation == pytest.approx(num / den, abs=1e-15)


def test_a_label_without_counted_clusters_leaves_the_similarity_exactly_unchanged() -> None:
    x, clustering = _partition()
    base = label_statistics(x, clustering, min_cluster_size=2, progress=False)
    # The same partition plus a label E whose only cluster (2 points) is under the size cut.
    names = (*NAMES, "E")
    x2 = np.vstack([x, [[500.0, 0.0], [500.0, 1.0]]])
    assignment = np.r_[clustering.assignment, [4, 4]]
    labels = np.r_[clustering.cluster_labels, [4]]
    grown = Clustering.from_assignment(assignment, labels[assignment], names)
    with_e = label_statistics(x2, grown, min_cluster_size=2, progress=False)
    assert np.isnan(with_e.outside_min[4]) and not with_e.labels_counted[4]
    other = DistanceVector.from_mapping(
        {("A", "B"): 2.0, ("A", "C"): 9.0, ("B", "C"): 4.0, ("A", "E"): 1.0, ("C", "E"): 30.0}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClusterCountWarning)  # C's small cluster: not the point
        plain = spatial_similarity(DistanceVector.from_statistics(base), other)
        extended = spatial_similarity(DistanceVector.from_statistics(with_e), other)
    assert plain.n_pairs == extended.n_pairs == 3
    assert extended.correlation == plain.correlation
    assert np.isfinite(plain.correlation)


def test_distance_vector_from_statistics_knows_the_partition() -> None:
    x, clustering = _partition()
    vec = DistanceVector.from_statistics(label_statistics(x, clustering, progress=False))
    assert vec.n_clusters == 4 and vec.n_labels == 3
    assert vec.as_dict() == {("A", "B"): pytest.approx(5.0)}
