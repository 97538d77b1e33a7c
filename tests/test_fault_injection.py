"""Fault injection: SIGKILL ``ftprobe run`` at several points of a small study, rerun.

After every kill the same command is run again; at the end the tables must be
byte-identical to those of an uninterrupted run and no temporary file or
staging folder may be left anywhere in the output folder. The kill points are
found by watching the output folder (training started, a checkpoint being
saved, an extraction, a DirectProbe clustering, the tables being written), so
each run is cut inside a different stage.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

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
