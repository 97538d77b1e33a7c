"""The representation store: extracted vectors on disk, for later stages to memory-map.

Layout under the store's root, one *entry* per (encoder or checkpoint, task,
split, pooling)::

    <model>/<task>/<split>/<pooling>/
        manifest.json      what the entry is, where it came from, checksums
        layer-00.npy ...   one float32 (n_examples, dim) array per layer
        labels.npy         int32 label index of each example (manifest label order)
        entities.txt       each example's text and label, ``text<TAB>label``

``<model>`` is the encoder's name (hub id with ``/`` as ``--``, a folder's name,
``run--checkpoint-500`` for a fine-tuning checkpoint) unless one is given.

Provenance decides reuse: an entry records the encoder's identity (content
hash of its files, hub revision), its checkpoint step, the pooling, the
window overlap and a fingerprint of the task's examples. Asking again with the
same provenance reuses the entry without loading the model; layers it lacks
are extracted and added. The same key with a different provenance is an error
(:class:`StoreMismatchError`), never an overwrite. A new entry is written in
a temporary folder and renamed into place; added layers are written under a
temporary name and the manifest, replaced last, is what makes them visible.
Damaged entries (missing or truncated files, wrong shapes, checksum
mismatches) raise :class:`StoreCorruptError`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ftprobe import __version__
from ftprobe.data.atomic import (
    atomic_path,
    read_json,
    sha256_file,
    staging_dir,
    sweep_stale,
    utc_timestamp,
    write_json,
)
from ftprobe.data.task import Task
from ftprobe.encode.alignment import Pooling, check_pooling
from ftprobe.encode.extract import ExtractionReport, extract, parse_layers
from ftprobe.encode.models import ModelRef, load_encoder
from ftprobe.errors import FtprobeError

FORMAT = "ftprobe-representations"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LABELS_FILE = "labels.npy"
ENTITIES_FILE = "entities.txt"
# Entries are built in folders named so beside their final place, then renamed.
_STAGING_PREFIX = ".tmp-"


class StoreError(FtprobeError):
    """A problem with the representation store."""


class StoreMismatchError(StoreError):
    """An entry exists under this key but was made from something else."""


class StoreCorruptError(StoreError):
    """An entry's files are missing, truncated or do not match their checksums."""


@dataclass(frozen=True)
class EntryKey:
    """Where an entry lives: encoder name, task, split and pooling."""

    model: str
    task: str
    split: str
    pooling: str

    def __post_init__(self) -> None:
        for name, value in (("task", self.task), ("split", self.split)):
            if not value or "/" in value or value.startswith("."):
                raise StoreError(f"{name} name {value!r} cannot name a store folder")
        if not self.model or self.model.startswith(".") or "/" in self.model:
            raise StoreError(f"model name {self.model!r} cannot name a store folder")

    @property
    def relpath(self) -> Path:
        return Path(self.model, self.task, self.split, self.pooling)

    def __str__(self) -> str:
        return "/".join(self.relpath.parts)


def model_slug(ref: ModelRef) -> str:
    """The folder name for an encoder: its name, with path separators made safe."""
    slug = ref.name.replace("\\", "/").strip("/").replace("/", "--")
    if ref.checkpoint_step is not None and f"{ref.checkpoint_step}" not in slug:
        slug = f"{slug}--step-{ref.checkpoint_step}"
    return slug


def task_fingerprint(task: Task) -> str:
    """``sha256:<hex>`` over every example's words, unit and label, in order."""
    digest = hashlib.sha256()
    digest.update(json.dumps(list(task.labels.names)).encode())
    for ex in task.examples:
        digest.update(
            json.dumps([ex.tokens, ex.unit.kind, ex.unit.indices, ex.label]).encode("utf-8")
        )
        digest.update(b"\n")
    return f"sha256:{digest.hexdigest()}"


def file_checksum(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    return f"sha256:{sha256_file(path)}"


def _layer_file(layer: int) -> str:
    return f"layer-{layer:02d}.npy"


@dataclass
class StoreEntry:
    """One entry of the store: its key, folder and manifest."""

    key: EntryKey
    path: Path
    manifest: dict[str, Any]

    @property
    def layers(self) -> list[int]:
        return sorted(int(k) for k in self.manifest["layers"])

    @property
    def n_examples(self) -> int:
        return int(self.manifest["n_examples"])

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    @property
    def label_names(self) -> list[str]:
        return list(self.manifest["labels"])

    @property
    def report(self) -> ExtractionReport | None:
        rep = self.manifest.get("extraction")
        return ExtractionReport(**rep) if rep else None

    def load(self, layer: int, mmap: bool = True, verify: bool = False) -> np.ndarray:
        """The ``(n_examples, dim)`` float32 array of one layer (read-only memory map by default).

        The file's header and size are always checked; ``verify`` also checks
        its checksum (reads the whole file once).
        """
        info = self.manifest["layers"].get(str(layer))
        if info is None:
            raise StoreError(f"entry {self.key} has no layer {layer} (it has {self.layers})")
        return _open_array(
            self.path / info["file"],
            (self.n_examples, self.dim),
            np.float32,
            info["sha256"] if verify else None,
            mmap,
        )

    def labels(self, verify: bool = False) -> np.ndarray:
        """Each example's label index (into :attr:`label_names`)."""
        info = self.manifest["labels_file"]
        return _open_array(
            self.path / info["file"],
            (self.n_examples,),
            np.int32,
            info["sha256"] if verify else None,
            mmap=False,
        )

    def entities(self) -> list[tuple[str, str]]:
        """Each example's ``(text, label)``, as the pre-packed entities files list them."""
        info = self.manifest["entities_file"]
        path = self.path / info["file"]
        if not path.is_file():
            raise StoreCorruptError(f"{path}: missing (store entry {self.key})")
        if file_checksum(path) != info["sha256"]:
            raise StoreCorruptError(f"{path}: checksum mismatch (store entry {self.key})")
        lines = path.read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if len(lines) != self.n_examples:
            raise StoreCorruptError(
                f"{path}: {len(lines)} lines for {self.n_examples} examples "
                f"(store entry {self.key})"
            )
        return [tuple(line.split("\t", 1)) for line in lines]  # type: ignore[misc]

    def verify(self) -> None:
        """Check every file of the entry against the manifest; raise :class:`StoreCorruptError`."""
        for layer in self.layers:
            self.load(layer, mmap=True, verify=True)
        self.labels(verify=True)
        self.entities()


def _open_array(
    path: Path, shape: tuple[int, ...], dtype: type, checksum: str | None, mmap: bool
) -> np.ndarray:
    if not path.is_file():
        raise StoreCorruptError(f"{path}: missing from the store")
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise StoreCorruptError(f"{path}: unreadable or truncated ({exc})") from None
    if arr.shape != shape or arr.dtype != np.dtype(dtype):
        raise StoreCorruptError(
            f"{path}: holds {arr.dtype}{list(arr.shape)}, the manifest says "
            f"{np.dtype(dtype)}{list(shape)}"
        )
    if mmap:
        # A memory map of a truncated file fails only when touched: check the size now.
        expected = arr.offset + arr.nbytes  # type: ignore[attr-defined]
        if path.stat().st_size < expected:
            raise StoreCorruptError(f"{path}: truncated ({path.stat().st_size} < {expected} bytes)")
    if checksum is not None and file_checksum(path) != checksum:
        raise StoreCorruptError(f"{path}: checksum mismatch, the file changed after it was written")
    return arr


class RepresentationStore:
    """A folder of extracted representations (see the module notes for its layout)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    # -- reading ---------------------------------------------------------------

    def entry(self, key: EntryKey) -> StoreEntry | None:
        """The entry under ``key``, or ``None`` when there is none."""
        path = self.root / key.relpath
        manifest_path = path / MANIFEST
        if not manifest_path.exists():
            if path.exists():
                raise StoreCorruptError(f"{path}: store entry without {MANIFEST}")
            return None
        manifest = read_json(manifest_path, "manifest", StoreCorruptError)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise StoreCorruptError(f"{manifest_path}: not a {FORMAT} manifest")
        if manifest.get("format_version", 0) > FORMAT_VERSION:
            raise StoreError(
                f"{manifest_path}: written by a newer ftprobe (format "
                f"{manifest['format_version']}); upgrade ftprobe to read it"
            )
        return StoreEntry(key, path, manifest)

    def get(self, key: EntryKey) -> StoreEntry:
        """The entry under ``key``; :class:`StoreError` when there is none."""
        found = self.entry(key)
        if found is None:
            raise StoreError(f"no entry {key} in store {self.root}")
        return found

    def load(
        self, key: EntryKey, layer: int, mmap: bool = True, verify: bool = False
    ) -> np.ndarray:
        """One layer's array of an entry (see :meth:`StoreEntry.load`)."""
        return self.get(key).load(layer, mmap=mmap, verify=verify)

    def entries(self) -> list[StoreEntry]:
        """Every entry in the store, sorted by key."""
        found: list[StoreEntry] = []
        if not self.root.is_dir():
            return found
        for manifest in sorted(self.root.glob(f"*/*/*/*/{MANIFEST}")):
            parts = manifest.parent.relative_to(self.root).parts
            if any(p.startswith(".") for p in parts):
                continue
            entry = self.entry(EntryKey(*parts))
            if entry is not None:
                found.append(entry)
        return found

    # -- writing ---------------------------------------------------------------

    def key_for(
        self, task: Task, model: ModelRef, pooling: str, model_name: str | None = None
    ) -> EntryKey:
        """The key under which ``task`` encoded by ``model`` is stored."""
        return EntryKey(model_name or model_slug(model), task.name, task.split, pooling)

    def get_or_extract(
        self,
        task: Task,
        model: ModelRef,
        layers: str | Sequence[int] | None = "all",
        pooling: Pooling = "first",
        *,
        model_name: str | None = None,
        device: str = "auto",
        batch_size: int = 64,
        stride: int | None = None,
        progress: bool = True,
        verify: bool = True,
        encoder: tuple[Any, Any] | None = None,
    ) -> StoreEntry:
        """The entry for ``task`` encoded by ``model``, extracting only what is missing.

        An entry with the same provenance is reused (its layers are checked,
        with checksums when ``verify``); missing layers are extracted and
        added. The model is loaded only when something must be extracted;
        ``encoder`` may pass an already loaded ``(tokenizer, model)`` for
        ``model`` (e.g. to encode several tasks with one load).
        """
        check_pooling(pooling)
        key = self.key_for(task, model, pooling, model_name)
        self._sweep(key)
        provenance = {
            "model": model.describe(),
            "task_fingerprint": task_fingerprint(task),
            "pooling": pooling,
            "window_overlap": stride,
        }
        total, hidden = model_shape(model)
        wanted = parse_layers(layers, total)
        existing = self.entry(key)
        if existing is not None:
            _check_provenance(existing, provenance)
            for layer in existing.layers:
                if layer in wanted:
                    existing.load(layer, verify=verify)
            missing = [layer for layer in wanted if layer not in existing.layers]
            if not missing:
                return existing
            return self._add_layers(
                existing,
                task,
                model,
                missing,
                pooling,
                device,
                batch_size,
                stride,
                progress,
                encoder,
            )
        return self._create(
            key,
            task,
            model,
            provenance,
            wanted,
            pooling,
            device,
            batch_size,
            stride,
            progress,
            encoder,
        )

    def missing_layers(
        self,
        task: Task,
        model: ModelRef,
        layers: str | Sequence[int] | None = "all",
        pooling: Pooling = "first",
        model_name: str | None = None,
    ) -> list[int]:
        """The layers :meth:`get_or_extract` would have to compute (no model is loaded)."""
        wanted = parse_layers(layers, model_shape(model)[0])
        existing = self.entry(self.key_for(task, model, pooling, model_name))
        if existing is None:
            return wanted
        return [layer for layer in wanted if layer not in existing.layers]

    def put(
        self,
        key: EntryKey,
        arrays: dict[int, np.ndarray],
        labels: Sequence[str],
        label_names: Sequence[str],
        texts: Sequence[str],
        provenance: dict[str, Any],
        extra: dict[str, Any] | None = None,
    ) -> StoreEntry:
        """Write a complete entry from arrays in memory (e.g. an imported pre-packed folder).

        An existing entry with the same provenance and the same arrays is kept
        as it is; anything else under the same key is a :class:`StoreMismatchError`.
        """
        self._sweep(key)
        existing = self.entry(key)
        if existing is not None:
            _check_provenance(existing, provenance)
            if set(existing.layers) != set(arrays):
                raise StoreMismatchError(
                    f"store entry {key} exists with layers {existing.layers}, not {sorted(arrays)}"
                )
            return existing
        n = len(texts)
        dims = {a.shape[1] for a in arrays.values()}
        if len(dims) != 1 or any(a.shape[0] != n for a in arrays.values()):
            raise StoreError(f"entry {key}: arrays must all be ({n}, d) for {n} examples")
        with self._staging(key) as tmp:
            for layer, arr in sorted(arrays.items()):
                np.save(tmp / _layer_file(layer), np.ascontiguousarray(arr, dtype=np.float32))
            return self._seal(
                tmp, key, provenance, labels, label_names, texts, sorted(arrays), dims.pop(), extra
            )

    # -- internals -------------------------------------------------------------

    def _create(
        self,
        key: EntryKey,
        task: Task,
        model: ModelRef,
        provenance: dict[str, Any],
        layers: list[int],
        pooling: Pooling,
        device: str,
        batch_size: int,
        stride: int | None,
        progress: bool,
        encoder: tuple[Any, Any] | None,
    ) -> StoreEntry:
        tokenizer, network = encoder or load_encoder(model, device)
        width = 2 if task.examples and task.examples[0].unit.kind == "pair" else 1
        dim = int(network.config.hidden_size) * width
        n = len(task)
        with self._staging(key) as tmp:
            out = {layer: _layer_memmap(tmp / _layer_file(layer), n, dim) for layer in layers}
            reps = extract(
                task,
                tokenizer,
                network,
                layers,
                pooling,
                batch_size=batch_size,
                stride=stride,
                progress=progress,
                out=out,
            )
            for arr in out.values():
                arr.flush()
            out.clear()
            return self._seal(
                tmp,
                key,
                provenance,
                [ex.label for ex in task.examples],
                task.labels.names,
                [ex.text for ex in task.examples],
                layers,
                dim,
                {"unit_kind": task.unit_kind, "extraction": vars(reps.report)},
            )

    def _seal(
        self,
        tmp: Path,
        key: EntryKey,
        provenance: dict[str, Any],
        labels: Sequence[int],
        label_names: Sequence[str],
        texts: Sequence[str],
        layers: Sequence[int],
        dim: int,
        extra: dict[str, Any] | None,
    ) -> StoreEntry:
        """Checksum the staged layer files, write the manifest and commit the entry."""
        layer_info = {}
        for layer in layers:
            path = tmp / _layer_file(layer)
            layer_info[str(layer)] = {"file": path.name, "sha256": file_checksum(path)}
        manifest = self._base_manifest(key, provenance, label_names, len(texts), dim)
        manifest.update(self._write_labels(tmp, labels, label_names, texts))
        manifest["layers"] = layer_info
        if extra:
            manifest.update(extra)
        _write_json(tmp / MANIFEST, manifest)
        return self._commit(tmp, key)

    def _add_layers(
        self,
        entry: StoreEntry,
        task: Task,
        model: ModelRef,
        layers: list[int],
        pooling: Pooling,
        device: str,
        batch_size: int,
        stride: int | None,
        progress: bool,
        encoder: tuple[Any, Any] | None,
    ) -> StoreEntry:
        tokenizer, network = encoder or load_encoder(model, device)
        n, dim = entry.n_examples, entry.dim
        manifest = dict(entry.manifest)
        manifest["layers"] = dict(manifest["layers"])
        # Every layer is written to its own temporary (atomic_path) and all are
        # renamed into place together when the stack closes, only once every one
        # is complete; the manifest is replaced after that, so until then the new
        # layers do not exist. An error removes every temporary.
        with ExitStack() as stack:
            temps = {
                layer: stack.enter_context(atomic_path(entry.path / _layer_file(layer)))
                for layer in layers
            }
            out = {layer: _layer_memmap(path, n, dim) for layer, path in temps.items()}
            extract(
                task,
                tokenizer,
                network,
                layers,
                pooling,
                batch_size=batch_size,
                stride=stride,
                progress=progress,
                out=out,
            )
            for arr in out.values():
                arr.flush()
            out.clear()
            for layer, tmp_path in temps.items():
                manifest["layers"][str(layer)] = {
                    "file": _layer_file(layer),
                    "sha256": file_checksum(tmp_path),
                }
        manifest["updated"] = utc_timestamp()
        _write_json(entry.path / MANIFEST, manifest)
        return StoreEntry(entry.key, entry.path, manifest)

    def _base_manifest(
        self,
        key: EntryKey,
        provenance: dict[str, Any],
        label_names: Sequence[str],
        n: int,
        dim: int,
    ) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "key": {
                "model": key.model,
                "task": key.task,
                "split": key.split,
                "pooling": key.pooling,
            },
            "provenance": provenance,
            "task": key.task,
            "split": key.split,
            "pooling": key.pooling,
            "labels": list(label_names),
            "n_examples": n,
            "dim": dim,
            "tool_version": __version__,
            "created": utc_timestamp(),
        }

    @staticmethod
    def _write_labels(
        folder: Path, labels: Sequence[str], label_names: Sequence[str], texts: Sequence[str]
    ) -> dict[str, Any]:
        index = {name: i for i, name in enumerate(label_names)}
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise StoreError(f"labels not in the label list: {unknown}")
        ids = np.asarray([index[lab] for lab in labels], dtype=np.int32)
        np.save(folder / LABELS_FILE, ids)
        with open(folder / ENTITIES_FILE, "w", encoding="utf-8", newline="\n") as fh:
            for text, lab in zip(texts, labels, strict=True):
                fh.write(f"{_one_line(text)}\t{lab}\n")
        return {
            "labels_file": {"file": LABELS_FILE, "sha256": file_checksum(folder / LABELS_FILE)},
            "entities_file": {
                "file": ENTITIES_FILE,
                "sha256": file_checksum(folder / ENTITIES_FILE),
            },
        }

    def _sweep(self, key: EntryKey) -> None:
        """Remove what killed runs left beside and in this key's entry (see sweep_stale)."""
        sweep_stale(self.root / key.relpath.parent, _STAGING_PREFIX)
        sweep_stale(self.root / key.relpath, ".", ".tmp")

    def _staging(self, key: EntryKey) -> _Staging:
        parent = self.root / key.relpath.parent
        return _Staging(staging_dir(parent, prefix=f"{_STAGING_PREFIX}{key.pooling}-"))

    def _commit(self, tmp: Path, key: EntryKey) -> StoreEntry:
        final = self.root / key.relpath
        try:
            os.rename(tmp, final)
        except OSError:
            # Someone else finished the same entry first: theirs must agree with ours.
            other = self.entry(key)
            if other is None:
                raise
            mine = read_json(tmp / MANIFEST, "manifest", StoreCorruptError)
            _check_provenance(other, mine["provenance"])
            return other
        entry = self.entry(key)
        assert entry is not None
        return entry


def _layer_memmap(path: Path, n: int, dim: int) -> np.memmap:
    """A new float32 ``(n, dim)`` ``.npy`` file, memory-mapped, its disk space taken now.

    A memory map is sparse: writing into it on a full disk kills the process with
    SIGBUS, with no message and nothing cleaned up. Allocating the blocks first
    turns a full disk into an ``OSError`` (ENOSPC) naming the file, before any
    work is done.
    """
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    size = path.stat().st_size
    try:
        if not hasattr(os, "posix_fallocate"):
            raise OSError(errno.EOPNOTSUPP, "no posix_fallocate")
        fd = os.open(path, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, size)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            del arr
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        # No allocation on this system or file system: check the free space instead.
        if shutil.disk_usage(path.parent).free < size:
            del arr
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
    return arr


class _Staging:
    """A temporary entry folder, removed unless it was renamed into place."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        if self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)


def _check_provenance(entry: StoreEntry, provenance: dict[str, Any]) -> None:
    stored = entry.manifest.get("provenance", {})
    diffs = []
    for field in sorted(set(stored) | set(provenance)):
        a, b = stored.get(field), provenance.get(field)
        if field == "model" and isinstance(a, dict) and isinstance(b, dict):
            # The folder a model was loaded from may move; what it is may not.
            for sub in ("identity", "checkpoint_step"):
                if a.get(sub) != b.get(sub):
                    diffs.append(f"model {sub}: stored {a.get(sub)!r}, now {b.get(sub)!r}")
        elif a != b:
            diffs.append(f"{field}: stored {a!r}, now {b!r}")
    if diffs:
        raise StoreMismatchError(
            f"store entry {entry.key} at {entry.path} was made from something else "
            f"({'; '.join(diffs)}); give another model name or another store, "
            "or delete the entry"
        )


def model_shape(model: ModelRef) -> tuple[int, int]:
    """(number of hidden-state layers, hidden size) from the model's config, without weights."""
    config_path = model.path / "config.json"
    config = read_json(config_path, "model configuration")
    # Some configurations (e.g. DistilBERT) name these differently.
    layers = config.get("num_hidden_layers", config.get("n_layers"))
    hidden = config.get("hidden_size", config.get("dim"))
    if not isinstance(layers, int) or not isinstance(hidden, int):
        raise FtprobeError(f"{config_path}: no num_hidden_layers/hidden_size")
    return layers + 1, hidden


def _one_line(text: str) -> str:
    return " ".join(text.replace("\t", " ").split("\n"))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    # A manifest's layout: two-space indents, words as they are, a final newline.
    write_json(path, data, indent=2, ensure_ascii=False, newline=True)
