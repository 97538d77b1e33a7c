"""A small pre-packed task for ``ftprobe probe`` and the command's flags for it.

Shared by the probe command's tests (``geometry/test_geometry_probe_cli.py``) and the
command line's fault tests (``cli/test_cli_faults.py``), so that both run the command on
the same folder layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_task(root: Path, seed: int = 0, tangled: bool = False) -> Path:
    """A small pre-packed folder in the published layout (labels c/a/b, one absent)."""
    rng = np.random.default_rng(seed)
    data = root / "data" / "T"
    for sub in ("entities", "labels", "embeddings/layers/train", "embeddings/layers/test"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    (data / "labels" / "tags.txt").write_text("c\na\nb\nzz\n", encoding="utf-8")
    for split, n in (("train", 60), ("test", 20)):
        if tangled:
            X = rng.normal(size=(n, 3))
            lab = np.where(np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2] > 0, "a", "b")
        else:
            lab = np.array(["a", "b", "c"])[np.arange(n) % 3]
            centres = {"a": (0.0, 0.0, 0.0), "b": (6.0, 0.0, 0.0), "c": (0.0, 6.0, 0.0)}
            X = np.array([centres[v] for v in lab]) + rng.normal(size=(n, 3))
        rows = [f"w{i}\t{v}\n" for i, v in enumerate(lab)]
        (data / "entities" / f"{split}.txt").write_text("".join(rows), encoding="utf-8")
        lines = [" ".join(f"{v:.6f}" for v in row) + "\n" for row in X]
        (data / "embeddings" / "layers" / split / "3.txt").write_text("".join(lines))
    return data


def probe_flags(data: Path, out: Path) -> list[str]:
    """``ftprobe probe``'s arguments for the layer-3 files of ``data``, written to ``out``."""
    return [
        "probe",
        "--train-embeddings",
        str(data / "embeddings/layers/train/3.txt"),
        "--train-entities",
        str(data / "entities/train.txt"),
        "--labels",
        str(data / "labels/tags.txt"),
        "--test-embeddings",
        str(data / "embeddings/layers/test/3.txt"),
        "--test-entities",
        str(data / "entities/test.txt"),
        "--out",
        str(out),
        "--quiet",
        "--device",
        "cpu",
    ]
