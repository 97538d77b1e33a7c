"""Atomic file writes: a reader never sees a half-written file.

Everything is written to a temporary name in the target's own folder (same
file system, so the final ``os.replace`` is atomic) and renamed into place only
once it is complete; on any error the temporary file is removed and the target
is left as it was.

A temporary file is made private (``0600``) while it is written; what is
renamed into place gets the mode a plain ``open``/``mkdir`` would have given it,
so outputs are as readable as the user's umask says. A write that fails
without naming a file (a full disk reports ``ENOSPC`` on ``write``) is
re-raised naming the target, so the message the user sees says which file
could not be written.

Outputs made of several files are built in a staging folder beside their final
place (:func:`staging_dir`) and renamed into place. A killed process cannot
remove its temporaries, so their names say which host and process made them
(:func:`owned_name`) and the next run removes those whose process has ended
(:func:`sweep_stale`), leaving a concurrent run's alone; every atomic write of
a file first sweeps what a killed writer of that same file left.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def _umask() -> int:
    # Linux shows the umask in /proc; elsewhere it can only be read by setting
    # it, which for a moment gives other threads' new files the wrong mode.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def public_mode(path: str | os.PathLike[str]) -> None:
    """Give a file or folder made private while written the mode the umask asks for."""
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~_umask())


_OWNER = re.compile(r"@(?P<host>[^@]+)@(?P<pid>\d+)@")


def _owner_tag() -> str:
    # Names the process that made a temporary, so a later run can tell a
    # dead run's leftovers from the live temporaries of a concurrent one.
    return f"@{socket.gethostname()}@{os.getpid()}@"


def owned_name(prefix: str, suffix: str = "") -> str:
    """A unique temporary name that :func:`sweep_stale` can trace back to this process."""
    return f"{prefix}{_owner_tag()}{uuid.uuid4().hex}{suffix}"


def staging_dir(parent: str | os.PathLike[str], prefix: str, suffix: str = "") -> Path:
    """A new empty folder in ``parent`` to build an output in before renaming it into place.

    Its mode follows the umask (see the module docstring); its name says which
    process made it (:func:`owned_name`). The caller removes it on failure; what
    a killed process leaves is removed by :func:`sweep_stale` on the next run.
    """
    Path(parent).mkdir(parents=True, exist_ok=True)
    tmp = Path(parent) / owned_name(prefix, suffix)
    tmp.mkdir()
    return tmp


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def sweep_stale(parent: str | os.PathLike[str], prefix: str, suffix: str = "") -> list[Path]:
    """Remove the temporaries in ``parent`` left by processes of this host that have ended.

    Only names made by :func:`owned_name` with ``prefix`` and ``suffix`` are
    considered; one whose process still runs (or that another host made) is
    left alone, since a concurrent run may be writing it. A swept temporary is
    never read: whatever it held is made again. Returns what was removed.
    """
    folder = Path(parent)
    if not folder.is_dir():
        return []
    host = socket.gethostname()
    removed = []
    for path in folder.iterdir():
        name = path.name
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        owner = _OWNER.search(name, len(prefix))
        if owner is None or owner["host"] != host or _running(int(owner["pid"])):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def with_path(exc: OSError, path: str | os.PathLike[str]) -> OSError:
    """``exc`` itself if it names a file, else the same error naming ``path``."""
    if exc.filename is not None or exc.errno is None:
        return exc
    # OSError(errno, ...) picks the subclass (PermissionError...) from the errno.
    return OSError(exc.errno, exc.strerror, str(path))


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # What a killed writer of this same file left behind goes first: a write that
    # cannot clean up after itself (SIGKILL) is cleaned up by the next one.
    sweep_stale(target.parent, f".{target.name}.", ".tmp")
    tmp = target.parent / owned_name(f".{target.name}.", ".tmp")
    tmp.touch(mode=0o600, exist_ok=False)
    try:
        yield tmp
        public_mode(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise with_path(exc, target) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; it replaces ``path`` on success."""
    binary = "b" in mode
    with (
        atomic_path(path) as tmp,
        open(
            tmp, mode, encoding=None if binary else encoding, newline=None if binary else ""
        ) as handle,
    ):
        yield handle
