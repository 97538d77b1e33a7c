"""Errors that ftprobe reports to its user.

Every stage raises these for problems the user can fix (bad input files, bad
settings); the CLI prints them as one clear message without a traceback.
"""

from __future__ import annotations

from os import PathLike


class FtprobeError(Exception):
    """A problem the user can fix; its message says what and where."""


class InputError(FtprobeError):
    """Bad input data: names the file, the line (when there is one) and what is wrong."""

    def __init__(self, path: str | PathLike[str], line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ConfigError(FtprobeError):
    """A bad setting: a study file, a config.ini, or a command-line option."""
