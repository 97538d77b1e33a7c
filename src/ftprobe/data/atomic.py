"""Atomic file writes: a reader never sees a half-written file.

Everything is written to a temporary name in the target's own folder (same
file system, so the final ``os.replace`` is atomic) and renamed into place only
once it is complete; on any error the temporary file is removed and the target
is left as it was.

The temporary names come from :mod:`tempfile`, which makes them private
(``0600`` files, ``0700`` folders); what is renamed into place gets the mode a
plain ``open``/``mkdir`` would have given it, so outputs are as readable as the
user's umask says. A write that fails without naming a file (a full disk
reports ``ENOSPC`` on ``write``) is re-raised naming the target, so the
message the user sees says which file could not be written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def _umask() -> int:
    # The umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def public_mode(path: str | os.PathLike[str]) -> None:
    """Give a file or folder made private by :mod:`tempfile` the mode the umask asks for."""
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~_umask())


def staging_dir(parent: str | os.PathLike[str], prefix: str, suffix: str = "") -> Path:
    """A new empty folder in ``parent`` to build an output in before renaming it into place.

    Its mode follows the umask (see the module docstring); the caller removes it
    on failure.
    """
    Path(parent).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent))
    public_mode(tmp)
    return tmp


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
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
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
    if "b" in mode:
        encoding = None
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding, newline="") as handle:
        yield handle
