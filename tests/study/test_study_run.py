"""The study runner end to end on the smoke study: results, reuse, resume."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from ftprobe.study.execute import execute_job
from ftprobe.study.executors import SequentialExecutor
from ftprobe.study.runner import run_plan
from ftprobe.study.session import StudySession
from ftprobe.study.tables import collect_tables, read_tables

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_env(shared_data: Path) -> Iterator[None]:
    old = os.environ.get("FTPROBE_DATA")
    os.environ["FTPROBE_DATA"] = str(shared_data)
    yield
    if old is None:
        os.environ.pop("FTPROBE_DATA", None)
    else:
        os.environ["FTPROBE_DATA"] = old


@pytest.fixture(scope="module")
def smoke(repo_studies: Path) -> Path:
    """The smoke study: the quickstart shrunk to minutes."""
    return repo_studies / "smoke.toml"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, smoke: Path, data_env: None) -> Path:
    out = tmp_path_factory.mktemp("smoke")
    StudySession.open(smoke, out).run_or_raise(SequentialExecutor(), progress=False)
    return out


def test_smoke_study_fills_every_table(smoke_run: Path) -> None:
    tables = read_tables(smoke_run)
    reps = tables["representations"]
    train = reps[reps["split"] == "train"]
    # ps-role fine-tuned for 4 updates, saved at 0, 2, 4; ps-fxn and dep probed as cross tasks.
    assert sorted(train["step"].unique()) == [0, 2, 4]
    assert set(train["task"]) == {"ps-role", "ps-fxn", "dep"}
    assert set(train["layer"]) == {0, 6}
    assert train["clf_accuracy"].between(0, 1).all()
    # The smoke study's probe: two hidden layers of 64, two restarts, hence a spread.
    assert (train["clf_hidden_sizes"] == "64x64").all() and (train["clf_restarts"] == 2).all()
    assert train["clf_accuracy_sd"].notna().all() and not train["clf_search"].any()
    assert tables["classifier_search"].empty
    assert train["dp_accuracy"].between(0, 1).all()
    assert (train["n_clusters"] >= train["n_labels_present"]).all()
    labels = tables["labels"]
    width = labels.groupby("task")["centroid"].first().map(len)
    # A DEP pair is its head's and its dependent's vectors side by side.
    assert width.to_dict() == {"ps-role": 384, "ps-fxn": 384, "dep": 768}
    assert not tables["label_pairs"].empty
    curves = tables["curves"]
    assert set(curves["eval_split"]) == {"subtrain", "subtest", "test"}
    assert set(curves["step"]) == {0, 4}
    cka = tables["cka"]
    assert set(cka["step"]) == {2, 4}
    # Fine-tuning moved the last layer more than the embedding layer.
    last = cka[(cka["step"] == 4) & (cka["task"] == "ps-role")].set_index("layer")["cka"]
    assert last[6] < last[0] <= 1.0 + 1e-9


def test_second_run_does_no_work(smoke: Path, smoke_run: Path, data_env: None) -> None:
    session = StudySession.open(smoke, smoke_run)
    assert session.pending() == []
    report = session.run(SequentialExecutor(), progress=False)
    assert report.ran == [] and report.failed == {}
    assert len(report.reused) == len(session.plan.jobs)


def test_interrupted_run_resumes_to_the_same_tables(
    smoke: Path, smoke_run: Path, tmp_path: Path, data_env: None
) -> None:
    out = tmp_path / "resumed"
    session = StudySession.open(smoke, out)
    calls = {"n": 0}

    def interrupt_after_ten(job, out_dir):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 10:
            raise KeyboardInterrupt
        return execute_job(job, out_dir)

    with pytest.raises(KeyboardInterrupt):
        run_plan(session.plan, out, interrupt_after_ten, SequentialExecutor(), progress=False)
    assert 0 < len(session.plan.jobs) - len(session.pending()) <= 10
    report = session.run(SequentialExecutor(), progress=False)
    assert report.failed == {} and len(report.reused) == 10
    resumed = collect_tables(session.plan, out)
    original = read_tables(smoke_run)
    for name, frame in resumed.items():
        pd.testing.assert_frame_equal(
            frame.reset_index(drop=True), original[name].reset_index(drop=True), check_dtype=False
        )
    shutil.rmtree(out)


def _copy_of(smoke: Path, smoke_run: Path, out: Path) -> tuple[Path, StudySession]:
    """A copy of the smoke study's folder at ``out``, opened as a session."""
    shutil.copytree(smoke_run, out)
    return out, StudySession.open(smoke, out)


def test_a_damaged_job_result_is_run_again_not_reused(
    smoke: Path, smoke_run: Path, tmp_path: Path, data_env: None
) -> None:
    out, session = _copy_of(smoke, smoke_run, tmp_path / "damaged")
    key = next(k for k, j in session.plan.jobs.items() if j.kind == "directprobe")
    result = out / "jobs" / key / "result.json"
    result.write_bytes(result.read_bytes()[:40])  # truncated, as by a full disk elsewhere
    with pytest.warns(UserWarning, match=r"result\.json: damaged job result.*will run again"):
        assert [j.key for j in session.pending()] == [key]
    # `ftprobe status` says so in one line instead of a traceback.
    from typer.testing import CliRunner

    from ftprobe.cli.main import app

    shown = CliRunner().invoke(app, ["status", str(out)])
    assert shown.exit_code == 0 and "Traceback" not in shown.output
    report = session.run(SequentialExecutor(), progress=False)
    assert report.ran == [key] and report.failed == {}
    assert session.pending() == []
    shutil.rmtree(out)


def test_the_curve_job_reads_the_split_fine_tuning_saved(
    smoke: Path, smoke_run: Path, tmp_path: Path, data_env: None
) -> None:
    out, session = _copy_of(smoke, smoke_run, tmp_path / "split")
    (finetune,) = [k for k, j in session.plan.jobs.items() if j.kind == "finetune"]
    curves = [k for k, j in session.plan.jobs.items() if j.kind == "curve"]
    before = {k: json.loads((out / "jobs" / k / "result.json").read_text()) for k in curves}
    # Swap the saved sides (still a partition of the same examples): a curve that drew
    # its own split again would not notice, one that reads the saved split does.
    saved = out / "jobs" / finetune / "run" / "split.json"
    record = json.loads(saved.read_text())
    record["subtrain"], record["subtest"] = record["subtest"], record["subtrain"]
    saved.write_text(json.dumps(record))
    for key in curves:
        shutil.rmtree(out / "jobs" / key)
    report = session.run(SequentialExecutor(), progress=False)
    assert sorted(report.ran) == sorted(curves) and report.failed == {}
    for key in curves:
        after = json.loads((out / "jobs" / key / "result.json").read_text())
        assert after["n_subtrain"] == before[key]["n_subtest"]
        assert after["n_subtest"] == before[key]["n_subtrain"]
    shutil.rmtree(out)


def test_status_works_from_the_study_folder_alone(smoke_run: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ftprobe.cli.main import app

    # The corpora are gone from where the run found them: the folder still knows its jobs.
    shown = CliRunner().invoke(
        app, ["status", str(smoke_run)], env={"FTPROBE_DATA": str(tmp_path / "gone")}
    )
    assert shown.exit_code == 0, shown.output
    assert "to do:" not in shown.output
    jobs = json.loads((smoke_run / "plan.json").read_text("utf-8"))["jobs"].values()
    n_directprobe = sum(job["kind"] == "directprobe" for job in jobs)
    rows = [line for line in shown.output.splitlines() if "directprobe" in line]
    # kind, done, to do: every DirectProbe job of the plan done, none left.
    assert len(rows) == 1 and re.findall(r"\d+", rows[0]) == [str(n_directprobe), "0"], rows
