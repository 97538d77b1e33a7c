"""The supervised clustering: known answers by construction, conflicts, errors, resume."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from ftprobe.errors import FtprobeError
from ftprobe.geometry.merging import (
    ClusteringInterrupted,
    ClusteringStats,
    SupervisedClustering,
    supervised_clustering,
)
from ftprobe.geometry.merging.exact import exact_gram, exact_sqnorms
from ftprobe.geometry.merging.frame import Frame
from ftprobe.geometry.merging.label_pairs import LabelPairs
from ftprobe.geometry.partition import Clustering
from ftprobe.geometry.separability import Overlap, Separation, decide


def _blob(rng: np.random.Generator, centre: tuple[float, ...], n: int, s: float) -> np.ndarray:
    return np.asarray(centre) + s * rng.normal(size=(n, len(centre)))


def _pure_and_disjoint(X: np.ndarray, y: np.ndarray, c: Clustering) -> None:
    """Every cluster is label-pure and its hull is disjoint from other labels' clusters."""
    assert np.array_equal(c.point_labels(), y)
    for i in range(c.n_clusters):
        for j in range(i + 1, c.n_clusters):
            if c.cluster_labels[i] != c.cluster_labels[j]:
                assert isinstance(decide(X[c.members(i)], X[c.members(j)]), Separation)


def test_two_separable_blobs_make_two_clusters() -> None:
    rng = np.random.default_rng(0)
    X = np.vstack([_blob(rng, (0, 0, 0), 30, 1.0), _blob(rng, (8, 0, 0), 30, 1.0)])
    y = np.repeat([0, 1], 30)
    c = supervised_clustering(X, y, ["a", "b"])
    assert c.n_clusters == 2
    assert c.same_partition(Clustering.from_assignment(y, y, ["a", "b"]))


def test_xor_needs_four_clusters() -> None:
    # a 2x2 checkerboard: the hull of the two squares of either label covers points of the
    # other label's squares near the centre, so no square can merge with its twin. (With
    # four small round blobs instead, the first diagonal to merge is accepted, as its band
    # misses the other blobs, and the result is 3 clusters: greedy, as published.)
    rng = np.random.default_rng(1)
    origins = [(0, 0), (1, 1), (0, 1), (1, 0)]
    X = np.vstack([np.asarray(o) + rng.uniform(0, 1, size=(20, 2)) for o in origins])
    y = np.repeat([0, 0, 1, 1], 20)
    c = supervised_clustering(X, y, ["even", "odd"])
    assert c.n_clusters == 4
    truth = np.repeat([0, 1, 2, 3], 20)
    assert c.same_partition(Clustering.from_assignment(truth, y, ["even", "odd"]))
    _pure_and_disjoint(X, y, c)


def test_xor_of_round_blobs_merges_one_diagonal() -> None:
    rng = np.random.default_rng(1)
    corners = [(0, 0), (4, 4), (0, 4), (4, 0)]
    X = np.vstack([_blob(rng, c, 15, 0.4) for c in corners])
    y = np.repeat([0, 0, 1, 1], 15)
    c = supervised_clustering(X, y, ["even", "odd"])
    assert c.n_clusters == 3
    _pure_and_disjoint(X, y, c)


@pytest.mark.parametrize(("height", "clusters"), [(1e-7, 3), (1e-4, 2)])
def test_a_merge_whose_hull_would_touch_another_label_is_rejected(
    height: float, clusters: int
) -> None:
    # Label a's two points make a segment; b's point sits `height` above its middle (the
    # scale is about 1). Closer than TOUCH_TOL the hulls touch, which counts as overlap:
    # the merge is refused, so no two clusters of different labels end up at hull distance
    # 0 in dis.txt. (A hyperplane clearing both sides by 1e-9 of the scale used to let
    # this merge through, and dis.txt then said 0.)
    from ftprobe.geometry.hulls import cluster_distance_matrix

    X = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, height]])
    y = np.array([0, 0, 1])
    c = supervised_clustering(X, y, ["a", "b"])
    assert c.n_clusters == clusters
    dist = cluster_distance_matrix(X, c, progress=False)
    other = c.cluster_labels[:, None] != c.cluster_labels[None, :]
    assert np.all(dist[other] > 0)


def test_a_label_split_by_another_labels_slab_makes_three_clusters() -> None:
    rng = np.random.default_rng(2)
    left = np.column_stack([rng.uniform(-3, -1, 25), rng.uniform(-1, 1, 25)])
    right = np.column_stack([rng.uniform(1, 3, 25), rng.uniform(-1, 1, 25)])
    slab = np.column_stack([rng.uniform(-0.3, 0.3, 30), rng.uniform(-2, 2, 30)])
    X = np.vstack([left, right, slab])
    y = np.repeat([0, 0, 1], [25, 25, 30])
    c = supervised_clustering(X, y, ["A", "B"])
    assert c.n_clusters == 3
    truth = np.repeat([0, 1, 2], [25, 25, 30])
    assert c.same_partition(Clustering.from_assignment(truth, y, ["A", "B"]))


def test_identical_vectors_with_different_labels_are_reported_and_kept_apart() -> None:
    rng = np.random.default_rng(3)
    X = np.vstack([_blob(rng, (0, 0), 10, 0.5), _blob(rng, (6, 0), 10, 0.5)])
    X = np.vstack([X, X[3], X[3]])  # the same vector twice more, once per label
    y = np.concatenate([np.repeat([0, 1], 10), [1, 0]])
    c = supervised_clustering(X, y, ["a", "b"])
    assert c.conflicts == ((3, 20, 21),)
    # one cluster per (vector, label): the two label-0 copies together, the label-1 one alone
    assert c.assignment[3] == c.assignment[21] != c.assignment[20]
    assert c.members(c.assignment[3]).tolist() == [3, 21]
    assert c.members(c.assignment[20]).tolist() == [20]
    assert (c.n_conflicting_vectors, c.n_conflicting_points, c.n_forced_clusters) == (1, 3, 2)
    # everything else merges as if the conflict were not there: one cluster per blob
    assert c.n_other_clusters == 2 and c.n_clusters == 2 + 2


def test_points_in_general_position_with_n_at_most_d_plus_1_give_one_cluster_per_label() -> None:
    rng = np.random.default_rng(4)
    d = 12
    X = rng.normal(size=(d + 1, d))
    y = rng.integers(0, 3, size=d + 1)
    y[:3] = [0, 1, 2]
    c = supervised_clustering(X, y, ["x", "y", "z"])
    assert c.n_clusters == 3


def test_single_label_is_one_cluster() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(20, 4))
    c = supervised_clustering(X, np.zeros(20, dtype=int), ["only", "absent"])
    assert c.n_clusters == 1 and c.cluster_labels.tolist() == [0]


def test_published_numbering_order_of_creation() -> None:
    # a singleton label keeps its point's position first; merged clusters follow in the
    # order their last merge happened (the closer pair first)
    X = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0], [10.5, 0.0], [5.0, 5.0]])
    y = np.array([0, 0, 1, 1, 2])
    c = supervised_clustering(X, y, ["a", "b", "c"])
    assert c.assignment.tolist() == [1, 1, 2, 2, 0]


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (np.array([[0.0, 1.0], [np.nan, 0.0]]), np.array([0, 1]), "vector 2 has a NaN"),
        (np.array([[0.0, 1.0], [np.inf, 0.0]]), np.array([0, 1]), "infinite"),
        (np.zeros((3, 2)), np.array([0, 1]), "3 vectors but 2 labels"),
        (np.zeros((2, 2)), np.array([0, 5]), "label indices"),
    ],
)
def test_bad_inputs_are_clear_errors(X: np.ndarray, y: np.ndarray, message: str) -> None:
    with pytest.raises(FtprobeError, match=message):
        supervised_clustering(X, y, ["a", "b"])


def _tangled(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved labels in 3-D: many rejections, so the run has state worth resuming."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 3))
    y = (np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2] > 0).astype(int)
    return X, y


def test_resume_after_an_interruption_gives_the_same_result(tmp_path: Path) -> None:
    X, y = _tangled(6)
    whole = SupervisedClustering(X, y, ["p", "q"])
    expected = whole.run()
    assert whole.stats.rejections > 0 and expected.n_clusters > 2
    _pure_and_disjoint(X, y, expected)

    state = tmp_path / "state.npz"
    stop = whole.stats.steps // 2
    with pytest.raises(ClusteringInterrupted):
        supervised_clustering(X, y, ["p", "q"], state_path=state, max_steps=stop)
    assert state.exists()
    again = SupervisedClustering(X, y, ["p", "q"], state_path=state, resume=True)
    got = again.run()
    assert again.stats.replayed == stop
    assert np.array_equal(got.assignment, expected.assignment)
    assert np.array_equal(got.cluster_labels, expected.cluster_labels)


def test_resume_refuses_a_state_of_other_data(tmp_path: Path) -> None:
    X, y = _tangled(7)
    state = tmp_path / "state.npz"
    with pytest.raises(ClusteringInterrupted):
        supervised_clustering(X, y, ["p", "q"], state_path=state, max_steps=5)
    with pytest.raises(FtprobeError, match="different input"):
        supervised_clustering(X + 1.0, y, ["p", "q"], state_path=state, resume=True)
    with pytest.raises(FtprobeError, match="nothing to resume"):
        supervised_clustering(X, y, ["p", "q"], state_path=tmp_path / "none.npz", resume=True)


def test_rejections_carry_verified_overlaps() -> None:
    # every same-label pair of final clusters overlaps some other-label cluster once merged
    X, y = _tangled(8)
    c = supervised_clustering(X, y, ["p", "q"])
    _pure_and_disjoint(X, y, c)
    for i in range(c.n_clusters):
        for j in range(i + 1, c.n_clusters):
            if c.cluster_labels[i] != c.cluster_labels[j]:
                continue
            merged = np.concatenate([c.members(i), c.members(j)])
            others = [k for k in range(c.n_clusters) if c.cluster_labels[k] != c.cluster_labels[i]]
            assert any(isinstance(decide(X[merged], X[c.members(k)]), Overlap) for k in others)


def test_label_pairs_decided_on_a_second_thread_give_the_same_partition() -> None:
    # Three labels in overlapping blobs, so that some label pairs are separable and some
    # are not; the merges must not depend on when the second thread answers.
    rng = np.random.default_rng(4)
    centres = np.array([[0.0, 0.0, 0.0], [2.5, 0.0, 0.0], [0.0, 6.0, 0.0]])
    y = np.repeat([0, 1, 2], 60)
    X = centres[y] + rng.normal(size=(len(y), 3))
    here = supervised_clustering(X, y, ["a", "b", "c"], background=False)
    there = SupervisedClustering(X, y, ["a", "b", "c"], background=True)
    result = there.run()
    assert result.same_partition(here)
    assert np.array_equal(result.assignment, here.assignment)


def test_a_label_pair_verdict_from_the_second_thread_is_checked_before_use() -> None:
    from concurrent.futures import Future

    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(size=(30, 4)), rng.normal(size=(30, 4)) + [9.0, 0, 0, 0]])
    y = np.repeat([0, 1], 30)
    stats = ClusteringStats()
    pairs = LabelPairs(Frame.of(X), y, stats)

    def arrived(sep: bool, w: np.ndarray | None, b: float) -> dict:
        fut: Future = Future()
        fut.set_result((sep, w, b))
        return {(0, 1): fut}

    # A hyperplane that does not separate is not trusted: the pair is decided here.
    pairs.pending = arrived(True, np.array([0.0, 1.0, 0.0, 0.0]), 0.0)
    assert pairs.settle(0, 1) is True
    assert stats.label_pair_checks == 1
    w, b = pairs.cert[(0, 1)]
    assert abs(w[0]) > 0.9  # the real separating direction, not the one sent
    # A verdict the second thread has not started on is decided here, not waited for.
    pairs.status.clear()
    queued: Future = Future()
    pairs.pending = {(0, 1): queued}
    assert pairs.settle(0, 1) is True
    assert queued.cancelled() and stats.label_pair_checks == 2
    # One it is working on is waited for, and checked as well.
    pairs.status.clear()
    running: Future = Future()
    assert running.set_running_or_notify_cancel()
    pairs.pending = {(0, 1): running}
    threading.Timer(0.2, running.set_result, [(True, np.array([0.0, 1.0, 0.0, 0.0]), 0.0)]).start()
    assert pairs.settle(0, 1) is True
    assert abs(pairs.cert[(0, 1)][0][0]) > 0.9 and stats.label_pair_checks == 3


def _textbook_clustering(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The published algorithm spelled out, with no shortcut, and rule 1 of repeated
    vectors applied: copies of one vector with one label start as one cluster (created
    before any merge, in order of their first point). Every candidate is checked exactly
    against every current cluster of another label (so a vector that carries several
    labels keeps its clusters apart by the overlap test alone), and every rejected pair is
    proposed again whenever one of its clusters has grown. Returns the assignment in
    :class:`Clustering`'s numbering (points never merged first, then merges in order)."""
    units = _units_of(X, y)
    clusters = {pts[0]: pts for pts in units.values() if len(pts) == 1}
    next_id = len(y)
    for pts in sorted((p for p in units.values() if len(p) > 1), key=lambda p: p[0]):
        clusters[next_id] = pts
        next_id += 1
    clusters = dict(sorted(clusters.items()))
    rejected: set[tuple[int, int]] = set()
    while True:
        best = None
        for a in clusters:
            for b in clusters:
                if a < b and y[clusters[a][0]] == y[clusters[b][0]] and (a, b) not in rejected:
                    gap = X[clusters[a]].mean(axis=0) - X[clusters[b]].mean(axis=0)
                    if best is None or gap @ gap < best[0]:
                        best = (gap @ gap, a, b)
        if best is None:
            break
        _, a, b = best
        merged = clusters[a] + clusters[b]
        others = [c for c in clusters.values() if y[c[0]] != y[merged[0]]]
        if any(isinstance(decide(X[merged], X[c]), Overlap) for c in others):
            rejected.add((a, b))
            continue
        del clusters[a], clusters[b]
        clusters[next_id] = merged
        next_id += 1
    assignment = np.empty(len(y), dtype=np.int64)
    for k, cid in enumerate(sorted(clusters)):
        assignment[clusters[cid]] = k
    return assignment


@pytest.mark.parametrize(
    ("seed", "n", "dim", "n_labels"), [(11, 70, 3, 2), (12, 80, 4, 3), (13, 60, 2, 3)]
)
def test_the_shortcuts_give_the_textbook_partition_and_ids(
    seed: int, n: int, dim: int, n_labels: int
) -> None:
    # Interleaved labels, so that many merges are rejected, some pairs of labels overlap
    # as wholes and the certificates, warm starts and permanent rejections all come into
    # play; the result must be the textbook one, cluster ids included.
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, dim))
    y = (np.floor(2 * X[:, 0] + np.sin(3 * X[:, 1])) % n_labels).astype(int)
    names = [str(k) for k in range(n_labels)]
    eng = SupervisedClustering(X, y, names, background=False)
    got = eng.run()
    st = eng.stats
    assert st.rejections > 0 and st.cluster_checks > 0 and st.overlapping_label_pairs > 0
    assert st.certificate_reuses > 0 and st.factor_starts > 0
    # The ball tests ran on compact copies of the live slots for part of the run: they
    # hold every live slot, and what the merges since wrote (a stale radius or centroid
    # would prune a pair that touches).
    compact = [b for b in eng.blocks.values() if b.live_view and b.live_view.centre is not b.centre]
    assert compact
    for b in compact:
        view = b.live_view
        assert set(np.flatnonzero(b.cid >= 0)) <= set(view.slots.tolist())
        on = b.cid[view.slots] >= 0
        slots = view.slots[on]
        for copy, whole in [
            (view.centre, b.centre),
            (view.cnorm2, b.cnorm2),
            (view.radius, b.radius),
        ]:
            assert np.array_equal(copy[on], whole[slots])
    assert np.array_equal(got.assignment, _textbook_clustering(X, y))


# --------------------------------------------------------------------------------------
# repeated vectors: copies of a (vector, label) are one cluster, conflicts are forced


def test_copies_with_one_label_are_one_cluster_and_conflicts_are_forced() -> None:
    # A at (0,0) twice, (2,0), (2,1); B at (0,0), (0,5), (1,5). Published numbering: the B
    # point on (0,0) is never merged (id by point order, first); the A copies are the first
    # cluster created; then A's and B's pairs (distance 1, a tie broken by creation id).
    X = np.array([[0, 0], [0, 0], [2, 0], [2, 1], [0, 0], [0, 5], [1, 5]], dtype=float)
    y = np.array([0, 0, 0, 0, 1, 1, 1])
    c = supervised_clustering(X, y, ["A", "B"])
    assert c.assignment.tolist() == [1, 1, 2, 2, 0, 3, 3]
    assert c.conflicts == ((0, 1, 4),)
    assert (c.n_conflicting_vectors, c.n_conflicting_points) == (1, 3)
    assert c.forced_clusters.tolist() == [0, 1] and c.n_other_clusters == 2
    # a third A copy of (0,0) joins its copies: still 4 clusters
    c3 = supervised_clustering(np.vstack([X, [0.0, 0.0]]), np.r_[y, 0], ["A", "B"])
    assert c3.assignment.tolist() == [1, 1, 2, 2, 0, 3, 3, 1]
    # -0.0 is the same vector as +0.0
    Xm = X.copy()
    Xm[1] = [-0.0, 0.0]
    assert supervised_clustering(Xm, y, ["A", "B"]).assignment.tolist() == c.assignment.tolist()


def _embedding_layer_like(
    seed: int, dim: int = 4, n_labels: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors as an embedding layer makes them: LayerNorm(word vector + position vector)
    for 16 five-word sentences drawn from four templates (so words repeat at the same
    positions and their vectors are bitwise copies), printed to 6 decimals. Labels follow
    the word, except that words 0 and 1 carry a second label half the time.

    LayerNorm puts every vector on the hyperplane of mean 0; printed to 6 decimals they
    sit within 1e-6 of it, and a separation across that slab has a width near the
    solvers' tolerances (touching within rounding), which the textbook and the fast run
    frame differently. The vectors are therefore written in an orthonormal basis of the
    hyperplane (dim - 1 coordinates): the same rows, bitwise copies included.
    """
    rng = np.random.default_rng(seed)
    words = rng.normal(size=(8, dim))
    positions = 0.7 * rng.normal(size=(5, dim))
    templates = rng.integers(0, 8, size=(4, 5))
    word_label = rng.integers(0, n_labels, size=8)
    q, _ = np.linalg.qr(np.column_stack([np.ones(dim), np.eye(dim)[:, : dim - 1]]))
    basis = q[:, 1:]
    rows, labels = [], []
    for _ in range(16):
        sentence = templates[rng.integers(len(templates))].copy()
        swap = rng.random(5) < 0.4
        sentence[swap] = rng.integers(0, 8, int(swap.sum()))
        for p, w in enumerate(sentence):
            v = words[w] + positions[p]
            v = basis.T @ ((v - v.mean()) / np.sqrt(v.var() + 1e-12))
            rows.append([float(f"{c:.6f}") for c in v])
            label = word_label[w]
            if w < 2 and rng.random() < 0.5:
                label = (label + 1) % n_labels
            labels.append(label)
    return np.array(rows), np.array(labels)


def _units_of(X: np.ndarray, y: np.ndarray) -> dict[tuple[bytes, int], list[int]]:
    """The points of each (vector, label), vectors bitwise with -0.0 read as +0.0."""
    units: dict[tuple[bytes, int], list[int]] = {}
    for i in range(len(y)):
        units.setdefault(((X[i] + 0.0).tobytes(), int(y[i])), []).append(i)
    return units


@pytest.mark.parametrize("seed", [0, 1, 2, 9])
def test_repeated_vectors_on_embedding_layer_like_data(seed: int) -> None:
    X, y = _embedding_layer_like(seed)
    c = supervised_clustering(X, y)
    # the data has what the test is about: copies, conflicts, rejected merges
    units = _units_of(X, y)
    labels_of: dict[bytes, set[int]] = {}
    for vec, lab in units:
        labels_of.setdefault(vec, set()).add(lab)
    conflicting = {u: pts for u, pts in units.items() if len(labels_of[u[0]]) > 1}
    assert len(units) < len(y) and conflicting and c.n_clusters > len(set(y.tolist()))
    # every cluster holding a conflicting vector holds only the copies of that unit
    for pts in conflicting.values():
        assert c.members(c.assignment[pts[0]]).tolist() == pts
    # the count: conflicting units plus the clusters of the other points
    assert c.n_conflicting_vectors == sum(len(s) > 1 for s in labels_of.values())
    assert c.n_conflicting_points == sum(len(p) for p in conflicting.values())
    assert c.n_forced_clusters == len(conflicting)
    others = np.setdiff1d(np.arange(len(y)), c.conflicting_points)
    assert c.n_other_clusters == len(np.unique(c.assignment[others]))
    # the textbook algorithm with rule 1 applied: the same partition and ids
    assert np.array_equal(c.assignment, _textbook_clustering(X, y))
    # a same-label copy of any row: the count does not change on this data; a copy of a
    # row on a conflicting vector changes nothing but that cluster's size
    for i in range(len(y)):
        more = supervised_clustering(np.vstack([X, X[i]]), np.r_[y, y[i]])
        assert more.n_clusters == c.n_clusters
        if i in c.conflicting_points:
            assert more.same_partition(
                Clustering.from_assignment(
                    np.r_[c.assignment, c.assignment[i]], np.r_[y, y[i]], c.label_names
                )
            )


def test_a_copy_weights_its_centroid_so_it_can_change_the_count() -> None:
    # Copies are one cluster, but the published centroids weight every point: a further
    # copy moves its cluster's later centroids and can reorder the greedy merges. Here
    # (found by the test above on another seed) it does, in the textbook too.
    X, y = _embedding_layer_like(11)
    assert supervised_clustering(X, y).n_clusters == 14
    X2, y2 = np.vstack([X, X[21]]), np.r_[y, y[21]]
    more = supervised_clustering(X2, y2)
    assert more.n_clusters == 15
    assert np.array_equal(more.assignment, _textbook_clustering(X2, y2))


# --------------------------------------------------------------------------------------
# the same partition on every machine: no result may hang on a summation order


def test_exact_gram_has_the_same_bits_in_any_column_order() -> None:
    # BLAS sums a product in an order of its own (CPU, threads); a column permutation
    # changes that order too, so equal bits under it stand for equal bits anywhere.
    rng = np.random.default_rng(4)
    P = rng.normal(size=(40, 384)) * np.exp(3 * rng.normal(size=(40, 1)))
    perm = rng.permutation(P.shape[1])
    G = exact_gram(P)
    assert np.array_equal(G, exact_gram(P[:, perm]))
    assert np.array_equal(G, G.T)
    assert np.array_equal(np.diag(G), exact_sqnorms(P))
    assert np.array_equal(exact_sqnorms(P), exact_sqnorms(P[:, perm]))
    # and it is the product, to float64's rounding of the exact sum
    exact = sum(Fraction(a) * Fraction(b) for a, b in zip(P[3], P[7], strict=True))
    assert abs(G[3, 7] - float(exact)) <= 2 * np.spacing(abs(float(exact)))
    assert np.allclose(G, P @ P.T, rtol=1e-12, atol=1e-12 * np.abs(G).max())


def test_exact_gram_in_tiles_has_the_whole_products_bits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # exact_gram works a pair of tiles at a time, the upper ones only; a tile skipped or
    # added twice, a lower tile not copied, or the sums taken in another order, would
    # change bits that the merge order depends on
    from ftprobe.geometry.merging import exact

    rng = np.random.default_rng(6)
    P = rng.normal(size=(53, 20)) * np.exp(3 * rng.normal(size=(53, 1)))
    p0, p1, p2 = exact._slices(P, exact._product_bits(P.shape[1]), 3)
    t01, t02 = p0 @ p1.T, p0 @ p2.T
    want = (p0 @ p0.T + (t01 + t01.T)) + ((t02 + t02.T) + p1 @ p1.T)
    monkeypatch.setattr(exact, "_TILE", 16)  # four rows of tiles, the last one short
    assert exact.exact_gram(P).tobytes() == want.tobytes()


def _words_at_positions(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Embedding-layer-like points: word + position vectors, so that the copies of a word
    repeat the same distances exactly. On a grid of 2**-35 (40 bits): every point and
    every column sum (the centre) is exact, the products that the distances are summed
    from are not, so only their summation order can break the ties."""
    rng = np.random.default_rng(seed)
    grid = 2.0**35
    words = np.round(rng.normal(size=(40, 6)) * 3 * grid) / grid
    positions = np.round(rng.normal(size=(20, 6)) * grid) / grid
    X = (words[:, None, :] + positions[None, :, :]).reshape(-1, 6) + 5.0
    return X, np.repeat(np.arange(40) % 4, 20)


@pytest.mark.parametrize("seed", [0, 2])
def test_the_partition_does_not_depend_on_the_summation_order(seed: int) -> None:
    # Before the distances were summed exactly, permuting the columns (as another CPU's
    # BLAS does to the order of the sums) changed these partitions.
    X, y = _words_at_positions(seed)
    perm = np.random.default_rng(99).permutation(X.shape[1])
    a = SupervisedClustering(X, y, background=False).run()
    b = SupervisedClustering(X[:, perm], y, background=False).run()
    assert a.n_clusters > 10
    assert a.digest() == b.digest()
