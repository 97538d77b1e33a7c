"""File plumbing every stage shares: atomic writes, JSON files, file hashes, timestamps.

Each rule lives here once, so that every stage writes, reads, hashes and dates
its files the same way:

- atomic writes of a file (:func:`atomic_open`, :func:`atomic_path`) and of a
  folder (:func:`atomic_dir`), with :func:`staging_dir` and :func:`sweep_stale`
  for outputs that need more;
- JSON files (:func:`write_json`, written atomically; :func:`read_json`, whose
  error names the file and what it should have held);
- the SHA-256 of a file's bytes (:func:`sha256_file`);
- timestamps in UTC (:func:`utc_now`, and :func:`utc_timestamp` for records).

Atomic writes: a reader never sees a half-written file.

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

import hashlib
import json
import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ftprobe.errors import FtprobeError


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


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; it replaces ``path`` on success.

    Whatever ``path`` held before (a stale copy from an interrupted run) is
    removed only once the new folder is complete, just before the rename; on any
    error the staging folder is removed and ``path`` is left as it was. What a
    killed builder of the same folder left behind is swept first.
    """
    target = Path(path)
    prefix, suffix = f".{target.name}.", ".tmp"
    sweep_stale(target.parent, prefix, suffix)
    tmp = staging_dir(target.parent, prefix=prefix, suffix=suffix)
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# -- JSON files ----------------------------------------------------------------


def write_json(
    path: str | os.PathLike[str],
    data: Any,
    *,
    indent: int | None = None,
    sort_keys: bool = False,
    ensure_ascii: bool = True,
    default: Callable[[Any], Any] | None = None,
    newline: bool = False,
) -> Path:
    """Write ``data`` as JSON to ``path`` atomically; returns the path.

    The keywords are :func:`json.dumps`'s; ``newline`` ends the file with a line
    break. Each kind of file keeps the layout it always had, so files written
    before and after read the same.
    """
    text = json.dumps(
        data, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii, default=default
    )
    with atomic_open(path) as handle:
        handle.write(text + "\n" if newline else text)
    return Path(path)


def read_json(
    path: str | os.PathLike[str],
    what: str,
    error: Callable[[str], Exception] = FtprobeError,
) -> Any:
    """The JSON value in ``path``.

    A file that cannot be read, is not UTF-8 or is not JSON (a damaged or
    truncated file) raises ``error`` with a message that names the file and
    ``what`` it should have held: ``FILE: unreadable WHAT (why)``.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: unreadable {what} ({exc})") from None


# -- hashes and timestamps -------------------------------------------------------


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, as hex; read in blocks, so any size fits in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def utc_now() -> datetime:
    """The current time in UTC (time zone attached), the one clock records are dated by."""
    return datetime.now(UTC)


def utc_timestamp() -> str:
    """The current UTC time as ISO 8601 to the second (``2026-01-31T12:00:00+00:00``)."""
    return utc_now().isoformat(timespec="seconds")
