"""Store entries to and from the published pre-packed folders, exact to the printed precision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ftprobe.data.prepacked import read_config, read_embeddings, read_entities
from ftprobe.encode.prepacked_io import export_prepacked, import_prepacked
from ftprobe.encode.store import EntryKey, RepresentationStore, StoreMismatchError
from ftprobe.errors import ConfigError


def _synthetic(store: RepresentationStore, rng: np.random.Generator) -> dict[str, np.ndarray]:
    labels = ["p.A", "p.B", "p.C"]
    arrays = {}
    for split, n in (("dev", 40), ("test", 25)):
        # Values up to about +-15: float32 still resolves every 6th decimal there.
        vecs = {layer: np.clip(rng.normal(scale=4, size=(n, 16)), -15, 15) for layer in (0, 6)}
        arrays[split] = vecs[6]
        store.put(
            EntryKey("enc", "toy", split, "first"),
            {k: v.astype(np.float32) for k, v in vecs.items()},
            labels=[labels[i % 3] for i in range(n)],
            label_names=labels,
            texts=[f"word{i} of" for i in range(n)],
            provenance={"model": {"identity": "sha256:x"}, "pooling": "first"},
        )
    return arrays


def test_round_trip_is_exact_to_six_decimals(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    store = RepresentationStore(tmp_path / "store")
    original = _synthetic(store, rng)
    folder = tmp_path / "packed"
    result = export_prepacked(store, "enc", "toy", folder, train_split="dev", test_split="test")
    assert result.layers == [0, 6] and (result.n_train, result.n_test) == (40, 25)
    assert (folder / "labels" / "tags.txt").read_text() == "p.A\np.B\np.C\n"
    first = (folder / "embeddings" / "layers" / "train" / "6.txt").read_text().split("\n")[0]
    assert all(len(v.split(".")[1]) == 6 for v in first.split(" "))
    assert read_entities(folder / "entities" / "test.txt")[1] == ("word1 of", "p.B")
    # The config.ini is one the published code (and ftprobe) can read.
    cfg = read_config(folder / "config.ini")
    assert cfg.embeddings_path == folder.resolve() / "embeddings" / "layers" / "train" / "6.txt"

    back = RepresentationStore(tmp_path / "back")
    entries = import_prepacked(back, folder, "enc", task="toy", train_split="dev")
    assert [e.key.split for e in entries] == ["dev", "test"]
    for entry in entries:
        assert entry.layers == [0, 6]
        imported = entry.load(6)
        orig32 = original[entry.key.split].astype(np.float32)
        spacing = np.spacing(np.abs(orig32))
        assert (np.abs(imported - orig32) <= 5e-7 + spacing).all()
        assert entry.label_names == ["p.A", "p.B", "p.C"]
    # Exporting the imported entries gives the same files, byte for byte.
    again = tmp_path / "again"
    export_prepacked(back, "enc", "toy", again, train_split="dev", test_split="test")
    for path in folder.rglob("*.txt"):
        assert (again / path.relative_to(folder)).read_bytes() == path.read_bytes(), path


def test_reference_folder_round_trips(tmp_path: Path, reference_task: Path) -> None:
    source = reference_task
    store = RepresentationStore(tmp_path / "store")
    train, test = import_prepacked(store, source, "published", task="ps-role")
    assert (train.n_examples, test.n_examples, train.dim) == (462, 485, 384)
    assert len(train.label_names) == 41
    expected = read_embeddings(source / "embeddings" / "layers" / "train" / "6.txt")
    np.testing.assert_array_equal(train.load(6), expected)
    # Importing the same folder again reuses the entries.
    assert import_prepacked(store, source, "published", task="ps-role")[0].manifest == (
        train.manifest
    )
    out = tmp_path / "out"
    export_prepacked(store, "published", "ps-role", out)
    for rel in (
        "labels/tags.txt",
        "entities/train.txt",
        "entities/test.txt",
        "embeddings/layers/train/6.txt",
        "embeddings/layers/test/6.txt",
    ):
        assert (out / rel).read_bytes() == (source / rel).read_bytes(), rel


def test_import_of_different_vectors_under_the_same_name_is_refused(
    tmp_path: Path, reference_task: Path
) -> None:
    source = reference_task
    store = RepresentationStore(tmp_path / "store")
    import_prepacked(store, source, "published", task="ps-role")
    # A copy of the folder whose vectors differ in one value.
    copy = tmp_path / "copy"
    for path in source.rglob("*.txt"):
        target = copy / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    emb = copy / "embeddings" / "layers" / "train" / "6.txt"
    text = emb.read_text()
    emb.write_text(text.replace(text.split(" ")[0], "9.999999", 1))
    with pytest.raises(StoreMismatchError):
        import_prepacked(store, copy, "published", task="ps-role")


def test_export_never_overwrites_a_folder(tmp_path: Path) -> None:
    store = RepresentationStore(tmp_path / "store")
    _synthetic(store, np.random.default_rng(0))
    target = tmp_path / "packed"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not an empty folder"):
        export_prepacked(store, "enc", "toy", target, train_split="dev")
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
