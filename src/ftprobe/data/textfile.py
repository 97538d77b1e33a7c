"""Reading text input files with errors that name the file and the line.

Every reader goes through :func:`read_lines`, so a missing file, an empty file
and bytes that are not UTF-8 are reported the same way everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from ftprobe.errors import InputError, InputWarning


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes; a missing file or a folder is an :class:`InputError`."""
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise InputError(p, None, "no such file") from None
    except IsADirectoryError:
        raise InputError(p, None, "is a folder, expected a file") from None
    except PermissionError:
        raise InputError(p, None, "cannot be read (permission denied)") from None


def decode_utf8(path: str | os.PathLike[str], data: bytes, encoding: str = "utf-8") -> str:
    """Decode ``data``; undecodable bytes are reported with their line number.

    A UTF-8 byte-order mark at the start is dropped (spreadsheet tools write one).
    """
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8") and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.end]
        raise InputError(
            path, line, f"bytes {bad!r} are not valid {encoding} (the file must be {encoding} text)"
        ) from None


def read_lines(
    path: str | os.PathLike[str], *, encoding: str = "utf-8", allow_empty: bool = False
) -> list[str]:
    """The file's lines without their line endings (``\\n`` or ``\\r\\n``).

    Line ``i`` of the file is element ``i - 1``. An empty file (no bytes, or only
    whitespace) is an :class:`InputError` unless ``allow_empty``.
    """
    data = read_bytes(path)
    text = decode_utf8(path, data, encoding)
    if not allow_empty and not text.strip():
        raise InputError(path, None, "the file is empty")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


class SkippedLineWarning(InputWarning):
    """A reader skipped a bad input line because the user asked it to (``on_bad_line="skip"``)."""

    line: int

    def __init__(self, path: str | os.PathLike[str], line: int, reason: str) -> None:
        self.reason = reason
        super().__init__(path, line, f"skipped: {reason}")
