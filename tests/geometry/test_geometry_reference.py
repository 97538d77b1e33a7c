"""End to end on the shared reference run: ftprobe probe reproduces the published outputs.

The published DirectProbe was run on the reference task (``results/SS6``). Running
``ftprobe probe`` on the same pre-packed folder with a published-style config.ini must give
the same partition with the same cluster ids (``clusters.txt`` identical), hull distances
within 1e-3 relative of ``dis.txt`` (the published code approximates them with an SVM) and
the same nearest-cluster accuracy, 234/485 = 0.4825.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ftprobe.data.prepacked import read_embeddings, read_entities, read_label_set
from ftprobe.geometry import outputs
from ftprobe.geometry.merging import supervised_clustering
from ftprobe.geometry.partition import Clustering
from ftprobe.geometry.runner import job_from_config, run_probe


def test_clustering_matches_published_clusters_txt(
    reference_run: Path, reference_task: Path
) -> None:
    data = reference_task
    names = read_label_set(data / "labels" / "tags.txt").names
    rows = read_entities(data / "entities" / "train.txt")
    y = np.array([names.index(label) for _, label in rows])
    X = read_embeddings(data / "embeddings" / "layers" / "train" / "6.txt", len(rows))
    ours = supervised_clustering(X, y, names)
    published = outputs.read_clusters(reference_run / "results" / "SS6" / "clusters.txt")
    assert ours.n_clusters == 40
    assert ours.same_partition(Clustering.from_assignment(published, y, names))
    assert np.array_equal(ours.assignment, published)  # the same ids too


@pytest.mark.slow
def test_probe_command_reproduces_the_published_run(
    reference_run: Path, reference_task: Path, tmp_path: Path
) -> None:
    data = reference_task
    cfg = tmp_path / "config.ini"
    cfg.write_text(
        f"[run]\noutput_path = {tmp_path / 'results' / 'SS6'}\n\n"
        f"[data]\ncommon = {data}\n"
        "label_set_path = ${common}/labels/tags.txt\n"
        "entities_path = ${common}/entities/train.txt\n"
        "embeddings_path = ${common}/embeddings/layers/train/6.txt\n"
        "test_entities_path = ${common}/entities/test.txt\n"
        "test_embeddings_path = ${common}/embeddings/layers/test/6.txt\n\n"
        "[clustering]\nenable_cuda = True\nrate=0.01\nmode = probing\n"
        "probing_cluster_path = results/SS/\n",
        encoding="utf-8",
    )
    result = run_probe(job_from_config(cfg), progress=False)
    out = tmp_path / "results" / "SS6"
    published = reference_run / "results" / "SS6"
    assert (out / "clusters.txt").read_text() == (published / "clusters.txt").read_text()
    assert result.accuracy is not None and round(result.accuracy * 485) == 234
    ours, theirs = outputs.read_dis(out / "dis.txt"), outputs.read_dis(published / "dis.txt")
    assert len(ours) == len(theirs) == 780
    for a, b in zip(ours, theirs, strict=True):
        assert (a.i, a.label_i, a.j, a.label_j) == (b.i, b.label_i, b.j, b.label_j)
        assert a.distance == pytest.approx(b.distance, rel=1e-3, abs=1e-4)
    preds = outputs.read_predictions(out / "prediction.txt")
    assert [p.predicted for p in preds] == [
        p.predicted for p in outputs.read_predictions(published / "prediction.txt")
    ]
    log = (out / "log.txt").read_text()
    assert "Final number of clusters: 40" in log and "Acc=0.4824742268041237" in log
