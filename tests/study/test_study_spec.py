"""Study files: valid ones plan the expected jobs; broken ones fail before any work."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from ftprobe.encode.settings import FinetuneSettings
from ftprobe.errors import ConfigError
from ftprobe.study.plan import checkpoint_steps, plan_study
from ftprobe.study.spec import load_study

BASE = """
name = "t"
[[model]]
name = "m"
path = "minilm-l6"
[[task]]
name = "ps-role"
train_split = "dev"
test_split = "test"
[[task]]
name = "ps-fxn"
train_split = "dev"
test_split = "test"
[finetune]
epochs = 1
batch_size = 16
save_every = 10
tasks = ["ps-fxn"]
[representations]
all_layers_at = ["first", "last"]
every_checkpoint = ["last"]
[[cross]]
finetune = "ps-role"
probe = "ps-fxn"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _steps(n: int, epochs: int, save_every: int, max_steps: int | None = None) -> list[int]:
    settings = FinetuneSettings(epochs=epochs, batch_size=16, save_every=save_every)
    return checkpoint_steps(n, replace(settings, max_steps=max_steps))


def test_checkpoint_steps_include_start_every_n_and_end() -> None:
    assert _steps(100, epochs=2, save_every=5) == [0, 5, 10, 14]
    assert _steps(100, epochs=2, save_every=7) == [0, 7, 14]
    assert _steps(100, epochs=5, save_every=10, max_steps=12) == [0, 10, 12]


def test_plan_covers_all_layers_at_ends_and_last_layer_between(tmp_path: Path) -> None:
    study = load_study(_write(tmp_path, BASE))
    assert study.finetune_tasks == ("ps-fxn", "ps-role")
    plan = plan_study(study, {"ps-role": 40, "ps-fxn": 40}, {"m": 6})
    steps = _steps(40, 1, 10)
    assert steps == [0, 3]
    own = [r for r in plan.rows if r.finetune_task == "ps-fxn" and r.task == "ps-fxn"]
    assert {(r.step, r.layer) for r in own} == {(s, layer) for s in steps for layer in range(7)}
    cross = [r for r in plan.rows if r.finetune_task == "ps-role"]
    assert {r.task for r in cross} == {"ps-role", "ps-fxn"}
    # The base model's representation is planned once, whichever run it starts.
    base_fxn = {r.directprobe_train for r in plan.rows if r.task == "ps-fxn" and r.step == 0}
    assert len(base_fxn) == 7
    assert plan.count()["finetune"] == 2


def test_checkpoints_without_layers_extract_nothing(tmp_path: Path) -> None:
    # Only the first and last checkpoint are represented: a seeds study must not pay
    # for extracting the checkpoints in between.
    study = load_study(
        _write(tmp_path, BASE.replace('every_checkpoint = ["last"]', "every_checkpoint = []"))
    )
    plan = plan_study(study, {"ps-role": 400, "ps-fxn": 400}, {"m": 6})
    assert _steps(400, 1, 10) == [0, 10, 20, 25]
    assert {r.step for r in plan.rows} == {0, 25}
    extracted = {job.params["step"] for job in plan.jobs.values() if job.kind == "extract"}
    assert extracted == {0, 25}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.replace('probe = "ps-fxn"', 'probe = "ps-fnx"'), "'ps-fnx' is no [[task]]"),
        (lambda s: s.replace('tasks = ["ps-fxn"]', 'tasks = ["pos"]'), "'pos'"),
        (lambda s: s.replace('[[model]]\nname = "m"\npath = "minilm-l6"\n', ""), "no [[model]]"),
        (lambda s: s.replace('path = "minilm-l6"', ""), "missing key(s): path"),
        (lambda s: s.replace("epochs = 1", "epochs = 0"), "epochs"),
        (lambda s: s.replace("epochs = 1", "epocs = 1"), "unknown key(s) in [finetune]: epocs"),
        (lambda s: s + "\n[[bogus]]\nx = 1\n", "unknown top-level key(s): bogus"),
        (lambda s: s.replace("[finetune]", "[finetune\n"), "not valid TOML"),
        # Types: a boolean is no number, a string no integer, options a table.
        (
            lambda s: s.replace("epochs = 1", "epochs = true"),
            "[finetune] epochs must be an integer",
        ),
        (
            lambda s: s.replace(
                'test_split = "test"\n', 'test_split = "test"\nmax_train = "120"\n', 1
            ),
            "[[task]] #1: max_train must be an integer, got '120'",
        ),
        (
            lambda s: s + '\n[probes]\nfractions = ["half"]\n',
            "[probes] fractions must be a list of numbers",
        ),
        (
            lambda s: s.replace(
                'test_split = "test"\n', 'test_split = "test"\noptions = "skip"\n', 1
            ),
            "[[task]] #1: options must be a table",
        ),
        # Ranges and references.
        (
            lambda s: s.replace(
                'test_split = "test"\n', 'test_split = "test"\nmax_train = -5\n', 1
            ),
            "[[task]] #1: max_train must be >= 0",
        ),
        (lambda s: s + "\n[probes]\nmin_cluster_size = -1\n", "min_cluster_size must be 0 or more"),
        (lambda s: s + "\n[probes]\nfractions = [0.5, 1.5]\n", "fractions must lie in (0, 1]"),
        (
            lambda s: s.replace('finetune = "ps-role"', 'finetune = "ps-fxn"'),
            "cross-task pair ps-fxn -> ps-fxn names one task twice",
        ),
    ],
)
def test_broken_study_files_fail_clearly(tmp_path: Path, edit, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_study(_write(tmp_path, edit(BASE)))


def test_layer_out_of_range_is_rejected_at_planning(tmp_path: Path) -> None:
    study = load_study(
        _write(tmp_path, BASE.replace('every_checkpoint = ["last"]', 'every_checkpoint = ["9"]'))
    )
    with pytest.raises(ConfigError, match="layer 9 is out of range"):
        plan_study(study, {"ps-role": 40, "ps-fxn": 40}, {"m": 6})


def test_a_checkpoint_step_that_is_never_saved_is_rejected_at_planning(tmp_path: Path) -> None:
    study = load_study(
        _write(tmp_path, BASE.replace('all_layers_at = ["first", "last"]', "all_layers_at = [3]"))
    )
    with pytest.raises(ConfigError, match=r"all_layers_at names step 3, .*checkpoints: 0, 10"):
        plan_study(study, {"ps-role": 400, "ps-fxn": 400}, {"m": 6})


def test_missing_study_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such study file"):
        load_study(tmp_path / "nope.toml")


def test_probe_settings_default_to_two_hidden_layers_and_parse_from_probes(
    tmp_path: Path,
) -> None:
    default = load_study(_write(tmp_path, BASE)).probes
    assert default.hidden_sizes == (256, 256)
    assert (default.search, default.restarts) == (False, 1)
    text = BASE + (
        "\n[probes]\nhidden_sizes = [64, 32]\nl2 = 1e-3\nsearch = true\nrestarts = 5\n"
        "search_sizes = [32, 64]\nsearch_l2 = [1e-7, 1]\nsearch_fraction = 0.15\n"
    )
    probes = load_study(_write(tmp_path, text)).probes
    assert probes.hidden_sizes == (64, 32) and probes.l2 == 1e-3
    assert probes.search and probes.restarts == 5
    assert probes.search_sizes == (32, 64) and probes.search_l2 == (1e-7, 1)
    assert probes.search_fraction == 0.15


@pytest.mark.parametrize(
    ("probes", "message"),
    [
        ("hidden_size = 256", "[probes] hidden_size is now hidden_sizes"),
        ("hidden_sizes = 256", "[probes] hidden_sizes must be a list"),
        ("hidden_sizes = []", "[probes] hidden_sizes must be a non-empty list"),
        ("hidden_sizes = [64, 0]", "[probes] hidden_sizes must be a non-empty list"),
        ('hidden_sizes = ["64"]', "[probes] hidden_sizes must be a list of integers"),
        ("l2 = -1", "[probes] l2 must be a non-negative number"),
        ('search = "yes"', "[probes] search must be true or false"),
        ("restarts = 0", "[probes] restarts must be a positive integer"),
        ("search_l2 = []", "[probes] search_l2 must be a non-empty list"),
        ("search_sizes = [32, -1]", "[probes] search_sizes must be"),
        ("search_fraction = 1.0", "[probes] search_fraction must lie strictly between"),
        (
            "min_cluster_size = -1",
            "[probes] min_cluster_size must be 0 or more (0 counts every cluster), not -1",
        ),
        ("min_cluster_size = 2.5", "[probes] min_cluster_size must be an integer"),
    ],
)
def test_bad_probe_settings_name_the_file_section_and_key(
    tmp_path: Path, probes: str, message: str
) -> None:
    path = _write(tmp_path, BASE + f"\n[probes]\n{probes}\n")
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_study(path)
    assert str(path.resolve()) in str(caught.value) or str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("learning_rate = 0", "[finetune] the learning rate and gradient-norm limit must be"),
        ("weight_decay = -0.1", "[finetune] the learning rate and gradient-norm limit must be"),
        ("warmup_ratio = 1.0", "[finetune] warm-up ratio must be in [0, 1), got 1.0"),
    ],
)
def test_bad_finetune_settings_fail_at_load_not_in_the_job(
    tmp_path: Path, edit: str, message: str
) -> None:
    # Fine-tuning's own settings object is built when the study is read, so a value it
    # refuses stops the study before an hour of work, not when its first run starts.
    path = _write(tmp_path, BASE.replace("epochs = 1", f"epochs = 1\n{edit}"))
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_study(path)
    assert str(path.resolve()) in str(caught.value)


def _probe_keys(tmp_path: Path, probes: str) -> tuple[set[str], set[str]]:
    study = load_study(_write(tmp_path, BASE + f"\n[probes]\n{probes}\n"))
    plan = plan_study(study, {"ps-role": 40, "ps-fxn": 40}, {"m": 6})
    jobs = plan.jobs.values()
    return (
        {j.key for j in jobs if j.kind == "classifier"},
        {j.key for j in jobs if j.kind == "curve"},
    )


def test_probe_settings_are_in_the_probe_jobs_keys(tmp_path: Path) -> None:
    base = _probe_keys(tmp_path, "")
    assert base == _probe_keys(tmp_path, "hidden_sizes = [256, 256]\nrestarts = 1")
    for changed in ("restarts = 5", "search = true", "hidden_sizes = [128, 64]", "l2 = 0.01"):
        classifier, curve = _probe_keys(tmp_path, changed)
        assert classifier.isdisjoint(base[0]), changed
        assert curve.isdisjoint(base[1]), changed
    # The search's grid matters only when the search runs, and then it is in the key.
    assert _probe_keys(tmp_path, "search_l2 = [1e-3]") == base
    searched = _probe_keys(tmp_path, "search = true")
    assert _probe_keys(tmp_path, "search = true\nsearch_l2 = [1e-3]")[0].isdisjoint(searched[0])


def _session_keys(study_file: Path, out: Path, data: Path) -> tuple[dict[str, set[str]], object]:
    import os

    from ftprobe.study.session import StudySession

    old = os.environ.get("FTPROBE_DATA")
    os.environ["FTPROBE_DATA"] = str(data)
    try:
        session = StudySession.open(study_file, out)
    finally:
        if old is None:
            os.environ.pop("FTPROBE_DATA", None)
        else:
            os.environ["FTPROBE_DATA"] = old
    keys: dict[str, set[str]] = {}
    for key, job in session.plan.jobs.items():
        if job.kind in ("finetune", "extract"):
            keys.setdefault(str(job.params["task"]), set()).add(key)
    return keys, session


def test_job_keys_cover_the_corpus_content_not_its_place(tmp_path: Path, shared_data: Path) -> None:
    import json
    import shutil

    study_file = _write(tmp_path, BASE)
    original, session = _session_keys(study_file, tmp_path / "out", shared_data)
    # The same files in another folder are the same data: every job is reused.
    moved = tmp_path / "moved"
    shutil.copytree(shared_data, moved)
    assert _session_keys(study_file, tmp_path / "out", moved)[0] == original
    # One changed byte in STREUSLE's test split: both tasks read it, so none of their
    # fine-tuning or extraction jobs may be reused.
    test_file = moved / "streusle" / "streusle.ud_test.conllulex"
    text = test_file.read_text(encoding="utf-8")
    test_file.write_text(text.replace("\n# text = ", "\n# text =  ", 1), encoding="utf-8")
    edited = _session_keys(study_file, tmp_path / "out", moved)[0]
    assert all(edited[task].isdisjoint(original[task]) for task in original)
    # The study folder records the data folder and every file's SHA-256.
    session.record_inputs()
    inputs = json.loads((tmp_path / "out" / "inputs.json").read_text(encoding="utf-8"))
    assert inputs["data_dir"] == str(shared_data.resolve())
    files = inputs["tasks"]["ps-role"]["files"]
    assert {Path(p).name for p in files} == {
        "streusle.ud_dev.conllulex",
        "streusle.ud_test.conllulex",
    }
    assert all(len(sha) == 64 for sha in files.values())
