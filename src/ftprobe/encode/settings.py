"""Fine-tuning's settings and the number of updates they make, without importing torch.

A study file is validated, and its checkpoints planned, before any work starts
(and by commands that never train), so the settings live apart from the torch
module that uses them (:mod:`ftprobe.encode.finetune`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ftprobe.encode.alignment import check_pooling
from ftprobe.errors import ConfigError


@dataclass(frozen=True)
class FinetuneSettings:
    """Everything that decides the fine-tuned weights (besides data, model and seed source).

    ``batch_size`` counts sentences. ``save_every`` adds a checkpoint every that
    many updates (step 0 and the last update are always saved). ``max_steps``
    stops early; the learning-rate schedule then spans ``max_steps`` updates.
    ``max_length`` defaults to the model's limit.
    """

    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    head_dropout: float = 0.1
    seed: int = 13
    save_every: int | None = None
    max_steps: int | None = None
    pooling: str = "first"
    max_length: int | None = None

    def __post_init__(self) -> None:
        check_pooling(self.pooling)
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch size must be positive")
        if self.learning_rate <= 0 or self.weight_decay < 0 or self.max_grad_norm <= 0:
            raise ConfigError(
                "the learning rate and gradient-norm limit must be positive, "
                "the weight decay non-negative"
            )
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"warm-up ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0.0 <= self.head_dropout < 1.0:
            raise ConfigError(f"head dropout must be in [0, 1), got {self.head_dropout}")
        if self.save_every is not None and self.save_every < 1:
            raise ConfigError(f"--save-every must be positive, got {self.save_every}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"--max-steps must be positive, got {self.max_steps}")
        if self.max_length is not None and self.max_length < 3:
            raise ConfigError(f"max length {self.max_length} leaves no room for words")

    def updates_per_epoch(self, n_sentences: int) -> int:
        """Updates an epoch over ``n_sentences`` distinct sentences (batches hold whole ones)."""
        return math.ceil(n_sentences / self.batch_size)

    def total_updates(self, n_sentences: int) -> int:
        """How many updates a run on ``n_sentences`` distinct sentences makes.

        The one count: batches hold whole sentences, so an epoch is
        ``ceil(n_sentences / batch_size)`` updates, cut at ``max_steps``. A study plans
        its checkpoints with it before any run starts, so both must agree.
        """
        total = self.epochs * self.updates_per_epoch(n_sentences)
        return min(total, self.max_steps) if self.max_steps is not None else total
