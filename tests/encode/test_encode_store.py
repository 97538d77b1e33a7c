"""The representation store: reuse without a model call, provenance, corruption, atomicity."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ftprobe.encode.store as store_module
from ftprobe import __version__
from ftprobe.data.conllu import read_pos
from ftprobe.data.task import Task
from ftprobe.encode.extract import extract
from ftprobe.encode.models import ModelRef, resolve_model
from ftprobe.encode.store import (
    RepresentationStore,
    StoreCorruptError,
    StoreMismatchError,
    task_fingerprint,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_ref() -> ModelRef:
    return resolve_model(None)


@pytest.fixture(scope="module")
def small_task(ewt_dev) -> Task:
    task = read_pos(ewt_dev, "dev")
    keep = set(task.sentences()[:4])
    return task.subset([i for i, ex in enumerate(task.examples) if ex.tokens in keep])


@pytest.fixture()
def counted_loader(monkeypatch, encoder) -> list[str]:
    """Replace the store's model loader by one that hands out the loaded model and counts."""
    calls: list[str] = []

    def loader(ref, device="auto"):
        calls.append(ref.name)
        return encoder

    monkeypatch.setattr(store_module, "load_encoder", loader)
    return calls


def test_entry_holds_what_extraction_gives(
    tmp_path: Path, small_task: Task, model_ref, encoder, counted_loader
) -> None:
    store = RepresentationStore(tmp_path / "store")
    entry = store.get_or_extract(small_task, model_ref, "0,6", "first", progress=False)
    assert counted_loader == ["all-MiniLM-L6-v2"]
    assert entry.layers == [0, 6]
    direct = extract(small_task, *encoder, [0, 6], progress=False)
    for layer in (0, 6):
        arr = store.load(entry.key, layer)
        assert isinstance(arr, np.memmap) and not arr.flags.writeable
        np.testing.assert_array_equal(arr, direct.layers[layer])
    m = json.loads((entry.path / "manifest.json").read_text())
    assert m["provenance"]["model"]["identity"] == model_ref.identity
    assert m["provenance"]["task_fingerprint"] == task_fingerprint(small_task)
    assert m["task"] == "pos" and m["split"] == "dev" and m["pooling"] == "first"
    assert m["labels"] == list(small_task.labels.names)
    assert m["n_examples"] == len(small_task) and m["dim"] == 384
    assert m["tool_version"] == __version__
    assert set(m["layers"]) == {"0", "6"}
    assert all(v["sha256"].startswith("sha256:") for v in m["layers"].values())
    np.testing.assert_array_equal(entry.labels(verify=True), small_task.label_ids)
    assert [t for t, _ in entry.entities()] == [ex.text for ex in small_task.examples]
    assert [e.key for e in store.entries()] == [entry.key]
    # Nothing temporary is left beside the entry.
    assert [p.name for p in entry.path.parent.iterdir()] == ["first"]


def test_reuse_makes_no_model_call(
    tmp_path: Path, small_task: Task, model_ref, monkeypatch, counted_loader
) -> None:
    store = RepresentationStore(tmp_path)
    first = store.get_or_extract(small_task, model_ref, [6], progress=False)
    assert len(counted_loader) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("the model must not be loaded for an existing entry")

    monkeypatch.setattr(store_module, "load_encoder", refuse)
    again = store.get_or_extract(small_task, model_ref, [6], progress=False)
    assert again.key == first.key and again.manifest == first.manifest
    assert store.missing_layers(small_task, model_ref, [6]) == []
    assert store.missing_layers(small_task, model_ref, "all") == [0, 1, 2, 3, 4, 5]


def test_missing_layers_are_added_without_redoing_the_others(
    tmp_path: Path, small_task: Task, model_ref, counted_loader
) -> None:
    store = RepresentationStore(tmp_path)
    entry = store.get_or_extract(small_task, model_ref, [6], progress=False)
    six = np.array(store.load(entry.key, 6))
    stamp = (entry.path / "layer-06.npy").stat().st_mtime_ns
    bigger = store.get_or_extract(small_task, model_ref, "all", progress=False)
    assert bigger.layers == list(range(7))
    assert (entry.path / "layer-06.npy").stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(store.load(entry.key, 6), six)
    bigger.verify()
    assert not [p for p in entry.path.iterdir() if p.name.startswith(".")]


def test_same_key_different_provenance_is_an_error(
    tmp_path: Path, small_task: Task, model_ref, counted_loader
) -> None:
    store = RepresentationStore(tmp_path)
    entry = store.get_or_extract(small_task, model_ref, [0], progress=False)
    before = (entry.path / "manifest.json").read_bytes()
    changed = small_task.subset(range(len(small_task) - 1))  # the corpus changed
    with pytest.raises(StoreMismatchError, match="task_fingerprint"):
        store.get_or_extract(changed, model_ref, [0], progress=False)
    other_model = ModelRef(
        path=model_ref.path, name=model_ref.name, source="local", identity="sha256:retrained"
    )
    with pytest.raises(StoreMismatchError, match="identity"):
        store.get_or_extract(small_task, other_model, [0], progress=False)
    assert (entry.path / "manifest.json").read_bytes() == before
    # Under another name both live side by side.
    renamed = store.get_or_extract(
        small_task, other_model, [0], model_name="retrained", progress=False
    )
    assert renamed.path != entry.path


def test_corrupted_entries_are_detected(
    tmp_path: Path, small_task: Task, model_ref, counted_loader
) -> None:
    store = RepresentationStore(tmp_path)
    entry = store.get_or_extract(small_task, model_ref, [0, 6], progress=False)
    layer6 = entry.path / "layer-06.npy"
    # A flipped value: only the checksum can tell.
    data = bytearray(layer6.read_bytes())
    data[-3] ^= 0xFF
    layer6.write_bytes(bytes(data))
    store.load(entry.key, 6)  # the structure is fine
    with pytest.raises(StoreCorruptError, match="checksum"):
        store.load(entry.key, 6, verify=True)
    with pytest.raises(StoreCorruptError, match="checksum"):
        store.get_or_extract(small_task, model_ref, [6], progress=False)
    # A truncated file is caught even without the checksum.
    layer0 = entry.path / "layer-00.npy"
    layer0.write_bytes(layer0.read_bytes()[:-100])
    with pytest.raises(StoreCorruptError, match="truncated"):
        store.load(entry.key, 0)
    # A file whose shape does not match the manifest.
    np.save(layer0, np.zeros((3, 384), dtype=np.float32))
    with pytest.raises(StoreCorruptError, match="manifest says"):
        store.load(entry.key, 0)
    (entry.path / "manifest.json").write_text("{not json")
    with pytest.raises(StoreCorruptError, match="manifest"):
        store.entries()


def test_failed_extraction_leaves_nothing_behind(
    tmp_path: Path, small_task: Task, model_ref, monkeypatch, counted_loader
) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(store_module, "extract", broken)
    store = RepresentationStore(tmp_path)
    with pytest.raises(RuntimeError):
        store.get_or_extract(small_task, model_ref, [6], progress=False)
    assert store.entries() == []
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == []


def test_a_full_disk_is_an_error_naming_the_file_and_leaves_nothing(
    tmp_path: Path, small_task: Task, model_ref, monkeypatch, counted_loader
) -> None:
    # Writing into a memory map on a full disk used to kill the process (SIGBUS).
    def full(fd: int, offset: int, size: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    store = RepresentationStore(tmp_path)
    with pytest.raises(OSError) as info:
        store.get_or_extract(small_task, model_ref, [6], progress=False)
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename.endswith(".npy") and tmp_path.as_posix() in info.value.filename
    assert store.entries() == []
    assert [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")] == []


def test_a_killed_runs_staging_is_swept_on_the_next_run(
    tmp_path: Path, small_task: Task, model_ref, counted_loader
) -> None:
    store = RepresentationStore(tmp_path)
    entry = store.get_or_extract(small_task, model_ref, [6], progress=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    stale = entry.path.parent / f".tmp-first-@{host}@{dead.pid}@0123abcd"
    stale.mkdir()
    (stale / "layer_06.npy").write_bytes(b"half" * 1000)
    stale_layer = entry.path / f".layer_00.npy.@{host}@{dead.pid}@0123abcd.tmp"
    stale_layer.write_bytes(b"half")
    live = entry.path.parent / f".tmp-first-@{host}@{os.getpid()}@0123abcd"
    live.mkdir()  # a concurrent run's, still being written: kept
    again = store.get_or_extract(small_task, model_ref, [6], progress=False)
    assert again.path == entry.path and counted_loader == [model_ref.name]
    assert not stale.exists() and not stale_layer.exists()
    assert live.is_dir()
