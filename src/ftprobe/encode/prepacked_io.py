"""Store entries to and from the published DirectProbe pre-packed folders.

A pre-packed folder holds one task with two splits named ``train`` and
``test`` (see :mod:`ftprobe.data.prepacked`). Export writes two store entries
(same encoder, task and pooling; the store splits chosen as ``train`` and
``test``, e.g. EWT's ``dev`` as training set) as such a folder::

    entities/train.txt, entities/test.txt      text<TAB>label
    labels/tags.txt                            the label list, sorted
    embeddings/layers/{train,test}/{L}.txt     6 decimals, one vector per line
    config.ini                                 published-style, for the highest layer

Import reads such a folder (with or without ``config.ini``) into two store
entries. Values round-trip exactly to the printed precision: an imported
vector is the float32 nearest to the printed decimals.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ftprobe.data.atomic import atomic_dir
from ftprobe.data.prepacked import (
    layer_embedding_paths,
    load_prepacked_task,
    prepacked_paths,
    read_embeddings,
    write_embeddings,
    write_entities,
    write_label_set,
)
from ftprobe.encode.store import (
    EntryKey,
    RepresentationStore,
    StoreEntry,
    StoreError,
    file_checksum,
    task_fingerprint,
)
from ftprobe.errors import ConfigError

DECIMALS = 6
PREPACKED_SPLITS = ("train", "test")


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    folder: Path
    layers: list[int]
    n_train: int
    n_test: int


def export_prepacked(
    store: RepresentationStore,
    model: str,
    task: str,
    out_dir: str | os.PathLike[str],
    train_split: str = "train",
    test_split: str = "test",
    pooling: str = "first",
    layers: Sequence[int] | None = None,
    decimals: int = DECIMALS,
) -> ExportResult:
    """Write the store's ``(model, task, pooling)`` entries as a pre-packed folder.

    ``train_split`` and ``test_split`` name the store splits that become the
    folder's ``train`` and ``test``. ``layers`` defaults to every layer both
    entries have. ``out_dir`` must not exist yet or be empty; the folder is
    built under a temporary name beside it and renamed into place when
    complete.
    """
    train = store.get(EntryKey(model, task, train_split, pooling))
    test = store.get(EntryKey(model, task, test_split, pooling))
    if train.label_names != test.label_names:
        raise StoreError(
            f"entries {train.key} and {test.key} have different label lists; "
            "extract both splits with the same task label set"
        )
    if train.dim != test.dim:
        raise StoreError(f"entries {train.key} and {test.key} have different widths")
    common = sorted(set(train.layers) & set(test.layers))
    chosen = common if layers is None else sorted(set(layers))
    missing = [layer for layer in chosen if layer not in common]
    if missing or not chosen:
        raise StoreError(
            f"layers {missing or chosen} are not in both entries (they share {common})"
        )
    target = Path(out_dir)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(f"{target} exists and is not an empty folder: choose another")
    # The folder was checked to be empty or absent, so nothing of the user's is replaced.
    with atomic_dir(target) as tmp:
        write_label_set(tmp / "labels" / "tags.txt", train.label_names)
        for name, entry in (("train", train), ("test", test)):
            write_entities(tmp / "entities" / f"{name}.txt", entry.entities())
            for layer in chosen:
                path = tmp / "embeddings" / "layers" / name / f"{layer}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                write_embeddings(path, entry.load(layer, verify=True), decimals=decimals)
        _write_config(tmp / "config.ini", target.resolve(), task, max(chosen))
    return ExportResult(target, chosen, train.n_examples, test.n_examples)


def _write_config(path: Path, folder: Path, task: str, layer: int) -> None:
    text = (
        "# Written by ftprobe for the published DirectProbe code; other layers are in\n"
        "# embeddings/layers/{train,test}/; point the two embeddings paths at them.\n"
        "[run]\n"
        f"output_path = {folder / 'results' / f'{task}{layer}'}/\n\n"
        "[data]\n"
        f"common = {folder}\n"
        "label_set_path = ${common}/labels/tags.txt\n"
        "entities_path = ${common}/entities/train.txt\n"
        f"embeddings_path = ${{common}}/embeddings/layers/train/{layer}.txt\n"
        "test_entities_path = ${common}/entities/test.txt\n"
        f"test_embeddings_path = ${{common}}/embeddings/layers/test/{layer}.txt\n\n"
        "[clustering]\n"
        "enable_cuda = False\n"
        "rate = 0.01\n"
        "mode = probing\n"
    )
    path.write_text(text, encoding="utf-8")


def import_prepacked(
    store: RepresentationStore,
    source: str | os.PathLike[str],
    model: str,
    task: str | None = None,
    train_split: str = "train",
    test_split: str = "test",
    pooling: str = "first",
    layers: Sequence[int] | None = None,
) -> list[StoreEntry]:
    """Read a pre-packed folder (or its ``config.ini``) into two store entries.

    ``model`` names the encoder the vectors came from (the folder does not
    say). Every ``embeddings/layers/{train,test}/{L}.txt`` is imported (or
    those of ``layers``); a folder without them imports the one layer its
    ``config.ini`` names (numbered by its file name when that is a number,
    else 0). The
    entries' provenance is a hash of the imported files, so importing the same
    folder again reuses them and importing different vectors under the same
    name is an error.
    """
    src = Path(source)
    paths = prepacked_paths(src)
    train_task, test_task = load_prepacked_task(src, name=task)
    name = train_task.name
    folder = paths.label_set.parent.parent
    files = {s: layer_embedding_paths(folder, s) for s in PREPACKED_SPLITS}
    if not files["train"] and paths.train_embeddings is not None:
        # No per-layer folders: the one layer the config.ini names.
        stem = paths.train_embeddings.stem
        layer = int(stem) if stem.isdigit() else 0
        files = {"train": {layer: paths.train_embeddings}}
        if paths.test_embeddings is not None:
            files["test"] = {layer: paths.test_embeddings}
    if layers is not None:
        files = {s: {k: v for k, v in f.items() if k in set(layers)} for s, f in files.items()}
    if not files["train"] or set(files["train"]) != set(files.get("test", {})):
        raise ConfigError(
            f"{src}: no embedding layers found in both splits "
            f"(train: {sorted(files['train'])}, test: {sorted(files.get('test', {}))})"
        )
    entries = []
    for prepacked_split, store_split, sub in (
        ("train", train_split, train_task),
        ("test", test_split, test_task),
    ):
        arrays = {
            layer: read_embeddings(path, expected_rows=len(sub))
            for layer, path in sorted(files[prepacked_split].items())
        }
        identity = hashlib.sha256()
        for layer, path in sorted(files[prepacked_split].items()):
            identity.update(f"{layer}:{file_checksum(path)}\n".encode())
        provenance = {
            "model": {
                "name": model,
                "source": "prepacked",
                "identity": f"sha256:{identity.hexdigest()}",
                "checkpoint_step": None,
            },
            "task_fingerprint": task_fingerprint(sub),
            "pooling": pooling,
            "window_overlap": None,
        }
        entries.append(
            store.put(
                EntryKey(model, name, store_split, pooling),
                arrays,
                labels=[ex.label for ex in sub.examples],
                label_names=sub.labels.names,
                texts=[ex.text for ex in sub.examples],
                provenance=provenance,
                extra={
                    "imported_from": str(src.resolve()),
                    "unit_kind": sub.unit_kind,
                    "prepacked_split": prepacked_split,
                },
            )
        )
    return entries
