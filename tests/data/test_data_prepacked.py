"""Pre-packed DirectProbe folders: entities, tags, embeddings, config.ini."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from ftprobe.data.prepacked import (
    layer_embedding_paths,
    load_prepacked,
    load_prepacked_task,
    read_config,
    read_embeddings,
    read_entities,
    read_label_set,
    write_embeddings,
    write_entities,
    write_label_set,
)
from ftprobe.errors import ConfigError, InputError


def test_reference_folder_loads_as_two_tasks_sharing_tags(reference_task: Path) -> None:
    train, test = load_prepacked_task(reference_task)
    assert (len(train), len(test)) == (462, 485)
    assert len(train.labels) == 41 and train.labels is test.labels
    assert list(train.labels.names) == sorted(train.labels.names)
    assert train.examples[0].text == "before" and train.examples[0].label == "p.Time"
    assert train.name == "SS" and train.unit_kind == "span"
    train_6 = reference_task / "embeddings/layers/train/6.txt"
    emb = read_embeddings(train_6, expected_rows=len(train))
    assert emb.shape == (462, 384) and emb.dtype == np.float32
    assert layer_embedding_paths(reference_task, "test") == {
        6: reference_task / "embeddings/layers/test/6.txt"
    }


def test_embeddings_fast_parse_equals_plain_float_parse(reference_task: Path) -> None:
    path = reference_task / "embeddings/layers/test/6.txt"
    got = read_embeddings(path, dtype=np.float64)
    lines = path.read_text().splitlines()
    assert got.shape == (485, 384)
    for i in (0, 200, 484):
        assert got[i].tolist() == [float(v) for v in lines[i].split()]


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((7, 5))
    write_embeddings(tmp_path / "e.txt", vecs, decimals=6)
    back = read_embeddings(tmp_path / "e.txt", expected_rows=7, dtype=np.float64)
    np.testing.assert_allclose(back, vecs, atol=5e-7)
    write_entities(tmp_path / "ent.txt", [("next to", "p.Locus"), ("of", "p.Gestalt")])
    assert read_entities(tmp_path / "ent.txt") == [("next to", "p.Locus"), ("of", "p.Gestalt")]
    write_label_set(tmp_path / "tags.txt", ["b", "a"])
    assert read_label_set(tmp_path / "tags.txt").names == ("a", "b")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        (b"1.0 2.0\n3.0 abc\n", 2, "'abc'"),
        (b"1.0 2.0\n3.0 nan\n", 2, "NaN or infinite"),
        (b"1.0 2.0\n3.0 inf\n", 2, "NaN or infinite"),
        (b"1.0 2.0\n3.0 4.0 5.0\n", 2, "ragged"),
        (b"1.0 2.0 3.0\n3.0 4.0\n", 2, "ragged"),
        (b"1.0 2.0\n\n3.0 4.0\n", 2, "blank line"),
        (b"1.0 2.0\n3.0 4\xff0\n", 2, "not valid utf-8"),
    ],
)
def test_bad_embedding_lines_are_named(
    tmp_path: Path, content: bytes, line: int, fragment: str
) -> None:
    path = tmp_path / "e.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=fragment) as info:
        read_embeddings(path)
    assert info.value.line == line and info.value.path == str(path)


def test_empty_embedding_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "e.txt").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_embeddings(tmp_path / "e.txt")


def test_embedding_count_must_match_entity_count(tmp_path: Path) -> None:
    path = tmp_path / "e.txt"
    write_embeddings(path, np.ones((3, 2)))
    with pytest.raises(InputError, match="3 vectors but 2 examples") as info:
        read_embeddings(path, expected_rows=2)
    assert info.value.line == 3
    with pytest.raises(InputError, match="3 vectors but 4 examples"):
        read_embeddings(path, expected_rows=4)


def _make_folder(root: Path, train: str, tags: str, n_vectors: int = 2) -> Path:
    (root / "entities").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "entities/train.txt").write_text(train)
    (root / "entities/test.txt").write_text("in\tA\n")
    (root / "labels/tags.txt").write_text(tags)
    write_embeddings(root / "emb_train.txt", np.zeros((n_vectors, 3)))
    write_embeddings(root / "emb_test.txt", np.zeros((1, 3)))
    return root


def test_unknown_label_in_entities_names_file_and_line(tmp_path: Path) -> None:
    folder = _make_folder(tmp_path / "T", "on\tA\nat\tZ\n", "A\nB\n")
    with pytest.raises(InputError, match="'Z' is not in the label set") as info:
        load_prepacked_task(folder)
    assert info.value.line == 2 and info.value.path.endswith("train.txt")


@pytest.mark.parametrize(
    ("content", "line"), [("on\tA\n\nat\tA\n", 2), ("on A\n", 1), ("on\tA\tB\n", 1)]
)
def test_malformed_entity_lines(tmp_path: Path, content: str, line: int) -> None:
    (tmp_path / "e.txt").write_text(content)
    with pytest.raises(InputError) as info:
        read_entities(tmp_path / "e.txt")
    assert info.value.line == line


def test_empty_entity_file(tmp_path: Path) -> None:
    (tmp_path / "e.txt").write_text("")
    with pytest.raises(InputError, match="empty"):
        read_entities(tmp_path / "e.txt")


CONFIG = """
[run]
output_path = results/T/

[data]
common = T
label_set_path = ${common}/labels/tags.txt
entities_path = ${common}/entities/train.txt
embeddings_path = ${common}/emb_train.txt
test_entities_path = ${common}/entities/test.txt
test_embeddings_path = ${common}/emb_test.txt

[clustering]
enable_cuda = False
rate = 0.05
mode = prediction
probing_cluster_path = results/T/
"""


def test_config_expands_common_and_resolves_beside_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_folder(tmp_path / "T", "on\tA\nat\tB\n", "A\nB\n")
    (tmp_path / "config.ini").write_text(CONFIG)
    monkeypatch.chdir(tmp_path.parent)  # the data is not under the working directory
    cfg = read_config(tmp_path / "config.ini")
    assert cfg.base_dir == tmp_path.resolve()
    assert cfg.entities_path == tmp_path.resolve() / "T/entities/train.txt"
    assert cfg.enable_cuda is False  # the published code turned "False" into True
    assert cfg.rate == 0.05 and cfg.mode == "prediction"
    assert cfg.probing_cluster_path == tmp_path.resolve() / "results/T/clusters.txt"
    train, test = load_prepacked_task(tmp_path / "config.ini")
    assert [e.text for e in train.examples] == ["on", "at"]
    emb = read_embeddings(cfg.embeddings_path, expected_rows=len(train))
    assert emb.shape == (2, 3)


def test_config_prefers_the_working_directory_like_the_published_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_folder(tmp_path / "T", "on\tA\n", "A\n", n_vectors=1)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/config.ini").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    cfg = read_config(tmp_path / "conf/config.ini")
    assert cfg.label_set_path == Path(os.getcwd()) / "T/labels/tags.txt"


def test_config_missing_key_and_unknown_key(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    path.write_text(CONFIG.replace("entities_path = ${common}/entities/train.txt\n", ""))
    with pytest.raises(
        ConfigError, match=r"config.ini: section \[data\] has no key 'entities_path'"
    ):
        read_config(path)
    path.write_text(CONFIG + "colour = blue\n[extra]\nx = 1\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_config(path)
    assert {str(w.message).split(": ", 1)[1] for w in caught} == {
        "unknown key 'colour' in [clustering] ignored",
        "unknown section [extra] ignored",
    }


def test_config_bad_boolean_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    path.write_text(CONFIG.replace("enable_cuda = False", "enable_cuda = maybe"))
    with pytest.raises(ConfigError, match="enable_cuda"):
        read_config(path)


def test_load_prepacked_pairs_tasks_with_vectors(reference_task: Path) -> None:
    data = load_prepacked(reference_task)  # one layer in the folder: no need to name it
    assert data.train_vectors.shape == (len(data.train), 384)
    assert data.test_vectors.shape == (len(data.test), 384)
    assert data.paths.test_embeddings == reference_task / "embeddings/layers/test/6.txt"
    with pytest.raises(ConfigError, match="layers found: 6"):
        load_prepacked(reference_task, layer=12)
    explicit = load_prepacked(data.paths)  # explicit paths work as well
    assert explicit.train.name == "SS" and (explicit.test_vectors == data.test_vectors).all()


def test_prepacked_folder_with_fewer_vectors_than_entities(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_folder(tmp_path / "T", "on\tA\nat\tB\nin\tA\n", "A\nB\n", n_vectors=2)
    (tmp_path / "config.ini").write_text(CONFIG.replace("mode = prediction", "mode = probing"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="2 vectors but 3 examples") as info:
        load_prepacked(tmp_path / "config.ini")
    assert info.value.path.endswith("emb_train.txt")
