"""Errors that ftprobe reports to its user.

Every stage raises these for problems the user can fix (bad input files, bad
settings); the CLI prints them as one clear message without a traceback.
"""

from __future__ import annotations

import errno
from os import PathLike


class FtprobeError(Exception):
    """A problem the user can fix; its message says what and where."""


def where(path: str | PathLike[str], line: int | None) -> str:
    """How errors and warnings name a place in a file: ``FILE, line N`` (or ``FILE``)."""
    return f"{path}, line {line}" if line is not None else str(path)


class InputError(FtprobeError):
    """Bad input data: names the file, the line (when there is one) and what is wrong."""

    def __init__(self, path: str | PathLike[str], line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        super().__init__(f"{where(path, line)}: {message}")


class InputWarning(UserWarning):
    """Something in an input file was ignored; named like an :class:`InputError`."""

    def __init__(self, path: str | PathLike[str], line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        super().__init__(f"{where(path, line)}: {message}")


class ConfigError(FtprobeError):
    """A bad setting: a study file, a config.ini, or a command-line option."""


# What to do about a file-system failure, by errno; the path comes from the error.
_OS_ADVICE = {
    errno.EACCES: "permission denied; change its permissions or choose another path",
    errno.EPERM: "operation not permitted; change its permissions or choose another path",
    errno.EROFS: "the file system is read-only; choose a path on a writable disk",
    errno.ENOSPC: "no space left on the device; free some space or choose a path on another disk",
    errno.EDQUOT: "disk quota exceeded; free some space or choose a path on another disk",
    errno.ENOTDIR: "a part of this path is a file, not a folder; choose another path",
    errno.EISDIR: "is a folder where a file is needed; choose another path",
    errno.EEXIST: "already exists (a file where a folder is needed?); remove it or choose "
    "another path",
    errno.ENOENT: "no such file or folder; check the path",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter path",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n) and run again",
}


def os_error_message(exc: OSError) -> str:
    """One line for a file-system failure: the path it happened on and what to do."""
    advice = _OS_ADVICE.get(exc.errno) if exc.errno is not None else None
    if advice is None:
        advice = (exc.strerror or str(exc) or type(exc).__name__).rstrip(".")
        advice = advice[:1].lower() + advice[1:]
    where = exc.filename if exc.filename is not None else "(file not known)"
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    return f"{where}: {advice}"


def show_warning_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    """A :func:`warnings.showwarning` that prints ``warning: WHERE: WHAT`` as one line.

    A warning reads like an error: one line saying where and what, not the
    Python source line that issued it (which is ftprobe's, not the user's).
    """
    import sys

    text = " ".join(str(message).split())
    if not issubclass(category, UserWarning):
        text = f"{text} ({category.__name__})"
    print(f"warning: {text}", file=sys.stderr)
