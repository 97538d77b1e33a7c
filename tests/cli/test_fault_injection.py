"""Fault injection: SIGKILL ``ftprobe run`` and ``ftprobe probe`` mid-work, then rerun.

After every kill the same command is run again; at the end the tables must be
byte-identical to those of an uninterrupted run and no temporary file or
staging folder may be left anywhere in the output folder. The kill points are
found by watching the output folder (training started, a checkpoint being
saved, an extraction, a DirectProbe clustering, the tables being written), so
each run is cut inside a different stage. ``ftprobe probe`` is killed during
its clustering, after saving its state, and resumed with ``--resume`` until it
ends with the files of an uninterrupted run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

STUDY = """
name = "faults"
seeds = [13]
[[model]]
name = "minilm"
path = "minilm-l6"
[[task]]
name = "ps-role"
train_split = "dev"
test_split = "test"
max_train = 60
max_test = 40
[finetune]
epochs = 1
batch_size = 8
save_every = 2
max_steps = 4
[representations]
all_layers_at = []
every_checkpoint = ["last"]
[probes]
hidden_sizes = [16, 16]
memorization = false
"""

# A temporary name anywhere in the tree: atomic writes, checkpoint and store staging.
TEMPORARY = re.compile(r"(\.tmp\b|\.tmp[-.]|^\.tmp|\.tmp$)")


def _command(study: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from ftprobe.cli.main import main; main()",
        "run",
        str(study),
        "--out",
        str(out),
    ]


# Each point is a path that appears, new in this run, when the stage is under way.
POINTS: list[tuple[str, re.Pattern[str]]] = [
    ("fine-tuning", re.compile(r"^jobs/finetune-[^/]+/run/log\.csv$")),
    ("checkpoint save", re.compile(r"^jobs/finetune-[^/]+/run/\.step-")),
    ("extraction", re.compile(r"^(jobs/extract-[^/]+|store/.*\.tmp.*)$")),
    ("DirectProbe", re.compile(r"^jobs/directprobe-[^/]+/clustering-state")),
    ("classifier probe", re.compile(r"^jobs/classifier-[^/]+$")),
    ("tables", re.compile(r"^tables(/|$)")),
]


def _paths(out: Path) -> set[str]:
    # os.walk skips folders that vanish while it looks (a staging folder renamed into place).
    found = set()
    for root, dirs, files in os.walk(out):
        rel = Path(root).relative_to(out)
        found.update((rel / name).as_posix() for name in dirs + files)
    return found


def _run(study: Path, out: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        _command(study, out), env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _kill_when(study: Path, out: Path, env: dict[str, str], point: re.Pattern[str]) -> bool:
    """Start a run and SIGKILL it once a new path matches ``point``; False if it ended first."""
    before = _paths(out)
    proc = subprocess.Popen(
        _command(study, out),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while proc.poll() is None:
            if any(point.search(p) for p in _paths(out) - before):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.01)
        return False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _tables(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "tables").iterdir())}


def _temporaries(out: Path) -> list[str]:
    return sorted(p for p in _paths(out) if TEMPORARY.search(p.rsplit("/", 1)[-1]))


def test_killed_runs_resume_to_the_uninterrupted_tables(tmp_path: Path, shared_data: Path) -> None:
    study = tmp_path / "faults.toml"
    study.write_text(STUDY, encoding="utf-8")
    env = {
        **os.environ,
        "FTPROBE_DATA": str(shared_data),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    reference = tmp_path / "reference"
    _run(study, reference, env)
    expected = _tables(reference)
    assert "representations.parquet" in expected and _temporaries(reference) == []

    out = tmp_path / "killed"
    cut = []
    for name, point in POINTS:
        if _kill_when(study, out, env, point):
            cut.append(name)
    # The stages come in order, so most points must have been hit; a point can be missed
    # only when its stage ends between two looks at the folder.
    assert len(cut) >= 5, cut
    _run(study, out, env)
    assert _tables(out) == expected, cut
    assert _temporaries(out) == [], cut


def _tangled_task(root: Path, n_train: int = 600, n_test: int = 100) -> list[str]:
    """A pre-packed task whose labels no hyperplane separates: many merges to decide."""
    rng = np.random.default_rng(5)
    (root / "labels.txt").write_text("a\nb\n", encoding="utf-8")
    for split, n in (("train", n_train), ("test", n_test)):
        X = rng.normal(size=(n, 3))
        lab = np.where(np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2] > 0, "a", "b")
        (root / f"{split}.entities").write_text(
            "".join(f"w{i}\t{v}\n" for i, v in enumerate(lab)), encoding="utf-8"
        )
        (root / f"{split}.vectors").write_text(
            "".join(" ".join(f"{v:.6f}" for v in row) + "\n" for row in X), encoding="utf-8"
        )
    return [
        "--train-embeddings",
        str(root / "train.vectors"),
        "--train-entities",
        str(root / "train.entities"),
        "--labels",
        str(root / "labels.txt"),
        "--test-embeddings",
        str(root / "test.vectors"),
        "--test-entities",
        str(root / "test.entities"),
        "--device",
        "cpu",
        "--quiet",
    ]


def test_killed_probe_resumes_to_the_uninterrupted_files(tmp_path: Path) -> None:
    from ftprobe.geometry.runner import STATE_FILE

    flags = _tangled_task(tmp_path)
    probe = [sys.executable, "-c", "from ftprobe.cli.main import main; main()", "probe", *flags]
    whole = tmp_path / "whole"
    done = subprocess.run([*probe, "--out", str(whole)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    cut = tmp_path / "cut"
    kills = 0
    for attempt in range(3):
        resume = ["--resume"] if (cut / STATE_FILE).exists() else []
        args = [*probe, "--out", str(cut), "--save-every", "0", *resume]
        if attempt == 0:
            args.append("--overwrite")
        proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        seen = None
        while proc.poll() is None:
            state = cut / STATE_FILE
            if state.exists():
                # Let it decide a few more merges after the first save, then cut it off.
                seen = seen or time.monotonic()
                if time.monotonic() - seen > 0.3:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    kills += 1
                    break
            time.sleep(0.005)
    assert kills >= 2, "the clustering ended before it could be killed twice"
    resumed = subprocess.run(
        [*probe, "--out", str(cut), "--resume"], capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    for name in ("clusters.txt", "dis.txt", "vec.txt", "prediction.txt", "outside_min.txt"):
        assert (cut / name).read_bytes() == (whole / name).read_bytes(), name
    assert not (cut / STATE_FILE).exists() and _temporaries(cut) == []
