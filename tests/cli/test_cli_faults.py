"""Faults and hostile inputs at the command line: one clear line, the right exit status.

Every failure ends in one line on stderr: user text in it is printed as it is
(never read as console markup), a file-system failure names the path and what
to do (exit 2), and an internal error says so in one line (exit 1) with the
traceback only under ``--debug``.
"""

from __future__ import annotations

import ast
import errno
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from tests.probe_task import probe_flags, write_task

if TYPE_CHECKING:
    from ftprobe.geometry.runner import ProbeJob


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


# -- messages quote user text literally ---------------------------------------


def test_a_bracketed_folder_name_is_printed_as_it_is(
    tmp_path: Path, run_main: Callable[..., tuple[int, str, str]]
) -> None:
    data = write_task(tmp_path / "run[bold]x")
    (data / "labels" / "tags.txt").write_text("")  # an empty label set names its file
    code, _, err = run_main(*probe_flags(data, tmp_path / "out"))
    assert code == 2
    line = _one_error_line(err)
    assert f"{data / 'labels' / 'tags.txt'}: " in line
    assert "run[bold]x" in line


def test_config_sections_in_an_error_keep_their_brackets(
    tmp_path: Path, run_main: Callable[..., tuple[int, str, str]]
) -> None:
    cfg = tmp_path / "config.ini"
    cfg.write_text("[clustering]\nmode = probing\n")
    code, _, err = run_main("probe", "--config", str(cfg))
    assert code == 2
    assert "section [data] has no key " in _one_error_line(err)


def test_a_bracketed_label_shows_in_the_counts_table(
    tmp_path: Path, run_main: Callable[..., tuple[int, str, str]]
) -> None:
    tsv = tmp_path / "[b]ner.tsv"
    tsv.write_text("tokens\tlabel\nI live\t[bold]B-LOC\nyou are\tO\n", encoding="utf-8")
    code, out, _ = run_main("data", "show", f"tsv:{tsv}")
    assert code == 0
    assert "[bold]B-LOC" in out
    assert f"tsv:{tsv}: 2 labels" in out


def test_help_quotes_config_sections(run_main: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = run_main("probe", "--help")
    assert code == 0
    assert "[run]" in out and "[data] paths" in out and "[clustering]" in out


# -- file-system failures: one line naming the path, exit 2 -------------------


def test_out_under_a_file_names_the_path(
    tmp_path: Path, run_main: Callable[..., tuple[int, str, str]]
) -> None:
    data = write_task(tmp_path)
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    out = tmp_path / "notes.txt" / "out"
    code, _, err = run_main(*probe_flags(data, out))
    assert code == 2
    line = _one_error_line(err)
    assert str(tmp_path / "notes.txt") in line
    assert "is a file, not a folder; choose another path" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_names_the_path(
    tmp_path: Path, run_main: Callable[..., tuple[int, str, str]]
) -> None:
    data = write_task(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        code, _, err = run_main(*probe_flags(data, locked / "out"))
    finally:
        locked.chmod(0o755)
    assert code == 2
    line = _one_error_line(err)
    assert str(locked / "out") in line and "permission denied" in line


@pytest.mark.parametrize(
    ("number", "advice"),
    [
        (errno.ENOSPC, "no space left on the device; free some space"),
        (errno.EROFS, "the file system is read-only; choose a path on a writable disk"),
        (errno.EACCES, "permission denied; change its permissions or choose another path"),
    ],
)
def test_a_failed_output_write_names_the_file_and_what_to_do(
    number: int,
    advice: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_main: Callable[..., tuple[int, str, str]],
) -> None:
    # A full disk fails on write() with no file name; the message still names the file.
    data = write_task(tmp_path)
    out = tmp_path / "out"
    real_replace = os.replace

    def failing_replace(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name == "dis.txt":
            raise OSError(number, os.strerror(number))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    code, _, err = run_main(*probe_flags(data, out))
    assert code == 2
    line = _one_error_line(err)
    assert line.startswith(f"error: {out / 'dis.txt'}: {advice}")
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_an_internal_error_is_one_line_and_debug_shows_the_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_main: Callable[..., tuple[int, str, str]]
) -> None:
    import ftprobe.geometry.runner as runner

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("centroid")

    monkeypatch.setattr(runner, "run_probe", broken)
    data = write_task(tmp_path)
    code, _, err = run_main(*probe_flags(data, tmp_path / "out"))
    assert code == 1
    line = _one_error_line(err)
    assert "internal error (KeyError: 'centroid')" in line and "--debug" in line
    code, _, err = run_main("--debug", *probe_flags(data, tmp_path / "out"))
    assert code == 1
    assert "Traceback (most recent call last)" in err and "in broken" in err
    assert err.rstrip().splitlines()[-1] == "error: internal error (KeyError: 'centroid')"


# -- outputs are as readable as the umask says ---------------------------------


@pytest.mark.parametrize(
    ("umask", "file_mode", "folder_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)]
)
def test_outputs_and_store_folders_follow_the_umask(
    umask: int,
    file_mode: int,
    folder_mode: int,
    tmp_path: Path,
    run_main: Callable[..., tuple[int, str, str]],
) -> None:
    data = write_task(tmp_path)
    before = os.umask(umask)
    try:
        code, _, err = run_main(*probe_flags(data, tmp_path / "out"))
        assert code == 0, err
        store = tmp_path / "store"
        code, _, err = run_main(
            "embed",
            "--out",
            str(store),
            "--import-prepacked",
            str(data),
            "--task",
            "t",
        )
        assert code == 0, err
    finally:
        os.umask(before)
    outputs = list((tmp_path / "out").iterdir())
    assert outputs and {stat.S_IMODE(p.stat().st_mode) for p in outputs} == {file_mode}
    folders = [p for p in store.rglob("*") if p.is_dir()]
    files = [p for p in store.rglob("*") if p.is_file()]
    assert folders and {stat.S_IMODE(p.stat().st_mode) for p in folders} == {folder_mode}
    assert files and {stat.S_IMODE(p.stat().st_mode) for p in files} == {file_mode}


# -- warnings are one line in the errors' style; no solver banner --------------


def test_config_warnings_are_one_line_naming_file_and_line(
    tmp_path: Path, run_main: Callable[..., tuple[int, str, str]]
) -> None:
    cfg = tmp_path / "config.ini"
    cfg.write_text("[clustering]\nmode = probing\ncolour = blue\n[extra]\nx = 1\n")
    code, _, err = run_main("probe", "--config", str(cfg))
    assert code == 2
    assert err.splitlines() == [
        f"warning: {cfg}, line 3: unknown key 'colour' in [clustering] ignored",
        f"warning: {cfg}, line 4: unknown section [extra] ignored",
        f"error: {cfg}: section [data] has no key 'label_set_path'",
    ]


def test_a_skipped_trec_line_is_one_warning_line(
    shared_data: Path, run_main: Callable[..., tuple[int, str, str]]
) -> None:
    # embed reads every split before it finds that the asked one is missing
    args = ("embed", "--out", "unused", "--task", "trec-6", "--data-dir", str(shared_data))
    code, _, err = run_main(*args, "--on-bad-line", "skip", "--split", "nosuch")
    assert code == 2
    first, *rest = err.splitlines()
    assert first.startswith(f"warning: {shared_data / 'trec' / 'train_5500.label'}, line 4451: ")
    assert "skipped: label 'NUM:How'" in first
    assert rest == ["error: task 'trec-6' has no split 'nosuch'; its splits: train, test"]
    assert ".py:" not in err


def test_the_lp_and_qp_solvers_print_nothing() -> None:
    # HiGHS settles the pairs Wolfe's method cannot (rare in small tests, so
    # they are called here directly), in a fresh process: its banner is
    # printed once per process, so a run after another test could miss it.
    code = (
        "import numpy as np\n"
        "from ftprobe.geometry.hulls.pair import dual_qp, separable_lp\n"
        "a = np.random.default_rng(0).normal(size=(12, 3)); b = a + 4.0\n"
        "assert separable_lp(a, b, 10.0) is True\n"
        "alpha, beta = dual_qp(a, b)\n"
        "assert abs(alpha.sum() - 1) < 1e-6 and abs(beta.sum() - 1) < 1e-6\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and "HiGHS" not in out.stderr


# -- commands import heavy libraries only when they need them ------------------

_HEAVY = ("torch", "transformers", "pandas", "matplotlib", "sklearn", "highspy")


def _heavy_imported(args: list[str], env: dict[str, str] | None = None) -> set[str]:
    """Run ``ftprobe ARGS`` in a fresh Python: which of the heavy libraries it imported."""
    code = (
        "import sys\n"
        f"sys.argv = ['ftprobe', *{args!r}]\n"
        "from ftprobe.cli.main import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"print(sorted(m for m in {_HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert out.returncode == 0, out.stderr
    return set(ast.literal_eval(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "args", [["--help"], ["probe", "--help"], ["data", "show", "pos", "--split", "dev"]]
)
def test_help_and_data_show_import_no_heavy_library(args: list[str], shared_data: Path) -> None:
    # `ftprobe --help` took 5 s, 4.8 of them importing torch and transformers.
    assert _heavy_imported(args, {**os.environ, "FTPROBE_DATA": str(shared_data)}) == set()


def test_probe_imports_only_what_it_computes_with(tmp_path: Path) -> None:
    # scikit-learn (with SciPy's stats and pandas behind it) cost `ftprobe probe` about
    # a second of start-up on the reference task, whose engine takes 1.5 s; the command
    # line clusters through FittedPartition, the estimator's sklearn-free core.
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 1, (8, 3)), rng.normal(6, 1, (8, 3))])
    (tmp_path / "tags.txt").write_text("A\nB\n", encoding="utf-8")
    (tmp_path / "train.txt").write_text(
        "".join(f"w{i}\t{'A' if i < 8 else 'B'}\n" for i in range(16)), encoding="utf-8"
    )
    np.savetxt(tmp_path / "train.emb", x)
    args = [
        "probe",
        "--train-embeddings", str(tmp_path / "train.emb"),
        "--train-entities", str(tmp_path / "train.txt"),
        "--labels", str(tmp_path / "tags.txt"),
        "--test-embeddings", str(tmp_path / "train.emb"),
        "--test-entities", str(tmp_path / "train.txt"),
        "--out", str(tmp_path / "out"),
        "--quiet",
    ]  # fmt: skip
    imported = _heavy_imported(args)
    assert (tmp_path / "out" / "prediction.txt").is_file()
    # torch computes the hull distances and HiGHS decides separability; nothing else
    assert imported <= {"torch", "highspy"}


def test_an_unknown_encoding_is_a_setting_error(
    shared_data: Path, run_main: Callable[..., tuple[int, str, str]]
) -> None:
    args = ("data", "show", "trec-6", "--data-dir", str(shared_data), "-o", "encoding=klingon")
    code, _, err = run_main(*args)
    assert code == 2
    assert _one_error_line(err) == (
        "error: task 'trec-6', option encoding: 'klingon' is not a text encoding Python knows "
        "(e.g. latin-1)"
    )


# -- nothing stale: --overwrite replaces a run, temporary files are swept -------


def test_overwrite_leaves_nothing_of_the_earlier_run(
    tmp_path: Path, run_main: Callable[..., tuple[int, str, str]]
) -> None:
    from ftprobe.geometry.runner import STATE_FILE

    data = write_task(tmp_path)
    out = tmp_path / "out"
    code, _, err = run_main(*probe_flags(data, out))
    assert code == 0, err
    assert (out / "prediction.txt").is_file()
    (out / "notes.md").write_text("mine")
    # a state file and its half-written copy, as a run killed while saving leaves them
    import socket

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    half = f".{STATE_FILE}.@{socket.gethostname()}@{dead.pid}@0123abcd.tmp"
    (out / STATE_FILE).write_bytes(b"old state")
    (out / half).write_bytes(b"half")
    flags = probe_flags(data, out)
    drop = {i + k for i, a in enumerate(flags) if a.startswith("--test-") for k in (0, 1)}
    without_test = [a for i, a in enumerate(flags) if i not in drop]
    code, _, err = run_main(*without_test, "--overwrite")
    assert code == 0, err
    names = {p.name for p in out.iterdir()}
    assert "prediction.txt" not in names  # the old run's predictions would look like the new
    assert STATE_FILE not in names and half not in names
    assert "notes.md" in names and (out / "notes.md").read_text() == "mine"
    assert "Acc=" not in (out / "log.txt").read_text()


def test_overwrite_keeps_the_clusters_it_predicts_with(
    tmp_path: Path, run_main: Callable[..., tuple[int, str, str]]
) -> None:
    data = write_task(tmp_path)
    out = tmp_path / "out"
    code, _, err = run_main(*probe_flags(data, out))
    assert code == 0, err
    clusters = (out / "clusters.txt").read_text()
    args = [
        *probe_flags(data, out),
        "--mode",
        "prediction",
        "--clusters",
        str(out / "clusters.txt"),
    ]
    code, _, err = run_main(*args, "--overwrite")
    assert code == 0, err
    assert (out / "clusters.txt").read_text() == clusters
    assert (out / "prediction.txt").is_file()


def test_embed_sweeps_what_a_killed_run_left_in_the_store(
    tmp_path: Path, run_main: Callable[..., tuple[int, str, str]]
) -> None:
    import socket

    data = write_task(tmp_path)
    store = tmp_path / "store"
    args = ("embed", "--out", str(store), "--import-prepacked", str(data), "--task", "t")
    code, _, err = run_main(*args)
    assert code == 0, err
    entry = next(p.parent for p in store.rglob("manifest.json"))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = entry.parent / f".tmp-first-@{socket.gethostname()}@{dead.pid}@0123abcd"
    stale.mkdir()
    (stale / "layer.npy").write_bytes(b"half")
    code, _, err = run_main(*args)
    assert code == 0, err
    assert not stale.exists()


# -- user mistakes in probe: one line, before any work -------------------------


def _tangled_job(tmp_path: Path) -> tuple[Path, ProbeJob]:
    """A task whose clustering takes many steps (so it can be cut), and its probe job."""
    from ftprobe.geometry.runner import ProbeJob

    data = write_task(tmp_path, seed=3, tangled=True)
    return data, ProbeJob(
        train_embeddings=data / "embeddings/layers/train/3.txt",
        train_entities=data / "entities/train.txt",
        labels=data / "labels/tags.txt",
        out=tmp_path / "cut",
        device="cpu",
    )


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_state_file_says_what_to_do_and_the_advice_works(
    damage: str,
    tmp_path: Path,
    run_main: Callable[..., tuple[int, str, str]],
) -> None:
    from ftprobe.geometry.merging import ClusteringInterrupted
    from ftprobe.geometry.runner import STATE_FILE, run_probe

    data, job = _tangled_job(tmp_path)
    out = job.out
    with pytest.raises(ClusteringInterrupted):
        run_probe(job, progress=False, max_steps=20)
    state = out / STATE_FILE
    raw = bytearray(state.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    else:
        raw[len(raw) // 3] ^= 0xFF
    state.write_bytes(bytes(raw))
    flags = probe_flags(data, out)
    code, _, err = run_main(*flags, "--resume")
    assert code == 2
    line = _one_error_line(err)
    assert line.startswith(f"error: {state}: the saved clustering state is damaged")
    assert line.endswith("start again with --overwrite instead of --resume")
    code, _, err = run_main(*flags, "--overwrite")
    assert code == 0, err
    assert not state.exists() and (out / "clusters.txt").is_file()


def test_a_negative_min_cluster_size_is_refused_before_reading(
    tmp_path: Path, run_main: Callable[..., tuple[int, str, str]]
) -> None:
    missing = tmp_path / "nowhere"
    flags = probe_flags(missing, tmp_path / "out")  # no input exists: refused before reading any
    code, _, err = run_main(*flags, "--min-cluster-size", "-1")
    assert code == 2
    assert _one_error_line(err) == (
        "error: --min-cluster-size must be 0 or more (0 counts every cluster), not -1"
    )


def test_a_full_disk_while_saving_the_clustering_state_names_it_and_leaves_no_tmp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from ftprobe.geometry.runner import STATE_FILE, run_probe

    data, job = _tangled_job(tmp_path)
    out = job.out

    def full_disk(file: object, **arrays: object) -> None:
        Path(file.name).write_bytes(b"PK half")  # type: ignore[attr-defined]
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(OSError) as info:
        run_probe(job, progress=False, max_steps=20)  # an interruption saves the state
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(out / STATE_FILE)
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_pool_worker_shows_warnings_as_one_line_like_the_command(capfd) -> None:
    import warnings

    from ftprobe.errors import show_warning_line
    from ftprobe.study.executors import ProcessPoolExecutor

    before = warnings.showwarning
    warnings.showwarning = show_warning_line
    try:
        pool = ProcessPoolExecutor(workers=1)
    finally:
        warnings.showwarning = before
    try:
        # A spawned worker starts with Python's default format (file:line: UserWarning: ...).
        pool._pool.submit(warnings.warn, UserWarning("x.label, line 3: skipped")).result()
    finally:
        pool.shutdown()
    err = capfd.readouterr().err
    assert "warning: x.label, line 3: skipped" in err.splitlines()
    assert "UserWarning" not in err
