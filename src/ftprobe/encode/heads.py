"""Classification heads on pooled units, and their files beside a saved encoder.

Every unit kind gets the same kind of head: the encoder's last hidden states
are pooled into one vector per unit exactly as extraction pools them (a
:class:`~ftprobe.encode.alignment.PoolingPlan` built from
:func:`~ftprobe.encode.alignment.unit_slots`: a word's first or mean piece, a
span's first piece or mean, a pair's concatenated head and dependent, a
sentence's ``[CLS]`` or mean), then dropout and one linear layer give a logit
per label. So the vectors that the head learned to classify are the vectors
that a later extraction of the fine-tuned encoder returns.

A head is saved as ``head.safetensors`` (``weight``, ``bias``) plus
``head.json`` (what it classifies: unit kind, pooling, label names, sizes).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ftprobe.data.atomic import atomic_path, write_json
from ftprobe.data.task import UnitKind
from ftprobe.encode.alignment import check_pooling
from ftprobe.errors import InputError

HEAD_WEIGHTS = "head.safetensors"
HEAD_CONFIG = "head.json"
_FORMAT = "ftprobe-head"


@dataclass(frozen=True)
class HeadSpec:
    """What a head classifies and its sizes; ``width`` is 2 for pairs, else 1."""

    unit_kind: UnitKind
    pooling: str
    hidden_size: int
    labels: tuple[str, ...]
    dropout: float = 0.1

    def __post_init__(self) -> None:
        check_pooling(self.pooling)

    @property
    def width(self) -> int:
        return 2 if self.unit_kind == "pair" else 1

    @property
    def in_features(self) -> int:
        return self.width * self.hidden_size


class UnitHead(nn.Module):
    """Dropout and a linear layer from a pooled unit to one logit per label."""

    def __init__(self, spec: HeadSpec) -> None:
        super().__init__()
        self.spec = spec
        self.dropout = nn.Dropout(spec.dropout)
        self.linear = nn.Linear(spec.in_features, len(spec.labels))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(pooled))


def save_head(head: UnitHead, folder: str | os.PathLike[str]) -> None:
    """Write ``head.safetensors`` and ``head.json`` into ``folder`` (atomically)."""
    target = Path(folder)
    tensors = {k: v.detach().cpu().contiguous() for k, v in head.linear.state_dict().items()}
    with atomic_path(target / HEAD_WEIGHTS) as tmp:
        save_file(tensors, str(tmp))
    record = {"format": _FORMAT, "version": 1, **asdict(head.spec)}
    record["labels"] = list(head.spec.labels)
    write_json(target / HEAD_CONFIG, record, indent=1, newline=True)


def load_head(folder: str | os.PathLike[str], device: str = "cpu") -> UnitHead:
    """Read a head written by :func:`save_head`."""
    source = Path(folder)
    config = source / HEAD_CONFIG
    try:
        record = json.loads(config.read_text(encoding="utf-8"))
        spec = HeadSpec(
            unit_kind=record["unit_kind"],
            pooling=record["pooling"],
            hidden_size=int(record["hidden_size"]),
            labels=tuple(record["labels"]),
            dropout=float(record["dropout"]),
        )
    except FileNotFoundError:
        raise InputError(config, None, "no classification head here") from None
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(config, None, f"unreadable head description ({exc})") from None
    head = UnitHead(spec)
    try:
        head.linear.load_state_dict(load_file(str(source / HEAD_WEIGHTS)))
    except (OSError, RuntimeError) as exc:
        raise InputError(source / HEAD_WEIGHTS, None, f"unreadable head weights ({exc})") from None
    return head.to(device)
