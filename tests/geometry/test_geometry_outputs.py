"""The published file formats: exact text, round trips, atomic writes, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ftprobe.errors import InputError
from ftprobe.geometry import outputs
from ftprobe.geometry.partition import Clustering
from ftprobe.geometry.statistics import LabelStatistics

NAMES = ("p.Agent", "p.Goal", "p.Theme")


def _clustering() -> Clustering:
    # Clusters 0: Goal, 1: Agent, 2: Goal, 3: Theme.
    return Clustering.from_assignment([0, 1, 0, 2, 3, 1], [1, 0, 1, 1, 2, 0], NAMES)


def _matrix() -> np.ndarray:
    d = np.array(
        [
            [0.0, 1.23456, np.nan, 2.0],
            [1.23456, 0.0, 0.5, 3.33333],
            [np.nan, 0.5, 0.0, 9.87654],
            [2.0, 3.33333, 9.87654, 0.0],
        ]
    )
    return d


def test_clusters_txt_round_trip(tmp_path: Path) -> None:
    c = _clustering()
    outputs.write_clusters(tmp_path / "clusters.txt", c)
    assert (tmp_path / "clusters.txt").read_text() == "0\n1\n0\n2\n3\n1\n"
    back = outputs.read_clustering(tmp_path / "clusters.txt", [1, 0, 1, 1, 2, 0], NAMES)
    assert back.same_partition(c)
    names = [back.cluster_name(k) for k in range(4)]
    assert names == ["0-p.Goal", "1-p.Agent", "2-p.Goal", "3-p.Theme"]


def test_dis_txt_lists_cross_label_pairs_in_published_order(tmp_path: Path) -> None:
    outputs.write_dis(tmp_path / "dis.txt", _clustering(), _matrix())
    assert (tmp_path / "dis.txt").read_text() == (
        "(0-p.Goal, 1-p.Agent): 1.2346\n"
        "(0-p.Goal, 3-p.Theme): 2.0000\n"
        "(1-p.Agent, 2-p.Goal): 0.5000\n"
        "(1-p.Agent, 3-p.Theme): 3.3333\n"
        "(2-p.Goal, 3-p.Theme): 9.8765\n"
    )
    entries = outputs.read_dis(tmp_path / "dis.txt")
    assert entries[0] == outputs.DisEntry(0, "p.Goal", 1, "p.Agent", 1.2346)
    assert len(entries) == 5


def test_prediction_txt_sorts_every_cluster_by_distance(tmp_path: Path) -> None:
    c = _clustering()
    dist = np.array([[0.3, 0.1, 0.2, 5.0], [1.0, 1.0, 0.0, 0.5]])
    outputs.write_predictions(tmp_path / "prediction.txt", ["p.Agent", "p.Goal"], dist, c)
    assert (tmp_path / "prediction.txt").read_text() == (
        "p.Agent\t1-p.Agent,0.1000\t2-p.Goal,0.2000\t0-p.Goal,0.3000\t3-p.Theme,5.0000\n"
        "p.Goal\t2-p.Goal,0.0000\t3-p.Theme,0.5000\t0-p.Goal,1.0000\t1-p.Agent,1.0000\n"
    )
    preds = outputs.read_predictions(tmp_path / "prediction.txt")
    assert [p.predicted for p in preds] == ["p.Agent", "p.Goal"]
    assert preds[1].ranking[0] == (2, "p.Goal", 0.0)
    assert outputs.accuracy_from(["p.Agent", "p.Theme"], dist, c) == 0.5


def _stats() -> LabelStatistics:
    ld = np.array([[np.nan, 1.5, np.nan], [1.5, np.nan, 2.25], [np.nan, 2.25, np.nan]])
    return LabelStatistics(
        label_names=NAMES,
        label_distance=ld,
        outside_min=np.array([1.5, 1.5, 2.25]),
        inside_max=np.array([3.0, 0.0, 1.0]),
        inside_mean=np.array([1.0, 0.0, 0.5]),
        eligible=np.array([True, True, True, False]),
        min_cluster_size=5,
        cluster_labels=np.array([1, 0, 1, 2]),
    )


def test_extension_files(tmp_path: Path) -> None:
    stats = _stats()
    outputs.write_statistics(tmp_path, stats)
    assert (tmp_path / "vec.txt").read_text() == (
        "p.Agent---p.Goal,1.5000\np.Agent---p.Theme,0.0000\np.Goal---p.Theme,2.2500\n"
    )
    assert (tmp_path / "outside_min.txt").read_text() == (
        "p.Agent,1.5000\np.Goal,1.5000\np.Theme,2.2500\n"
    )
    assert (tmp_path / "inside_max.txt").read_text().splitlines()[1] == "p.Goal,0.0000"
    assert outputs.read_vec(tmp_path / "vec.txt")[("p.Goal", "p.Theme")] == 2.25
    assert outputs.read_label_values(tmp_path / "inside_mean.txt") == {
        "p.Agent": 1.0,
        "p.Goal": 0.0,
        "p.Theme": 0.5,
    }
    lines = outputs.statistics_summary_lines(stats)
    assert "global min dis=1.5" in lines


def test_log_has_the_published_headlines(tmp_path: Path) -> None:
    log = outputs.RunLog()
    log.info("Loaded 6 training points")
    log.extend(outputs.cluster_summary_lines(4, 0.5, _matrix()))
    outputs.write_log(tmp_path / "log.txt", log)
    text = (tmp_path / "log.txt").read_text().splitlines()
    assert text[0].endswith("-ftprobe-INFO: Loaded 6 training points")
    assert [t.split("INFO: ")[1] for t in text[1:]] == [
        "Final number of clusters: 4",
        "Acc=0.5",
        "MinConvexDistance=0.5",
        "MaxConvexDistance=9.87654",
        f"AverageConvexDistance={float(np.mean([1.23456, 2.0, 0.5, 3.33333, 9.87654]))!r}",
    ]


def test_writes_are_atomic(tmp_path: Path) -> None:
    target = tmp_path / "dis.txt"
    target.write_text("old\n")
    bad = _matrix()
    bad[0, 3] = np.nan  # a cross-label pair without a distance
    with pytest.raises(ValueError):
        outputs.write_dis(target, _clustering(), bad)
    assert target.read_text() == "old\n"
    outputs.write_dis(target, _clustering(), _matrix())
    assert [p.name for p in tmp_path.iterdir()] == ["dis.txt"]


def test_readers_name_the_bad_line(tmp_path: Path) -> None:
    p = tmp_path / "clusters.txt"
    p.write_text("0\n1\nx\n")
    with pytest.raises(InputError, match=r"clusters.txt, line 3"):
        outputs.read_clusters(p)
    p.write_text("0\n1\n0\n")
    with pytest.raises(InputError, match="mixes labels"):
        outputs.read_clustering(p, [0, 1, 1], NAMES)
    with pytest.raises(InputError, match="3 cluster ids for 2"):
        outputs.read_clustering(p, [0, 1], NAMES)
    p.write_text("0\n2\n")
    with pytest.raises(InputError, match="never used"):
        outputs.read_clustering(p, [0, 1], NAMES)
    q = tmp_path / "dis.txt"
    q.write_text("(0-a, 1-b): 1.0\n(0-a 1-b) 2\n")
    with pytest.raises(InputError, match="line 2"):
        outputs.read_dis(q)
    with pytest.raises(InputError, match="not found"):
        outputs.read_vec(tmp_path / "missing.txt")
