"""Task names, splits, shared label sets and the data folder setting."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from ftprobe.data.paths import DataNotFoundError, data_dir, default_cache_dir
from ftprobe.data.registry import TASK_NAMES, load_splits, load_task, task_splits
from ftprobe.errors import ConfigError, InputError


def test_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTPROBE_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert data_dir() == tmp_path / "env"
    monkeypatch.delenv("FTPROBE_DATA")
    assert data_dir() == default_cache_dir() == tmp_path / "xdg/ftprobe/data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache/ftprobe/data"


def test_splits_follow_the_files_present(shared_data: Path) -> None:
    assert TASK_NAMES == ("pos", "dep", "ps-role", "ps-fxn", "trec-50", "trec-6")
    assert task_splits("pos", shared_data) == ["dev", "test"]
    assert task_splits("ps-fxn", shared_data) == ["dev", "test"]
    assert task_splits("trec-6", shared_data) == ["train", "test"]


def test_splits_share_one_label_set(shared_data: Path) -> None:
    splits = load_splits("ps-role", shared_data)
    assert {s: len(t) for s, t in splits.items()} == {"dev": 462, "test": 485}
    assert splits["dev"].labels is splits["test"].labels and len(splits["dev"].labels) == 41
    # loading one split alone gives the same label order
    assert load_task("ps-role", "dev", shared_data).labels == splits["dev"].labels
    dep = load_splits("dep", shared_data, subtypes="false")
    assert dep["dev"].labels is dep["test"].labels and "nmod:poss" not in dep["dev"].labels


def test_trec_options_reach_the_reader(shared_data: Path) -> None:
    with pytest.raises(InputError) as info:
        load_task("trec-50", "train", shared_data)
    assert info.value.line == 4_451
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(load_task("trec-50", "train", shared_data, on_bad_line="skip")) == 5_443


def test_bad_names_list_the_valid_ones(shared_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown task 'upos'.*pos, dep, ps-role"):
        load_task("upos", "dev", shared_data)
    with pytest.raises(ConfigError, match="no split 'valid'; its splits: dev, test"):
        load_task("ps-role", "valid", shared_data)
    with pytest.raises(ConfigError, match="no option 'root'.*include_root, subtypes"):
        load_task("dep", "dev", shared_data, root=True)


def test_missing_corpus_says_where_it_looked_and_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        load_splits("pos", tmp_path)
    message = str(info.value)
    assert "ud-ewt/en_ewt-ud-dev.conllu" in message and str(tmp_path) in message
    assert "ftprobe data fetch" in message


def test_user_folders_and_prepacked(tmp_path: Path, reference_task: Path) -> None:
    for split, label in (("train", "A"), ("test", "B")):
        (tmp_path / f"{split}.jsonl").write_text(
            json.dumps({"tokens": ["x", "y"], "index": 1, "label": label}) + "\n"
        )
    splits = load_splits(f"jsonl:{tmp_path}")
    assert set(splits) == {"train", "test"} and splits["train"].labels.names == ("A", "B")
    (tmp_path / "labels.txt").write_text("A\nC\n")
    with pytest.raises(InputError, match="'B' is not in the label set") as info:
        load_splits(f"jsonl:{tmp_path}")
    assert info.value.path.endswith("test.jsonl") and info.value.line == 1
    packed = load_splits(f"prepacked:{reference_task}")
    assert {s: len(t) for s, t in packed.items()} == {"train": 462, "test": 485}
