"""Fine-tuning an encoder with a unit classification head, keeping checkpoints.

The recipe is the standard one: the encoder plus a head suited to the task's
unit (:mod:`ftprobe.encode.heads`, pooling exactly as extraction does), AdamW
(weight decay on every weight but biases and LayerNorm), a linear learning-rate
warm-up over ``warmup_ratio`` of the updates and a linear decay to zero
(``transformers.get_linear_schedule_with_warmup``), gradient clipping at norm
1, dropout as the encoder's configuration sets it (0.1 for BERTs) and 0.1 in
the head, cross-entropy averaged over the units of a batch.

A batch is ``batch_size`` distinct *sentences* with all their units: a POS
sentence is encoded once and every word in it is a training unit (as in token
classification); a TREC question carries one unit. Sentences longer than the
model (``max_length`` positions) are truncated; units beyond the cut use the
last kept piece (counted in the run's ``truncated_units``).

Run folder ``OUT/``::

    run.json            manifest: what was trained, settings, status, checkpoints
    split.json          the seeded subtrain/subtest split of the training set
    log.csv             step, epoch, loss, learning rate of every update
    step-000000/        a checkpoint: the encoder and tokenizer (save_pretrained),
                        head.safetensors + head.json, ftprobe_checkpoint.json (its record)
    step-000500/ ...    every ``save_every`` updates, and the last update
    state/              optimizer, scheduler and RNG state of the latest
                        checkpoint, while the run is unfinished

Checkpoints are written into a temporary folder and renamed into place; the
manifest is replaced after each one. Determinism: the head's initialisation and
dropout draw from torch's RNG seeded with ``seed`` (inside ``fork_rng``, so the
caller's RNG is untouched), the sentence order of epoch ``e`` is a permutation
drawn from ``numpy.random.default_rng([seed, e])``, and torch's deterministic
algorithms are on while training: on the CPU the same seed, settings and
thread count give bitwise the same weights. Evaluating and saving use no
randomness, so they do not change the trajectory. A rerun with the same
settings finds a complete run and reuses it; an unfinished one resumes from
its latest checkpoint with the saved optimizer, scheduler and RNG state and
continues exactly as if it had not stopped.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ftprobe import __version__
from ftprobe.data.atomic import (
    atomic_dir,
    atomic_open,
    atomic_path,
    read_json,
    sweep_stale,
    utc_timestamp,
    write_json,
)
from ftprobe.data.task import Task
from ftprobe.encode.alignment import (
    PoolingPlan,
    SpecialTemplate,
    TruncatedRows,
    WordPieces,
    check_pooling,
    special_template,
    tokenize_words,
    unit_slots,
)
from ftprobe.encode.heads import HeadSpec, UnitHead, load_head, save_head
from ftprobe.encode.models import (
    CHECKPOINT_FILE,
    ModelRef,
    load_encoder,
    max_pieces,
    resolve_model,
)
from ftprobe.encode.settings import FinetuneSettings
from ftprobe.encode.store import task_fingerprint
from ftprobe.encode.subsplit import plan_split, save_split
from ftprobe.errors import ConfigError, FtprobeError

RUN_FILE = "run.json"
SPLIT_FILE = "split.json"
LOG_FILE = "log.csv"
STATE_DIR = "state"
_STATE_FILE = "training-state.pt"
_FORMAT = "ftprobe-finetune-run"
_EVAL_BATCH = 64


@dataclass(frozen=True)
class CheckpointRecord:
    """One saved checkpoint: its update step, training loss since the previous one, dev accuracy."""

    step: int
    epoch: float
    train_loss: float | None
    dev_accuracy: float | None
    path: Path

    def to_json(self, root: Path) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "dev_accuracy": self.dev_accuracy,
            "path": self.path.relative_to(root).as_posix(),
        }


@dataclass
class FinetuneRun:
    """A fine-tuning run folder: its checkpoints (in step order) and split file."""

    out: Path
    checkpoints: list[CheckpointRecord]
    split_file: Path | None
    complete: bool
    reused: bool = False
    resumed_from: int | None = None
    manifest: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def final(self) -> CheckpointRecord:
        return self.checkpoints[-1]

    def checkpoint(self, step: int) -> CheckpointRecord:
        """The checkpoint saved at update ``step``."""
        for record in self.checkpoints:
            if record.step == step:
                return record
        steps = ", ".join(str(r.step) for r in self.checkpoints)
        raise ConfigError(f"run {self.out} has no checkpoint at step {step} (it has {steps})")


def checkpoint_steps(total_steps: int, save_every: int | None) -> list[int]:
    """Steps at which a run of ``total_steps`` updates saves: 0, every ``save_every``, last."""
    steps = {0, total_steps}
    if save_every:
        steps.update(range(save_every, total_steps, save_every))
    return sorted(steps)


def finetune(
    task: Task,
    out: str | os.PathLike[str],
    model: ModelRef | str | None = None,
    settings: FinetuneSettings | None = None,
    *,
    eval_task: Task | None = None,
    subtrain_fraction: float | None = 0.8,
    split_seed: int | None = None,
    device: str = "auto",
    progress: bool = True,
    on_checkpoint: Callable[[CheckpointRecord], None] | None = None,
) -> FinetuneRun:
    """Fine-tune ``model`` on ``task`` into the run folder ``out``; see the module notes.

    ``eval_task`` (same label set) gives each checkpoint's dev accuracy.
    ``subtrain_fraction`` (``None`` or 0: none) writes the memorization study's
    subtrain/subtest split of ``task`` to ``split.json``, drawn with
    ``split_seed`` (default: the training seed). ``on_checkpoint`` is called
    after each checkpoint is safely on disk. A complete run with the same
    settings in ``out`` is returned as it is; an unfinished one is resumed.
    """
    settings = settings or FinetuneSettings()
    root = Path(out)
    if len(task) == 0:
        raise ConfigError(f"task {task.name}/{task.split} has no examples to fine-tune on")
    if eval_task is not None and eval_task.labels != task.labels:
        raise ConfigError(
            f"the evaluation split {eval_task.name}/{eval_task.split} has another label set "
            f"than the training split {task.name}/{task.split}"
        )
    ref = model if isinstance(model, ModelRef) else resolve_model(model)
    fraction = subtrain_fraction or None
    seed_for_split = settings.seed if split_seed is None else split_seed
    identity = {
        "task": task.name,
        "split": task.split,
        "task_fingerprint": task_fingerprint(task),
        "eval_split": eval_task.split if eval_task is not None else None,
        "eval_fingerprint": task_fingerprint(eval_task) if eval_task is not None else None,
        "model": ref.identity,
        "settings": asdict(settings),
        "subtrain_fraction": fraction,
        "split_seed": seed_for_split if fraction else None,
    }
    # A run killed while saving a checkpoint leaves its staging folder (see _save_checkpoint).
    sweep_stale(root, ".step-", ".tmp")
    existing = _read_manifest(root)
    if existing is not None:
        if existing.get("identity") != identity:
            raise ConfigError(
                f"{root} holds a fine-tuning run with other settings or data "
                f"({_difference(existing.get('identity', {}), identity)}): "
                "choose another --out folder"
            )
        if existing.get("complete") and _checkpoints_present(root, existing):
            shutil.rmtree(root / STATE_DIR, ignore_errors=True)
            return _run_from_manifest(root, existing, reused=True)
    else:
        _check_empty(root)

    state = _read_state(root) if existing is not None else None
    # A resumed run continues from its latest checkpoint's encoder, else from the base model.
    source = resolve_model(root / _step_name(int(state["step"]))) if state is not None else ref
    with _quiet_transformers():
        tokenizer, encoder = load_encoder(source, device)
    encoder.config.output_hidden_states = False
    target = str(next(encoder.parameters()).device)
    template = special_template(tokenizer)
    max_length = settings.max_length or max_pieces(tokenizer, encoder)
    train = _Corpus(task, tokenizer, template, max_length, settings.pooling)
    dev = (
        _Corpus(eval_task, tokenizer, template, max_length, settings.pooling)
        if eval_task is not None
        else None
    )
    steps_per_epoch = settings.updates_per_epoch(train.n_sentences)
    total = settings.total_updates(train.n_sentences)
    saves = checkpoint_steps(total, settings.save_every)

    root.mkdir(parents=True, exist_ok=True)
    split_file = None
    if fraction:
        split_file = save_split(plan_split(task, fraction, seed_for_split), root / SPLIT_FILE)
    spec = HeadSpec(
        unit_kind=task.unit_kind,
        pooling=settings.pooling,
        hidden_size=int(encoder.config.hidden_size),
        labels=tuple(task.labels.names),
        dropout=settings.head_dropout,
    )
    manifest = {
        "format": _FORMAT,
        "version": 1,
        "identity": identity,
        "complete": False,
        "task": {
            "name": task.name,
            "split": task.split,
            "unit_kind": task.unit_kind,
            "n_examples": len(task),
            "n_sentences": train.n_sentences,
            "labels": list(task.labels.names),
            "truncated_units": train.truncated,
        },
        "eval": None
        if eval_task is None or dev is None
        else {"split": eval_task.split, "n_examples": len(eval_task)},
        "model": ref.describe(),
        "settings": asdict(settings),
        "max_length": max_length,
        "steps_per_epoch": steps_per_epoch,
        "total_steps": total,
        "checkpoint_steps": saves,
        "split_file": SPLIT_FILE if split_file else None,
        "device": target,
        "versions": _versions(),
        "checkpoints": [],
    }

    records: list[CheckpointRecord] = []
    log: list[list[float]] = []
    with _deterministic(), torch.random.fork_rng(devices=_cuda_devices(target)):
        if state is not None:
            start = int(state["step"])
            head = load_head(root / _step_name(start), target)
            records = [_read_record(root, step) for step in saves if step <= start]
            log = [row for row in state["log"] if row[0] <= start]
        else:
            start = 0
            torch.manual_seed(settings.seed)
            head = UnitHead(spec).to(target)
        optimizer = _optimizer(encoder, head, settings)
        from transformers import get_linear_schedule_with_warmup

        scheduler = get_linear_schedule_with_warmup(
            optimizer, round(settings.warmup_ratio * total), total
        )
        if state is not None:
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["torch_rng"])
            if state.get("cuda_rng") is not None and target.startswith("cuda"):
                torch.cuda.set_rng_state_all(state["cuda_rng"])

        def save(step: int) -> None:
            since = [row[2] for row in log if row[0] > (records[-1].step if records else -1)]
            record = CheckpointRecord(
                step=step,
                epoch=round(step / steps_per_epoch, 4),
                train_loss=float(np.mean(since)) if since else None,
                dev_accuracy=_accuracy(encoder, head, dev, target) if dev is not None else None,
                path=root / _step_name(step),
            )
            details = {
                **record.to_json(root),
                "task": task.name,
                "split": task.split,
                "eval_split": eval_task.split if eval_task is not None else None,
                "seed": settings.seed,
                "settings": asdict(settings),
                "base_model": ref.describe(),
                "saved": utc_timestamp(),
            }
            _save_checkpoint(record.path, encoder, tokenizer, head, details)
            records.append(record)
            done = step == total
            manifest["checkpoints"] = [r.to_json(root) for r in records]
            manifest["complete"] = done
            if done:
                manifest["finished"] = utc_timestamp()
            _write_log(root / LOG_FILE, log)
            # The manifest goes before the resume state: a state never points past it.
            _write_json(root / RUN_FILE, manifest)
            if done:
                shutil.rmtree(root / STATE_DIR, ignore_errors=True)
            else:
                _write_state(root, step, optimizer, scheduler, log, target)
            if on_checkpoint is not None:
                on_checkpoint(record)

        if state is None:
            manifest["started"] = utc_timestamp()
            encoder.eval()
            head.eval()
            save(0)
        else:
            manifest["started"] = (existing or {}).get("started", utc_timestamp())
            manifest["resumed"] = [*(existing or {}).get("resumed", []), start]
        encoder.train()
        head.train()
        bar = _progress_bar(progress, total, start, f"fine-tune {task.name}")
        order_epoch, order = -1, np.empty(0, dtype=np.int64)
        try:
            for step in range(start + 1, total + 1):
                epoch, position = divmod(step - 1, steps_per_epoch)
                if epoch != order_epoch:
                    order_epoch = epoch
                    order = np.random.default_rng([settings.seed, epoch]).permutation(
                        train.n_sentences
                    )
                chosen = order[
                    position * settings.batch_size : (position + 1) * settings.batch_size
                ]
                logits, labels = _forward(encoder, head, train.batch(chosen), target)
                loss = F.cross_entropy(logits, labels)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(
                    [*encoder.parameters(), *head.parameters()], settings.max_grad_norm
                )
                lr = float(scheduler.get_last_lr()[0])
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                value = float(loss.detach())
                log.append([step, round(step / steps_per_epoch, 4), value, lr])
                if bar is not None:
                    bar.update(1)
                    recent = [row[2] for row in log[-20:]]
                    bar.set_postfix(loss=f"{np.mean(recent):.4f}", epoch=epoch + 1)
                if step in saves:
                    encoder.eval()
                    head.eval()
                    save(step)
                    encoder.train()
                    head.train()
        finally:
            if bar is not None:
                bar.close()
    return FinetuneRun(
        out=root,
        checkpoints=records,
        split_file=split_file,
        complete=True,
        resumed_from=start if state is not None else None,
        manifest=manifest,
    )


def read_run(out: str | os.PathLike[str]) -> FinetuneRun:
    """The run recorded in ``out/run.json`` (complete or not)."""
    root = Path(out)
    manifest = _read_manifest(root)
    if manifest is None:
        raise ConfigError(f"{root} is not a fine-tuning run folder (no {RUN_FILE})")
    return _run_from_manifest(root, manifest)


def load_checkpoint(
    folder: str | os.PathLike[str], device: str = "auto"
) -> tuple[Any, Any, UnitHead, dict[str, Any]]:
    """``(tokenizer, encoder, head, record)`` of a checkpoint folder, for evaluation or reuse."""
    path = Path(folder)
    tokenizer, encoder = load_encoder(resolve_model(path), device)
    head = load_head(path, str(next(encoder.parameters()).device))
    head.eval()
    record = read_json(path / CHECKPOINT_FILE, "checkpoint record")
    return tokenizer, encoder, head, record


# -- batches -----------------------------------------------------------------


@dataclass
class _Batch:
    input_ids: np.ndarray
    attention_mask: np.ndarray
    plan: PoolingPlan
    labels: np.ndarray


class _Corpus:
    """A task's distinct sentences, tokenized once, with each sentence's units pooled per rules."""

    def __init__(
        self,
        task: Task,
        tokenizer: Any,
        template: SpecialTemplate,
        max_length: int,
        pooling: str,
    ) -> None:
        groups = task.sentence_groups()
        self.members = list(groups.values())
        self.pieces: list[WordPieces] = tokenize_words(tokenizer, list(groups))
        self.template = template
        self.room = max_length - template.n_special
        if self.room < 1:
            raise ConfigError(f"max length {max_length} leaves no room for word pieces")
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.labels = np.asarray(task.label_ids, dtype=np.int64)
        self.slots: list[list[list[tuple[int, float]]]] = [[] for _ in task.examples]
        self.truncated = 0
        for s, members in enumerate(self.members):
            kept = min(len(self.pieces[s]), self.room)
            for i in members:
                slots = unit_slots(task.examples[i].unit, self.pieces[s], check_pooling(pooling))
                self.slots[i] = slots
                if any(p >= kept for slot in slots for p, _ in slot):
                    self.truncated += 1

    @property
    def n_sentences(self) -> int:
        return len(self.members)

    def length(self, s: int) -> int:
        return min(len(self.pieces[s]), self.room)

    def batch(self, sentences: Sequence[int]) -> _Batch:
        seqs = [self.template.wrap(self.pieces[s].ids[: self.room].tolist()) for s in sentences]
        seq_len = max(len(q) for q in seqs)
        ids = np.full((len(seqs), seq_len), self.pad, dtype=np.int64)
        mask = np.zeros((len(seqs), seq_len), dtype=np.int64)
        for b, q in enumerate(seqs):
            ids[b, : len(q)] = q
            mask[b, : len(q)] = 1
        offset = len(self.template.prefix)
        terms, rows, labels = [], [], []
        for b, s in enumerate(sentences):
            where = TruncatedRows(b * seq_len, offset, self.length(s))
            for i in self.members[s]:
                terms.append(self.slots[i])
                rows.append(where)
                labels.append(self.labels[i])
        plan = PoolingPlan.build(terms, rows)
        return _Batch(ids, mask, plan, np.asarray(labels, dtype=np.int64))


def _forward(
    encoder: Any, head: UnitHead, batch: _Batch, device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    hidden = encoder(
        input_ids=torch.as_tensor(batch.input_ids, device=device),
        attention_mask=torch.as_tensor(batch.attention_mask, device=device),
        output_hidden_states=False,
    ).last_hidden_state
    pooled = batch.plan.apply_torch(hidden.reshape(-1, hidden.shape[-1]))
    return head(pooled), torch.as_tensor(batch.labels, device=device)


def _accuracy(encoder: Any, head: UnitHead, corpus: _Corpus, device: str) -> float:
    """Share of the corpus's units the head labels correctly (no randomness involved)."""
    by_length = sorted(range(corpus.n_sentences), key=corpus.length)
    correct = total = 0
    with torch.inference_mode():
        for lo in range(0, len(by_length), _EVAL_BATCH):
            logits, labels = _forward(
                encoder, head, corpus.batch(by_length[lo : lo + _EVAL_BATCH]), device
            )
            correct += int((logits.argmax(dim=1) == labels).sum())
            total += len(labels)
    return correct / total if total else float("nan")


def _optimizer(encoder: Any, head: UnitHead, settings: FinetuneSettings) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for module in (encoder, head):
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            # The usual BERT recipe: no weight decay on biases and LayerNorm weights.
            if name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name:
                no_decay.append(param)
            else:
                decay.append(param)
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": settings.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=settings.learning_rate,
    )


# -- files -------------------------------------------------------------------


def _step_name(step: int) -> str:
    return f"step-{step:06d}"


def _save_checkpoint(
    final: Path, encoder: Any, tokenizer: Any, head: UnitHead, record: dict[str, Any]
) -> None:
    # A stale copy from an interrupted run is replaced by the same step.
    with atomic_dir(final) as tmp:
        with _quiet_transformers():
            encoder.save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))
        save_head(head, tmp)
        _write_json(tmp / CHECKPOINT_FILE, record)


def _write_state(
    root: Path, step: int, optimizer: Any, scheduler: Any, log: list[list[float]], device: str
) -> None:
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if device.startswith("cuda") else None,
        "log": log,
    }
    with atomic_path(root / STATE_DIR / _STATE_FILE) as tmp:
        torch.save(state, tmp)


def _read_state(root: Path) -> dict[str, Any] | None:
    path = root / STATE_DIR / _STATE_FILE
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not (root / _step_name(int(state["step"])) / CHECKPOINT_FILE).is_file():
        return None
    return state


def _write_log(path: Path, log: list[list[float]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["step", "epoch", "loss", "learning_rate"])
    writer.writerows(log)
    with atomic_open(path) as fh:
        fh.write(buffer.getvalue())


def _write_json(path: Path, data: dict[str, Any]) -> None:
    # A run's records keep their layout: one-space indents and a final newline.
    write_json(path, data, indent=1, newline=True)


def _read_manifest(root: Path) -> dict[str, Any] | None:
    path = root / RUN_FILE
    if not path.is_file():
        return None
    manifest = read_json(path, "run manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise FtprobeError(f"{path}: not an ftprobe fine-tuning run manifest")
    return manifest


def _run_from_manifest(root: Path, manifest: dict[str, Any], reused: bool = False) -> FinetuneRun:
    records = [
        CheckpointRecord(
            step=int(c["step"]),
            epoch=float(c["epoch"]),
            train_loss=c.get("train_loss"),
            dev_accuracy=c.get("dev_accuracy"),
            path=root / c["path"],
        )
        for c in manifest.get("checkpoints", [])
    ]
    split = manifest.get("split_file")
    return FinetuneRun(
        out=root,
        checkpoints=records,
        split_file=root / split if split else None,
        complete=bool(manifest.get("complete")),
        reused=reused,
        manifest=manifest,
    )


def _read_record(root: Path, step: int) -> CheckpointRecord:
    path = root / _step_name(step)
    record = read_json(path / CHECKPOINT_FILE, "checkpoint record")
    return CheckpointRecord(
        step=int(record["step"]),
        epoch=float(record["epoch"]),
        train_loss=record.get("train_loss"),
        dev_accuracy=record.get("dev_accuracy"),
        path=path,
    )


def _checkpoints_present(root: Path, manifest: dict[str, Any]) -> bool:
    return all((root / c["path"] / CHECKPOINT_FILE).is_file() for c in manifest["checkpoints"])


def _check_empty(root: Path) -> None:
    if not root.exists():
        return
    if not root.is_dir():
        raise ConfigError(f"{root} exists and is not a folder")
    ours = {SPLIT_FILE, LOG_FILE, STATE_DIR}
    foreign = [
        p.name
        for p in root.iterdir()
        if p.name not in ours and not p.name.startswith((".", "step-"))
    ]
    if foreign:
        shown = ", ".join(sorted(foreign)[:3])
        raise ConfigError(
            f"{root} is not empty and is not a fine-tuning run (it has {shown}): "
            "choose a new or empty --out folder"
        )


def _difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    def show(key: str, a: Any, b: Any) -> str:
        if any(isinstance(v, str) and v.startswith("sha256:") for v in (a, b)):
            return f"{key} differs"
        return f"{key}: {a!r} -> {b!r}"

    changed = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key == "settings" and isinstance(a, dict) and isinstance(b, dict):
            changed += [
                show(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)
            ]
        else:
            changed.append(show(key, a, b))
    return "; ".join(changed[:4]) or "unknown difference"


def _versions() -> dict[str, str]:
    import transformers

    return {
        "ftprobe": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def _cuda_devices(device: str) -> list[int]:
    if device.startswith("cuda"):
        index = torch.device(device).index
        return [index if index is not None else torch.cuda.current_device()]
    return []


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No per-file progress bars from transformers inside our own progress bar."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


@contextmanager
def _deterministic() -> Iterator[None]:
    """Deterministic torch algorithms while training; the caller's setting is restored."""
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def _progress_bar(enabled: bool, total: int, initial: int, desc: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="update", dynamic_ncols=True)
