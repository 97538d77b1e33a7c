"""The shared file plumbing (ftprobe.data.atomic): JSON files, hashes, timestamps, folders."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ftprobe.data.atomic import (
    atomic_dir,
    read_json,
    sha256_file,
    utc_now,
    utc_timestamp,
    write_json,
)
from ftprobe.errors import ConfigError, FtprobeError


def test_write_json_keeps_the_layout_asked_for_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "record.json"
    data = {"b": 1, "a": ["é", None]}
    assert write_json(path, data, indent=1, sort_keys=True, newline=True) == path
    assert path.read_text(encoding="utf-8") == '{\n "a": [\n  "\\u00e9",\n  null\n ],\n "b": 1\n}\n'
    write_json(path, data, ensure_ascii=False)
    assert path.read_text(encoding="utf-8") == '{"b": 1, "a": ["é", null]}'
    assert read_json(path, "record") == data
    # No temporary is left beside it.
    assert [p.name for p in path.parent.iterdir()] == ["record.json"]


def test_write_json_follows_the_umask(tmp_path: Path) -> None:
    before = os.umask(0o027)
    try:
        write_json(tmp_path / "r.json", {})
    finally:
        os.umask(before)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o640


def test_a_failed_json_write_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_json(path, {"old": True})
    with pytest.raises(TypeError):
        write_json(path, {"new": object()})  # not JSON: nothing is written
    assert read_json(path, "record") == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


@pytest.mark.parametrize("content", [b'{"a": 1', b"\xff\xfe not text", b""])
def test_a_damaged_json_file_is_an_error_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(content)
    with pytest.raises(FtprobeError, match=rf"^{path}: unreadable run manifest \("):
        read_json(path, "run manifest")
    with pytest.raises(ConfigError, match="unreadable checkpoint description"):
        read_json(path, "checkpoint description", ConfigError)


def test_a_missing_json_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FtprobeError, match="nothing.json: unreadable record"):
        read_json(tmp_path / "nothing.json", "record")


def test_sha256_file_is_the_digest_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = os.urandom(5 << 20)  # more than one read block
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_timestamps_are_utc_to_the_second() -> None:
    assert utc_now().tzinfo is UTC
    stamp = utc_timestamp()
    assert stamp.endswith("+00:00") and "." not in stamp
    assert abs((datetime.fromisoformat(stamp) - datetime.now(UTC)).total_seconds()) < 5


def test_atomic_dir_replaces_a_folder_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "stale.bin").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "weights.bin").write_text("half")
        raise RuntimeError("killed half way")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert (target / "stale.bin").read_text() == "old"
    with atomic_dir(target) as tmp:
        (tmp / "weights.bin").write_text("new")
    assert [p.name for p in target.iterdir()] == ["weights.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
