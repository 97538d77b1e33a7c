"""The command line's root: version, help, and clean errors."""

from __future__ import annotations

import subprocess
import sys

from ftprobe import __version__


def _ftprobe(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from ftprobe.cli.main import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


def test_version_prints_package_version() -> None:
    out = _ftprobe("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"ftprobe {__version__}"


def test_unknown_option_is_a_usage_error() -> None:
    out = _ftprobe("--no-such-option")
    assert out.returncode == 2
    assert "No such option" in out.stderr
