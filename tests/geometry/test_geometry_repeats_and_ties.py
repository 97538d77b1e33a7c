"""Repeated vectors and ties, end to end: what the log, the summary and the Python result
say, and the tie rule of the predictions through the API and the command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ftprobe.cli.main import app
from ftprobe.geometry.directprobe import DirectProbe
from ftprobe.geometry.hulls import nearest_group, ranking_order, tie_tolerance
from ftprobe.geometry.outputs import read_predictions
from ftprobe.geometry.runner import ProbeJob, run_probe


def _write(folder: Path, split: str, X: np.ndarray, labels: list[str]) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    emb, ent = folder / f"{split}.emb.txt", folder / f"{split}.txt"
    emb.write_text("".join(" ".join(repr(float(v)) for v in row) + "\n" for row in X))
    ent.write_text("".join(f"w{i}\t{lab}\n" for i, lab in enumerate(labels)))
    return emb, ent


def test_ranking_order_ties_distances_within_the_tolerance() -> None:
    d = np.array([[1.0, 1.0 - 1e-12, 3.0], [2.0, 1.0, 1.0 + 5e-10], [0.0, np.inf, 0.0]])
    assert ranking_order(d, 1e-9).tolist() == [[0, 1, 2], [1, 2, 0], [0, 2, 1]]
    assert ranking_order(d).tolist() == [[1, 0, 2], [1, 2, 0], [0, 2, 1]]  # exact ties only
    assert nearest_group(d, 1e-9).tolist() == [
        [True, True, False],
        [False, True, True],
        [True, False, True],
    ]
    assert tie_tolerance(np.array([[0.5, -3.0]])) == pytest.approx(3e-9)
    assert tie_tolerance(np.zeros((2, 2))) == pytest.approx(1e-9)


# Two labels on two vertical segments, x = -2 (A) and x = +2 (B): the A pair merges first
# (a tie in centroid distance, broken by creation id), so A is cluster 0 and B cluster 1.
TRAIN = np.array([[-2.0, 0.0], [-2.0, 1.0], [2.0, 0.0], [2.0, 1.0]])
TRAIN_LABELS = ["A", "A", "B", "B"]
# Equidistant; nearer to B by 1e-12 (below the tie tolerance); plainly B's.
TEST = np.array([[0.0, 0.0], [1e-12, 0.5], [3.0, 0.5]])
TEST_LABELS = ["B", "B", "B"]


def test_a_tie_across_labels_goes_to_the_lower_id_through_the_api() -> None:
    probe = DirectProbe(device="cpu").fit(TRAIN, TRAIN_LABELS)
    assert probe.clusters_.assignment.tolist() == [0, 0, 1, 1]
    assert probe.predict(TEST).tolist() == ["A", "A", "B"]
    dist = probe.predict_distances(TEST)
    assert abs(dist[0, 0] - dist[0, 1]) <= probe.tie_tolerance_
    assert probe.predict(distances=dist).tolist() == ["A", "A", "B"]
    for ties in (
        probe.prediction_ties(TEST, TEST_LABELS),
        probe.prediction_ties(None, TEST_LABELS, distances=dist),
    ):
        assert (ties.n_points, ties.n_tied) == (3, 2)
        assert ties.accuracy == pytest.approx(1 / 3)
        assert (ties.accuracy_low, ties.accuracy_high) == (pytest.approx(1 / 3), 1.0)
    assert probe.score(TEST, TEST_LABELS) == pytest.approx(1 / 3)


def test_a_tie_across_labels_goes_to_the_lower_id_through_the_command(tmp_path: Path) -> None:
    emb, ent = _write(tmp_path / "in", "train", TRAIN, TRAIN_LABELS)
    temb, tent = _write(tmp_path / "in", "test", TEST, TEST_LABELS)
    tags = tmp_path / "in" / "tags.txt"
    tags.write_text("A\nB\n")
    out = tmp_path / "out"
    flags = ["probe", "--train-embeddings", str(emb), "--train-entities", str(ent)]
    flags += ["--labels", str(tags), "--test-embeddings", str(temb), "--test-entities", str(tent)]
    res = CliRunner().invoke(app, [*flags, "--out", str(out), "--quiet", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    preds = read_predictions(out / "prediction.txt")
    assert [p.ranking[0][0] for p in preds] == [0, 0, 1]
    assert [p.predicted for p in preds] == ["A", "A", "B"]
    log = (out / "log.txt").read_text()
    assert "Acc=0.3333333333333333" in log
    assert (
        "Test points with a tie across labels at the nearest distance: 2 of 3 (ties go to "
        "the lowest cluster id); the accuracy they allow: 0.3333 to 1.0000" in log
    )
    assert "2 test points tie across labels" in res.output
    assert "0.3333 to 1.0000" in res.output


def test_repeated_vectors_are_reported_in_the_log_the_summary_and_the_result(
    tmp_path: Path,
) -> None:
    # The example: A at (0,0) twice, (2,0), (2,1); B at (0,0), (0,5), (1,5).
    X = np.array([[0, 0], [0, 0], [2, 0], [2, 1], [0, 0], [0, 5], [1, 5]], dtype=float)
    labels = ["A", "A", "A", "A", "B", "B", "B"]
    emb, ent = _write(tmp_path / "in", "train", X, labels)
    tags = tmp_path / "in" / "tags.txt"
    tags.write_text("A\nB\n")
    out = tmp_path / "out"
    job = ProbeJob(train_embeddings=emb, train_entities=ent, labels=tags, out=out, device="cpu")
    result = run_probe(job, progress=False)
    c = result.clustering
    assert c.n_clusters == 4 and c.assignment.tolist() == [1, 1, 2, 2, 0, 3, 3]
    assert (c.n_conflicting_vectors, c.n_conflicting_points) == (1, 3)
    assert (c.n_forced_clusters, c.n_other_clusters) == (2, 2)
    log = (out / "log.txt").read_text()
    assert "Final number of clusters: 4" in log
    assert (
        "Vectors with more than one label: 1, with 3 points; they force 2 clusters (one per "
        "vector and label, never merged), and the other points form 2 clusters" in log
    )
    assert "MinConvexDistance=0.0" in log
    assert "Cluster pairs at distance 0: 1, of which 1 are forced clusters on a shared" in log
    assert "examples 1, 2, 5 (A, B)" in log
    # prediction mode reads the partition and reports the same
    again = run_probe(
        ProbeJob(
            train_embeddings=emb,
            train_entities=ent,
            labels=tags,
            out=tmp_path / "pred",
            mode="prediction",
            clusters=out / "clusters.txt",
            device="cpu",
        ),
        progress=False,
    )
    assert again.clustering.n_forced_clusters == 2
    pred_log = (tmp_path / "pred" / "log.txt").read_text()
    assert "they force 2 clusters" in pred_log and "of which 1 are forced" in pred_log

    res = CliRunner().invoke(
        app,
        [
            "probe",
            "--train-embeddings",
            str(emb),
            "--train-entities",
            str(ent),
            "--labels",
            str(tags),
            "--out",
            str(tmp_path / "cli"),
            "--quiet",
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "4 clusters; 1 vectors carry several labels (3 points, 2 forced clusters" in res.output
    assert "the other points form 2 clusters" in res.output
