"""Probe controls: control tasks and shuffled labels, their jobs, plans and tables."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ftprobe.errors import ConfigError
from ftprobe.probes.controls import control_task, selectivity, shuffled_labels
from ftprobe.study import execute
from ftprobe.study.job_specs import ClassifierJob, ControlJob, DirectProbeJob, DirectProbeParams
from ftprobe.study.jobs_model import Job
from ftprobe.study.plan import plan_study
from ftprobe.study.spec import ProbeSpec, load_study


def test_a_control_task_built_twice_from_one_seed_is_identical() -> None:
    train = ["the", "cat", "sat", "on", "the", "mat", "cat"]
    y = [0, 1, 2, 0, 0, 1, 1]
    test = ["the", "dog", "mat", "dog", "ran"]
    a = control_task(train, y, test, n_labels=4, seed=11)
    b = control_task(train, y, test, n_labels=4, seed=11)
    assert a.train.tolist() == b.train.tolist() and a.test.tolist() == b.test.tolist()
    assert a.types == b.types
    # One label per type, on both splits; unseen test types ("dog", "ran") get one too.
    for types, labels in ((train, a.train), (test, a.test)):
        for t, label in zip(types, labels, strict=True):
            assert a.types[t] == label
    assert a.n_train_types == 5 and a.n_unseen_test == 3
    # Label 3 never occurs in training, so the control never draws it.
    assert 3 not in a.types.values()
    # The training labels do not depend on which test split comes with them.
    assert control_task(train, y, [], 4, 11).train.tolist() == a.train.tolist()
    seeds = {tuple(control_task(train, y, test, 4, s).train.tolist()) for s in range(20)}
    assert len(seeds) > 1


def test_control_labels_follow_the_training_label_distribution() -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(3, size=20_000, p=[0.6, 0.3, 0.1])
    types = [f"w{i}" for i in range(len(y))]  # every unit its own type
    control = control_task(types, y, [], n_labels=3, seed=4)
    share = np.bincount(control.train, minlength=3) / len(y)
    assert np.allclose(share, [0.6, 0.3, 0.1], atol=0.015)


def test_shuffled_labels_keep_the_counts_and_are_seeded() -> None:
    y = np.repeat(np.arange(4), 50)
    a, b = shuffled_labels(y, 3), shuffled_labels(y, 3)
    assert a.tolist() == b.tolist()
    assert np.bincount(a).tolist() == np.bincount(y).tolist()
    assert a.tolist() != y.tolist() and a.tolist() != shuffled_labels(y, 4).tolist()


def test_selectivity_is_a_difference_and_nan_when_undefined() -> None:
    assert selectivity(0.9, 0.25) == pytest.approx(0.65)
    assert math.isnan(selectivity(None, 0.3)) and math.isnan(selectivity(0.9, None))


def _linear_task(monkeypatch: pytest.MonkeyPatch) -> float:
    """Labels that are a linear function of the vectors (argmax of 4 directions), every unit
    its own type; returns the chance accuracy of the control (4 balanced labels: 1/4)."""
    rng = np.random.default_rng(1)
    W = np.random.default_rng(2).normal(size=(8, 4))
    X = rng.normal(size=(1600, 8)).astype(np.float32)
    Xt = rng.normal(size=(600, 8)).astype(np.float32)
    splits = {"train": (X, np.argmax(X @ W, axis=1)), "test": (Xt, np.argmax(Xt @ W, axis=1))}
    names = ["a", "b", "c", "d"]
    types = {key: [f"{key}-{i}" for i in range(len(v[1]))] for key, v in splits.items()}
    monkeypatch.setattr(execute, "load_vectors", lambda out, key, layer: (*splits[key], names))
    monkeypatch.setattr(execute, "load_types", lambda out, key: types[key])
    shares = np.bincount(splits["train"][1], minlength=4) / 1600
    return float(np.sum(shares**2))


def _job(control: str | None = None) -> Job:
    settings = ProbeSpec(hidden_sizes=(32, 32)).classifier_params()
    if control is None:
        return Job.of(ClassifierJob("train", "test", 1, settings, seed=5))
    return Job.of(ControlJob("train", "test", 1, settings, seed=5, control=control))


def test_selectivity_on_a_linear_task_is_task_accuracy_minus_chance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chance = _linear_task(monkeypatch)
    task = execute.run_classifier(_job(), tmp_path)
    control = execute.run_control(_job("control-task"), tmp_path)
    assert task["accuracy"] > 0.9
    # Unique types: no test type was seen, so the control's test labels are pure draws.
    assert control["n_test_unseen"] == 600 and control["n_train_types"] == 1600
    assert control["accuracy"] == pytest.approx(chance, abs=0.06)
    assert selectivity(task["accuracy"], control["accuracy"]) == pytest.approx(
        task["accuracy"] - chance, abs=0.06
    )
    shuffled = execute.run_control(_job("shuffled"), tmp_path)
    assert shuffled["accuracy"] < 0.45  # nothing to learn from permuted labels
    assert "n_train_types" not in shuffled


@pytest.fixture(scope="module")
def quickstart(repo_studies: Path) -> Path:
    """The quick-start study that the controls are added to."""
    return repo_studies / "quickstart.toml"


def _study(quickstart: Path, tmp_path: Path, controls: str) -> object:
    text = quickstart.read_text(encoding="utf-8")
    text = text.replace("restarts = 1", f"restarts = 1\n{controls}")
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    return load_study(path)


SIZES = {"ps-role": 300, "ps-fxn": 300, "pos": 150, "dep": 150, "trec-50": 500}


def test_controls_add_jobs_and_change_none_of_the_quick_starts(
    quickstart: Path, tmp_path: Path
) -> None:
    plain = plan_study(load_study(quickstart), SIZES, {"minilm": 6})
    on = plan_study(
        _study(
            quickstart,
            tmp_path,
            'controls = ["control-task", "shuffled", "random-init"]\nmdl = true',
        ),
        SIZES,
        {"minilm": 6},
    )
    assert set(plain.jobs) < set(on.jobs)
    added = [on.jobs[k] for k in set(on.jobs) - set(plain.jobs)]
    n_clf = plain.count()["classifier"]
    kinds = {kind: sum(j.kind == kind for j in added) for kind in {j.kind for j in added}}
    assert kinds["control"] == 2 * n_clf + kinds["classifier"]  # + the random-init encoder's
    assert kinds["mdl"] == 2 * n_clf
    assert kinds["randominit"] == 1  # one model, one seed
    assert kinds["directprobe"] == n_clf  # DirectProbe on each representation's control task
    for job in added:
        if job.kind == "extract":
            assert job.params["random_init"] == next(
                k for k, j in on.jobs.items() if j.kind == "randominit"
            )
    assert all(len(r.controls) == 2 and len(r.mdl) == 2 for r in on.rows)
    assert not any(r.controls or r.mdl for r in plain.rows) and not plain.baselines
    # The baseline covers every task and layer represented before fine-tuning.
    assert {(b.task, b.layer) for b in on.baselines} == {
        (r.task, r.layer) for r in on.rows if r.step == 0
    }


def test_an_unknown_control_names_the_file_section_and_choices(
    quickstart: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"study\.toml: \[probes\] controls names 'random'"):
        _study(quickstart, tmp_path, 'controls = ["random"]')
    with pytest.raises(ConfigError, match=r"\[probes\] controls must be a list"):
        _study(quickstart, tmp_path, 'controls = "shuffled"')


def test_the_controls_table_sets_each_control_beside_its_task(tmp_path: Path) -> None:
    from ftprobe.study.plan import Plan, RepresentationRow
    from ftprobe.study.runner import job_dir, write_result
    from ftprobe.study.tables import collect_tables, read_tables, write_tables

    for key, record in {
        "classifier-a": {"accuracy": 0.9},
        "control-t": {"accuracy": 0.3, "train_accuracy": 0.8, "n_train_types": 40},
        "control-s": {"accuracy": 0.2},
        "directprobe-t": {"n_clusters": 5, "n_labels_present": 5},
        "directprobe-c": {"n_clusters": 9, "n_labels_present": 4, "accuracy": 0.5},
    }.items():
        write_result(job_dir(tmp_path, key), {"kind": key.split("-")[0], **record})
    row = dict(seed=1, model="m", finetune_task="t", is_last_step=False, task="t", layer=2)
    row.update(extract_train="x", directprobe_train=None, directprobe_test=None, curve=None)
    plan = Plan(
        rows=[
            RepresentationRow(
                step=0,
                classifier="classifier-a",
                controls={"control-task": "control-t", "shuffled": "control-s"},
                directprobe_control="directprobe-c",
                **{**row, "directprobe_train": "directprobe-t"},
            ),
            # A representation whose task probe has not run: selectivity NaN, with the reason.
            RepresentationRow(
                step=5, classifier="classifier-b", controls={"shuffled": "control-s"}, **row
            ),
        ]
    )
    tables = collect_tables(plan, tmp_path)
    controls = tables["controls"].set_index(["step", "control"])
    assert controls.loc[(0, "control-task"), "selectivity"] == pytest.approx(0.6)
    assert controls.loc[(0, "shuffled"), "selectivity"] == pytest.approx(0.7)
    assert controls.loc[(0, "control-task"), "n_train_types"] == 40
    assert math.isnan(controls.loc[(0, "shuffled"), "n_train_types"])
    # DirectProbe's view of the control task, beside the task's own clusters.
    dp = controls.loc[(0, "control-task")]
    assert (dp["n_clusters"], dp["n_labels_present"], dp["task_n_clusters"]) == (9, 4, 5)
    assert dp["dp_accuracy"] == pytest.approx(0.5)
    assert math.isnan(controls.loc[(0, "shuffled"), "n_clusters"])
    assert math.isnan(controls.loc[(5, "shuffled"), "selectivity"])
    assert controls.loc[(5, "shuffled"), "selectivity_reason"].startswith("no classifier")
    write_tables(tables, tmp_path)
    back = read_tables(tmp_path)
    assert list(back["controls"].columns) == list(tables["controls"].columns)
    # Without the other measures their tables are empty but keep their columns.
    assert back["mdl"].empty and "compression" in back["mdl"].columns
    assert back["random_init"].empty and "selectivity" in back["random_init"].columns


def test_controls_and_mdl_need_the_classifier_and_rising_fractions(
    quickstart: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"\[probes\] controls and mdl .* classifier = true"):
        _study(quickstart, tmp_path, 'controls = ["shuffled"]\nclassifier = false')
    with pytest.raises(ConfigError, match=r"\[probes\] mdl .* must then rise strictly"):
        _study(quickstart, tmp_path, "mdl = true\nfractions = [0.5, 0.2, 1.0]")


def test_directprobe_finds_a_control_task_on_word_blobs_linear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve types, each a tight blob in 16 dimensions: any labelling of the types is linear
    (12 points in general position in 16-D), so the control task has as many clusters as labels,
    as the task does: linearity alone says little."""
    rng = np.random.default_rng(3)
    centres = np.random.default_rng(4).normal(scale=5.0, size=(12, 16))
    word = np.repeat(np.arange(12), 20)
    X = centres[word] + rng.normal(scale=0.05, size=(240, 16))
    Xt = centres[word] + rng.normal(scale=0.05, size=(240, 16))
    y = word % 3  # the task: three labels, each a union of four types
    names = ["a", "b", "c"]
    splits = {"train": (X, y), "test": (Xt, y)}
    monkeypatch.setattr(execute, "load_vectors", lambda out, key, layer: (*splits[key], names))
    monkeypatch.setattr(execute, "load_types", lambda out, key: [f"w{w}" for w in word])
    dp = DirectProbeParams(min_cluster_size=5)
    task = execute.run_directprobe(Job.of(DirectProbeJob("train", "test", 1, dp)), tmp_path)
    control = execute.run_directprobe(
        Job.of(DirectProbeJob("train", "test", 1, dp, control="control-task", seed=8)), tmp_path
    )
    expected = control_task([f"w{w}" for w in word], y, [], 3, 8).train
    assert control["n_labels_present"] == len(set(expected.tolist())) >= 2
    assert task["n_clusters"] == task["n_labels_present"] == 3
    assert control["n_clusters"] == control["n_labels_present"]
    assert control["accuracy"] == 1.0  # each test blob sits on its type's training blob
