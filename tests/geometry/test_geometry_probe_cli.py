"""``ftprobe probe``: flags and config.ini drop-in, output folder rules, resume."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ftprobe.cli.main import app
from ftprobe.errors import ConfigError, FtprobeError, InputError
from ftprobe.geometry.merging import ClusteringInterrupted
from ftprobe.geometry.outputs import read_clusters, read_dis, read_predictions
from ftprobe.geometry.runner import STATE_FILE, ProbeJob, job_from_config, run_probe
from tests.probe_task import probe_flags, write_task

PUBLISHED = {
    "clusters.txt",
    "dis.txt",
    "prediction.txt",
    "vec.txt",
    "outside_min.txt",
    "inside_max.txt",
    "inside_mean.txt",
    "log.txt",
}


def test_flags_write_the_published_files(tmp_path: Path) -> None:
    data = write_task(tmp_path)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, probe_flags(data, out))
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} == PUBLISHED
    clusters = read_clusters(out / "clusters.txt")
    assert len(clusters) == 60 and clusters.max() == 2  # three well separated blobs
    dis = read_dis(out / "dis.txt")
    assert len(dis) == 3 and all(e.distance > 1.0 for e in dis)
    preds = read_predictions(out / "prediction.txt")
    assert len(preds) == 20
    assert sum(p.predicted == p.gold for p in preds) == 20
    vec = (out / "vec.txt").read_text().splitlines()
    assert len(vec) == 6 and vec[0].startswith("a---b,")  # sorted label order, zz included
    assert "Final number of clusters: 3" in (out / "log.txt").read_text()
    assert "Acc=1.0" in (out / "log.txt").read_text()


def test_non_empty_output_folder_needs_overwrite(tmp_path: Path) -> None:
    data = write_task(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    res = CliRunner().invoke(app, probe_flags(data, out))
    assert res.exit_code != 0
    assert isinstance(res.exception, ConfigError)
    assert "not empty" in str(res.exception)
    assert [p.name for p in out.iterdir()] == ["notes.md"]
    res = CliRunner().invoke(app, [*probe_flags(data, out), "--overwrite"])
    assert res.exit_code == 0, res.output
    assert (out / "notes.md").read_text() == "mine"
    assert {p.name for p in out.iterdir()} >= PUBLISHED


def test_config_ini_drop_in_and_prediction_mode(tmp_path: Path) -> None:
    write_task(tmp_path)
    cfg = tmp_path / "config.ini"
    cfg.write_text(
        "[run]\noutput_path = results/T3/\n\n[data]\ncommon = data/T\n"
        "label_set_path = ${common}/labels/tags.txt\n"
        "entities_path = ${common}/entities/train.txt\n"
        "embeddings_path = ${common}/embeddings/layers/train/3.txt\n"
        "test_entities_path = ${common}/entities/test.txt\n"
        "test_embeddings_path = ${common}/embeddings/layers/test/3.txt\n\n"
        "[clustering]\nenable_cuda = False\nrate=0.01\nmode = probing\n"
        "probing_cluster_path = results/T3/\n",
        encoding="utf-8",
    )
    job = job_from_config(cfg)
    assert job.device == "cpu" and job.mode == "probing"  # enable_cuda = False means off
    res = CliRunner().invoke(app, ["probe", "--config", str(cfg), "--quiet"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "results" / "T3"
    assert {p.name for p in out.iterdir()} == PUBLISHED
    first = (out / "prediction.txt").read_text()

    # prediction mode reuses the clusters and writes the same predictions elsewhere
    cfg2 = tmp_path / "predict.ini"
    cfg2.write_text(
        cfg.read_text()
        .replace("output_path = results/T3/", "output_path = results/P/")
        .replace("mode = probing", "mode = prediction")
    )
    res = CliRunner().invoke(app, ["probe", "--config", str(cfg2), "--quiet"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "results" / "P" / "prediction.txt").read_text() == first
    assert (tmp_path / "results" / "P" / "clusters.txt").read_text() == (
        out / "clusters.txt"
    ).read_text()


def test_input_errors_name_the_file_and_line(tmp_path: Path) -> None:
    data = write_task(tmp_path)
    emb = data / "embeddings/layers/train/3.txt"
    lines = emb.read_text().splitlines()
    lines[4] = "0.1 nan 0.3"
    emb.write_text("\n".join(lines) + "\n")
    res = CliRunner().invoke(app, probe_flags(data, tmp_path / "o1"))
    assert isinstance(res.exception, InputError) and res.exception.line == 5
    emb.write_text("\n".join(lines[:50]).replace("nan", "0.2") + "\n")
    res = CliRunner().invoke(app, probe_flags(data, tmp_path / "o2"))
    assert isinstance(res.exception, InputError)
    assert "50 vectors but 60 examples" in str(res.exception)
    ent = data / "entities/train.txt"
    ent.write_text(ent.read_text().replace("w3\ta", "w3\tnope"))
    res = CliRunner().invoke(app, probe_flags(data, tmp_path / "o3"))
    assert isinstance(res.exception, FtprobeError) and "'nope'" in str(res.exception)
    assert not (tmp_path / "o3" / "clusters.txt").exists()


def test_interrupted_run_resumes_to_the_same_files(tmp_path: Path) -> None:
    data = write_task(tmp_path, seed=3, tangled=True)
    paths = {
        "train_embeddings": data / "embeddings/layers/train/3.txt",
        "train_entities": data / "entities/train.txt",
        "labels": data / "labels/tags.txt",
    }
    whole = run_probe(ProbeJob(out=tmp_path / "whole", device="cpu", **paths), progress=False)
    assert whole.clustering.n_clusters > 2
    job = ProbeJob(out=tmp_path / "cut", device="cpu", **paths)
    with pytest.raises(ClusteringInterrupted):
        run_probe(job, progress=False, max_steps=20)
    assert (tmp_path / "cut" / STATE_FILE).exists()
    res = CliRunner().invoke(
        app,
        [
            "probe",
            "--train-embeddings",
            str(paths["train_embeddings"]),
            "--train-entities",
            str(paths["train_entities"]),
            "--labels",
            str(paths["labels"]),
            "--out",
            str(tmp_path / "cut"),
            "--resume",
            "--quiet",
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "cut" / STATE_FILE).exists()
    for name in ("clusters.txt", "dis.txt", "vec.txt"):
        assert (tmp_path / "cut" / name).read_text() == (tmp_path / "whole" / name).read_text()


@pytest.mark.parametrize("device", ["tpu", "gpu"])
def test_an_unknown_device_fails_before_any_work(tmp_path: Path, device: str) -> None:
    # The same check as fine-tuning and embedding (ftprobe.encode.device): the
    # value is named, and no output folder is made.
    data = write_task(tmp_path)
    out = tmp_path / "out"
    flags = probe_flags(data, out)
    flags[-1] = device
    res = CliRunner().invoke(app, flags)
    assert isinstance(res.exception, ConfigError)
    assert f"unknown device {device!r}" in str(res.exception)
    assert not out.exists()
