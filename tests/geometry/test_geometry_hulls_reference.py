"""Agreement with the published DirectProbe run on the shared reference task.

Uses the reference partition (``results/SS6/clusters.txt``) and embeddings, and checks
that ``dis.txt`` and ``prediction.txt`` come out as the published code wrote them: the same
lines in the same order, distances within 1e-3 relative (the published code approximates
them with a soft-margin SVM), and the same nearest-cluster accuracy, 234/485.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ftprobe.geometry import outputs
from ftprobe.geometry.hulls import cluster_distance_matrix, point_hull_distances
from ftprobe.geometry.statistics import label_statistics


@pytest.fixture(scope="module")
def reference(reference_run: Path, reference_task: Path) -> dict:
    data = reference_task
    tags = (data / "labels" / "tags.txt").read_text(encoding="utf-8").splitlines()
    names = sorted({t.strip() for t in tags} - {""})

    def labels(split: str) -> list[str]:
        lines = (data / "entities" / f"{split}.txt").read_text(encoding="utf-8").splitlines()
        return [line.split("\t")[1] for line in lines]

    y_train = labels("train")
    idx = {n: i for i, n in enumerate(names)}
    results = reference_run / "results" / "SS6"
    clustering = outputs.read_clustering(results / "clusters.txt", [idx[t] for t in y_train], names)
    return {
        "x_train": np.loadtxt(data / "embeddings" / "layers" / "train" / "6.txt"),
        "x_test": np.loadtxt(data / "embeddings" / "layers" / "test" / "6.txt"),
        "y_test": labels("test"),
        "names": names,
        "clustering": clustering,
        "results": results,
    }


def test_cluster_distances_match_dis_txt(reference: dict, tmp_path: Path) -> None:
    clustering = reference["clustering"]
    dist = cluster_distance_matrix(reference["x_train"], clustering, progress=False)
    outputs.write_dis(tmp_path / "dis.txt", clustering, dist)
    ours = outputs.read_dis(tmp_path / "dis.txt")
    theirs = outputs.read_dis(reference["results"] / "dis.txt")
    assert len(ours) == len(theirs) == 780
    for a, b in zip(ours, theirs, strict=True):
        assert (a.i, a.label_i, a.j, a.label_j) == (b.i, b.label_i, b.j, b.label_j)
        assert dist[a.i, a.j] == pytest.approx(b.distance, rel=1e-3)
    lines = outputs.cluster_summary_lines(distances=dist)
    assert lines[0].startswith("MinConvexDistance=0.979")


def test_nearest_cluster_predictions_match_prediction_txt(reference: dict, tmp_path: Path) -> None:
    clustering = reference["clustering"]
    dist, err = point_hull_distances(
        reference["x_test"], reference["x_train"], clustering, progress=False, with_errors=True
    )
    assert err.max() <= 1e-6 * max(1.0, dist.max())
    acc = outputs.accuracy_from(reference["y_test"], dist, clustering)
    assert round(acc * 485) == 234 and acc == pytest.approx(0.4825, abs=5e-5)

    outputs.write_predictions(tmp_path / "prediction.txt", reference["y_test"], dist, clustering)
    ours = outputs.read_predictions(tmp_path / "prediction.txt")
    theirs = outputs.read_predictions(reference["results"] / "prediction.txt")
    assert len(ours) == len(theirs) == 485
    for a, b in zip(ours, theirs, strict=True):
        assert a.gold == b.gold
        assert a.ranking[0][0] == b.ranking[0][0]
        ref = {cid: d for cid, _, d in b.ranking}
        # Same order, except where the published distances are (nearly) tied.
        for (c1, _, _), (c2, _, _) in zip(a.ranking, a.ranking[1:], strict=False):
            assert ref[c1] <= ref[c2] + 2e-4
        for cid, _, d in a.ranking:
            assert d == pytest.approx(ref[cid], rel=1e-3, abs=1e-4)


def test_label_statistics_cover_the_whole_label_set(reference: dict) -> None:
    stats = label_statistics(reference["x_train"], reference["clustering"], progress=False)
    n = len(reference["names"])
    assert n == 41 and len(stats.vec) == n * (n - 1) // 2
    absent = [
        i
        for i, name in enumerate(reference["names"])
        if name
        not in set(
            reference["clustering"].label_names[k] for k in reference["clustering"].cluster_labels
        )
    ]
    assert len(absent) == 1
    # A label with no counted cluster has no distance to define: NaN here, 0 only in vec.txt.
    assert np.isnan(stats.outside_min[absent[0]]) and np.isnan(stats.inside_max[absent[0]])
    assert not stats.labels_counted[absent[0]]
    # Every label-to-label distance is a mean of certified hull distances of eligible clusters.
    assert np.all(stats.vec[stats.defined] > 0.5)
