"""The command line's tests: ``ftprobe`` as a user runs it, in this process or in a fresh one.

They cover the root command (version, help, usage errors), every command's one-line errors
and exit statuses under faults and hostile input (``test_cli_faults.py``), ``--option``
parsing, ``ftprobe embed`` and ``ftprobe data`` end to end, and runs of ``ftprobe run`` and
``ftprobe probe`` killed mid-work (``test_fault_injection.py``).

Shared here: ``run_main``, the command run in this process with its exit status and output.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from ftprobe.cli.main import main


@pytest.fixture
def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """``run_main(*args)`` runs ``ftprobe ARGS`` in this process as a user would (a wide
    terminal, so that no line wraps) and returns its exit status, stdout and stderr."""

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["ftprobe", *args])
        monkeypatch.setenv("COLUMNS", "200")
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
