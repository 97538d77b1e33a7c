"""Encoder specs: the offline default, local folders and checkpoints, hub ids offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftprobe.encode.models import (
    CHECKPOINT_FILE,
    default_model_dir,
    load_encoder,
    max_pieces,
    resolve_model,
)
from ftprobe.encode.store import model_slug
from ftprobe.errors import ConfigError, FtprobeError


def _link_copy(src: Path, dst: Path) -> Path:
    """A folder with the same files (symbolic links: no 90 MB copy)."""
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file():
            (dst / f.name).symlink_to(f)
    return dst


def test_default_and_its_aliases_resolve_to_the_packaged_model() -> None:
    ref = resolve_model(None)
    assert ref.path == default_model_dir()
    assert ref.source == "package" and ref.name == "all-MiniLM-L6-v2"
    assert ref.identity.startswith("sha256:") and len(ref.identity) == 71
    for alias in ("minilm-l6", "all-minilm-l6-v2", "MiniLM-L6"):
        assert resolve_model(alias).identity == ref.identity


def test_a_checkpoint_folder_is_named_by_its_run_and_step(tmp_path: Path) -> None:
    ckpt = _link_copy(default_model_dir(), tmp_path / "pos-run" / "step-000010")
    (ckpt / CHECKPOINT_FILE).write_text(json.dumps({"step": 10}))
    ref = resolve_model(str(ckpt))
    assert ref.source == "local" and ref.checkpoint_step == 10
    assert ref.name == "pos-run/step-000010"
    assert model_slug(ref) == "pos-run--step-000010"
    # Same files, same identity, wherever they are.
    assert ref.identity == resolve_model(None).identity


def test_changed_weights_change_the_identity(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    src = default_model_dir()
    for name in ("config.json", "tokenizer.json", "vocab.txt"):
        (folder / name).symlink_to(src / name)
    (folder / "model.safetensors").write_bytes(b"weights one")
    first = resolve_model(str(folder)).identity
    (folder / "model.safetensors").write_bytes(b"weights two")
    assert resolve_model(str(folder)).identity != first


def test_bad_folders_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config.json"):
        resolve_model(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="weight files"):
        resolve_model(str(tmp_path))
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model(str(tmp_path / "no" / "such" / "folder"))


def test_hub_id_offline_without_cache_fails_clearly(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(FtprobeError, match="offline") as err:
        resolve_model("ftprobe-tests/no-such-model")
    assert "minilm-l6" in str(err.value)


@pytest.mark.slow
def test_load_encoder_gives_a_fast_tokenizer_and_an_eval_model() -> None:
    tokenizer, model = load_encoder(resolve_model(None), "cpu")
    assert tokenizer.is_fast
    assert not model.training
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    assert max_pieces(tokenizer, model) == 512
    with pytest.raises(ConfigError):
        load_encoder(resolve_model(None), "tpu")


def test_one_device_check_for_every_stage() -> None:
    import torch

    from ftprobe.encode.device import resolve_device
    from ftprobe.errors import ConfigError

    assert resolve_device(" CPU ") == "cpu"
    assert resolve_device(torch.device("cpu")) == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU is available"):
            resolve_device("cuda:0")
