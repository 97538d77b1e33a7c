"""``ftprobe data show`` and ``ftprobe data fetch`` as a user runs them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


def test_show_pos_counts(shared_data: Path, run_main: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = run_main("data", "show", "pos", "--data-dir", str(shared_data))
    assert code == 0
    assert "dev: 25,147 words in 2,001 sentences, 17 labels" in out
    assert "pos: 17 labels" in out and "NOUN" in out and "4,210" in out


def test_show_ps_role_dev_from_the_environment(
    shared_data: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_main: Callable[..., tuple[int, str, str]],
) -> None:
    monkeypatch.setenv("FTPROBE_DATA", str(shared_data))
    code, out, _ = run_main("data", "show", "ps-role", "--split", "dev")
    assert code == 0 and "dev: 462 units in 267 sentences, 40 labels" in out


def test_show_trec_reports_the_malformed_line(
    shared_data: Path, run_main: Callable[..., tuple[int, str, str]]
) -> None:
    base = ("data", "show", "trec-50", "--data-dir", str(shared_data))
    code, _, err = run_main(*base)
    assert code == 2 and "train_5500.label, line 4451" in err and "NUM:How" in err
    code, out, _ = run_main(*base, "--on-bad-line", "skip", "--split", "train")
    assert code == 0
    assert "train: 5,443 sentences, 50 labels (+1 malformed line(s) skipped)" in out
    assert "skipped" in out and "line 4451" in out


def test_bad_task_and_option_exit_2(
    shared_data: Path, run_main: Callable[..., tuple[int, str, str]]
) -> None:
    code, _, err = run_main("data", "show", "upos", "--data-dir", str(shared_data))
    assert code == 2 and "unknown task 'upos'" in err
    code, _, err = run_main("data", "show", "pos", "-o", "nothing")
    assert code == 2 and "KEY=VALUE" in err


def test_fetch_imports_and_then_finds_files_present(
    shared_data: Path,
    tmp_path: Path,
    run_main: Callable[..., tuple[int, str, str]],
) -> None:
    args = ("data", "fetch", "--to", str(tmp_path), "--from", str(shared_data), "--only", "trec-6")
    code, out, _ = run_main(*args)
    assert code == 0 and out.count("imported") == 2
    assert (tmp_path / "trec/TREC_10.label").is_file()
    code, out, _ = run_main(*args)
    assert code == 0 and out.count("present") == 2
    code, out, _ = run_main(
        "data",
        "show",
        "trec-6",
        "--data-dir",
        str(tmp_path),
        "--split",
        "test",
    )
    assert code == 0 and "test: 499 sentences, 6 labels" in out
