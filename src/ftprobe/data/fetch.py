"""Getting the corpora into the data folder: download (resumable) or import, always verified.

Each file of ``corpora.json`` (see :mod:`ftprobe.data.paths`) is fetched from
its canonical URL, or from ``base_url + "/" + path`` (a mirror with the data
folder's layout), or copied from a local folder with that layout
(``source_dir``). Nothing reaches its final name before it is complete and
verified:

- Bytes go to ``NAME.part``. An interrupted download keeps the ``.part`` and
  resumes it with an HTTP ``Range`` request (on the next retry, or the next
  run); a server that ignores ``Range`` makes it start over. A file is
  complete when it has the size the server announced.
- The complete file's SHA-256 is compared with the pinned one (the checksum
  of the copy the project is tested on), or, for a file without a pinned
  checksum, with the one recorded when it was first fetched (``SHA256SUMS``
  in the data folder).
- A match is renamed into place (atomically) and recorded in ``SHA256SUMS``.
- No pinned and no recorded checksum (the UD/STREUSLE train splits): the
  file is accepted, and its checksum is printed and recorded, so that later
  runs verify against it (trust on first use).
- A mismatch after a *resumed* download may be a corrupt ``.part``: it is
  discarded and the file downloaded again from the start. A mismatch of a
  fresh download or an import means the source differs (the upstream
  repositories move; the canonical TREC files differ from the pinned mirror
  copy): the file is refused, nothing is kept, and the error gives both
  checksums, unless ``accept_changed`` is set, in which case it is kept and
  its checksum recorded in place of the pinned one.

A file already in the data folder is verified the same way and left alone
when it matches.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ftprobe import __version__
from ftprobe.data.atomic import atomic_open, sha256_file
from ftprobe.data.paths import CorpusFile, corpus_files
from ftprobe.errors import FtprobeError

__all__ = [
    "SUMS_FILE",
    "FetchError",
    "FetchResult",
    "fetch_corpora",
    "fetch_file",
    "select_files",
]

SUMS_FILE = "SHA256SUMS"
_CHUNK = 1 << 16
_TASK_CORPUS = {
    "pos": "ud-ewt",
    "dep": "ud-ewt",
    "ps-role": "streusle",
    "ps-fxn": "streusle",
    "trec-50": "trec",
    "trec-6": "trec",
}


class FetchError(FtprobeError):
    """A corpus file could not be fetched or did not verify."""


@dataclass(frozen=True)
class FetchResult:
    """What happened to one file: ``present``, ``downloaded``, ``imported`` or ``changed``."""

    path: Path
    status: str
    sha256: str
    note: str = ""


def select_files(only: Iterable[str] | None = None, with_train: bool = False) -> list[CorpusFile]:
    """The files to fetch: by default every corpus's default files (not the train splits).

    ``only`` restricts to corpora (``ud-ewt``, ``streusle``, ``trec``) or to the
    corpora of task names (``pos``, ``ps-role``, ...); ``with_train`` adds the
    UD/STREUSLE train splits.
    """
    files = corpus_files()
    corpora = {f.corpus for f in files}
    wanted: set[str] | None = None
    if only:
        wanted = set()
        for name in only:
            key = name.strip().lower()
            corpus = _TASK_CORPUS.get(key, key)
            if corpus not in corpora:
                valid = ", ".join(sorted(corpora | set(_TASK_CORPUS)))
                raise FetchError(f"unknown corpus or task {name!r}; choose from {valid}")
            wanted.add(corpus)
    return [
        f for f in files if (wanted is None or f.corpus in wanted) and (f.default or with_train)
    ]


# --------------------------------------------------------------------------- checksum records


def _read_sums(root: Path) -> dict[str, str]:
    path = root / SUMS_FILE
    if not path.is_file():
        return {}
    sums = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.strip().partition("  ")
        if digest and name:
            sums[name] = digest
    return sums


def _record_sum(root: Path, rel: str, digest: str) -> None:
    sums = _read_sums(root)
    if sums.get(rel) == digest:
        return
    sums[rel] = digest
    try:
        with atomic_open(root / SUMS_FILE) as f:
            f.writelines(f"{d}  {name}\n" for name, d in sorted(sums.items()))
    except OSError as exc:
        raise FetchError(
            f"cannot record the checksum of {rel} in {root / SUMS_FILE}: {exc}"
        ) from None


# --------------------------------------------------------------------------- download


def _download(
    url: str, part: Path, timeout: float, progress: bool, label: str
) -> tuple[bool, int | None]:
    """Append ``url``'s remaining bytes to ``part``.

    Returns ``(resumed, total)``: whether earlier bytes were kept, and the full
    size the server announced (``None`` when it did not say). Network errors
    propagate; the bytes received so far stay in ``part``.
    """
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": f"ftprobe/{__version__}"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing left to send: the part is complete (or junk)
            return True, offset
        raise
    with response:
        total: int | None = None
        length = response.headers.get("Content-Length")
        if response.status == 206 and offset:
            content_range = response.headers.get("Content-Range", "")
            start = content_range.removeprefix("bytes ").split("-", 1)[0]
            if start != str(offset):
                raise FetchError(f"{url}: the server resumed at {content_range!r}, not {offset}")
            size = content_range.rpartition("/")[2]
            total = int(size) if size.isdigit() else None
            mode, resumed = "ab", True
        else:  # a full response: start over
            total = int(length) if length and length.isdigit() else None
            mode, resumed, offset = "wb", False, 0
        with (
            open(part, mode) as out,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                desc=label,
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    return resumed, total


def _download_complete(
    url: str,
    part: Path,
    timeout: float,
    retries: int,
    progress: bool,
    label: str,
    retry_wait: float = 0.5,
) -> bool:
    """Download until ``part`` has the announced size; returns whether any bytes were resumed."""
    resumed_any = False
    for attempt in range(retries + 1):
        try:
            resumed, total = _download(url, part, timeout, progress, label)
            resumed_any |= resumed
            size = part.stat().st_size if part.exists() else 0
            if total is None or size == total:
                return resumed_any
            if size > total:  # the part cannot belong to this file
                part.unlink()
            problem = f"got {size} of {total} bytes"
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410, 403, 401):
                raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
            problem = f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, HTTPException, OSError) as exc:
            problem = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        if attempt < retries:
            time.sleep(min(2.0**attempt * retry_wait, 8.0))
    kept = part.stat().st_size if part.exists() else 0
    raise FetchError(
        f"{url}: download interrupted ({problem}); {kept} bytes kept in {part}; "
        "run `ftprobe data fetch` again to resume"
    )


def fetch_file(
    entry: CorpusFile,
    root: Path,
    *,
    base_url: str | None = None,
    source_dir: Path | None = None,
    accept_changed: bool = False,
    timeout: float = 60.0,
    retries: int = 3,
    retry_wait: float = 0.5,
    progress: bool = True,
    echo: Callable[[str], None] = lambda message: None,
) -> FetchResult:
    """Fetch one corpus file into the data folder ``root`` (see the module doc for the rules)."""
    target = root / entry.path
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create {target.parent}: {exc}") from None
    recorded = _read_sums(root).get(entry.path)
    expected = entry.sha256 or recorded
    if target.is_file():
        digest = sha256_file(target)
        if expected is None:
            _record_sum(root, entry.path, digest)
            return FetchResult(target, "present", digest, "no pinned checksum: recorded")
        if digest in (entry.sha256, recorded):
            # nothing to record: the folder may be read-only (a shared copy)
            return FetchResult(target, "present", digest)
        if not accept_changed:
            raise FetchError(
                f"{target} is there but its SHA-256 {digest} differs from the expected "
                f"{expected}; remove it to fetch it again, or pass --accept-changed to keep it"
            )
        _record_sum(root, entry.path, digest)
        return FetchResult(target, "changed", digest, f"differs from pinned {expected}")

    part = target.with_name(target.name + ".part")
    url = f"{base_url.rstrip('/')}/{entry.path}" if base_url else entry.url
    if source_dir is not None:
        source = source_dir / entry.path
        if not source.is_file():
            raise FetchError(f"{source}: not found (importing {entry.path} from {source_dir})")
        shutil.copyfile(source, part)
        resumed, how = False, "imported"
    else:
        resumed = _download_complete(url, part, timeout, retries, progress, entry.path, retry_wait)
        how = "downloaded"
    digest = sha256_file(part)
    if expected is not None and digest not in (entry.sha256, recorded) and resumed:
        # the kept bytes may have been corrupt: one fresh download settles it
        echo(f"{entry.path}: checksum mismatch after resuming; downloading it again from the start")
        part.unlink()
        _download_complete(url, part, timeout, retries, progress, entry.path, retry_wait)
        digest = sha256_file(part)

    status, note = how, ""
    if expected is None:
        note = "no pinned checksum: accepted and recorded"
    elif digest not in (entry.sha256, recorded):
        if not accept_changed:
            part.unlink()
            raise FetchError(
                f"{entry.path}: SHA-256 {digest} differs from the expected {expected} "
                "(the source has changed or is another release); nothing was kept. "
                "Pass --accept-changed to keep such a file"
            )
        status, note = "changed", f"differs from pinned {expected}: kept and recorded"
    os.replace(part, target)
    _record_sum(root, entry.path, digest)
    return FetchResult(target, status, digest, note)


def fetch_corpora(
    root: Path,
    files: Iterable[CorpusFile] | None = None,
    *,
    echo: Callable[[str], None] = lambda message: None,
    **options: Any,
) -> list[FetchResult]:
    """Fetch ``files`` (default: :func:`select_files`) into ``root``.

    ``options`` are those of :func:`fetch_file`. Every file is tried; when
    some fail, a :class:`FetchError` listing them is raised at the end (the
    others are in place).
    """
    results: list[FetchResult] = []
    failures: list[str] = []
    for entry in select_files() if files is None else files:
        try:
            result = fetch_file(entry, root, echo=echo, **options)
        except FetchError as exc:
            echo(f"{'FAILED':>10}  {entry.path}: {exc}")
            failures.append(str(exc))
            continue
        note = f" ({result.note})" if result.note else ""
        echo(f"{result.status:>10}  {entry.path}  sha256 {result.sha256}{note}")
        results.append(result)
    if failures:
        raise FetchError(f"{len(failures)} file(s) not fetched: " + " | ".join(failures))
    return results
