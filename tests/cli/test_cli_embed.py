"""``ftprobe embed``: extract into a store, reuse, export and import pre-packed folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ftprobe.cli.main import app
from ftprobe.data.prepacked import read_embeddings, read_entities
from ftprobe.encode.store import RepresentationStore


@pytest.mark.slow
def test_embed_extract_reuse_export_import(tmp_path: Path, shared_data: Path) -> None:
    runner = CliRunner()
    store_dir = tmp_path / "store"
    args = [
        "embed",
        "--task",
        "ps-role",
        "--out",
        str(store_dir),
        "--data-dir",
        str(shared_data),
        "--layers",
        "0,6",
        "--limit",
        "25",
        "--no-progress",
        "--batch-size",
        "8",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "all-MiniLM-L6-v2/ps-role/dev-first25/first: 25 x 384, layers 0,6" in result.output
    assert "all-MiniLM-L6-v2/ps-role/test-first25/first: 25 x 384, layers 0,6" in result.output
    assert "0 units in 0 sentences longer than 512 positions" in result.output
    entries = RepresentationStore(store_dir).entries()
    assert sorted(e.key.split for e in entries) == ["dev-first25", "test-first25"]
    stamps = {p: p.stat().st_mtime_ns for p in store_dir.rglob("*.npy")}

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert {p: p.stat().st_mtime_ns for p in store_dir.rglob("*.npy")} == stamps

    packed = tmp_path / "packed"
    exported = runner.invoke(
        app,
        [
            "embed",
            "--out",
            str(store_dir),
            "--task",
            "ps-role",
            "--export-prepacked",
            str(packed),
            "--train-split",
            "dev-first25",
            "--test-split",
            "test-first25",
        ],
    )
    assert exported.exit_code == 0, exported.output
    assert "train 25, test 25 examples, layers 0,6" in exported.output
    train = read_embeddings(packed / "embeddings" / "layers" / "train" / "6.txt")
    dev_entry = next(e for e in entries if e.key.split == "dev-first25")
    np.testing.assert_allclose(train, dev_entry.load(6), atol=5e-7 + 2e-6)
    assert [lab for _, lab in read_entities(packed / "entities" / "train.txt")] == [
        dev_entry.label_names[i] for i in dev_entry.labels()
    ]

    imported = runner.invoke(
        app,
        [
            "embed",
            "--out",
            str(tmp_path / "other"),
            "--import-prepacked",
            str(packed),
            "--model-name",
            "from-folder",
            "--task",
            "ps-role",
        ],
    )
    assert imported.exit_code == 0, imported.output
    assert "from-folder/ps-role/train/first: 25 x 384, layers 0,6" in imported.output


def test_embed_reports_bad_settings_in_one_line(tmp_path: Path, shared_data: Path) -> None:
    code = "from ftprobe.cli.main import main; main()"
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "embed",
            "--task",
            "ps-role",
            "--out",
            str(tmp_path),
            "--data-dir",
            str(shared_data),
            "--pooling",
            "max",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "unknown pooling 'max'" in out.stderr
    assert "Traceback" not in out.stderr
    assert not any(tmp_path.iterdir())
