"""Every example's representation at every layer of an encoder.

Layer 0 is the embedding layer's output, layer ``k`` the output of the
``k``-th transformer layer (7 layers for MiniLM-L6, 13 for BERT-base). How a
unit is pooled from word pieces, and how sentences longer than the model are
split into windows, is described in :mod:`ftprobe.encode.alignment`.

The work is organised for speed: each distinct sentence is encoded once
however many units it carries; sequences are sorted by length and batched so
that little padding is computed; all windows of one sentence go into the same
batch, so every unit is pooled on the device from the batch's hidden states
(one gather per layer) and only the pooled vectors come back to the host.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ftprobe.data.task import Example, Task
from ftprobe.encode.alignment import (
    CLS,
    Pooling,
    PoolingPlan,
    SpecialTemplate,
    Window,
    WordPieces,
    check_pooling,
    plan_windows,
    special_template,
    tokenize_words,
    unit_slots,
)
from ftprobe.encode.models import max_pieces
from ftprobe.errors import ConfigError


@dataclass
class ExtractionReport:
    """What extraction met: sizes, and the units the documented fallbacks touched."""

    n_examples: int = 0
    n_sentences: int = 0
    n_sequences: int = 0
    n_pieces: int = 0
    windowed_sentences: int = 0
    windowed_units: int = 0
    unk_words: int = 0
    unk_units: int = 0
    max_length: int = 0

    def summary(self) -> str:
        """One line for the user."""
        return (
            f"{self.n_examples} units in {self.n_sentences} distinct sentences "
            f"({self.n_pieces} word pieces, {self.n_sequences} model inputs); "
            f"{self.windowed_units} units in {self.windowed_sentences} sentences longer than "
            f"{self.max_length} positions were encoded in overlapping windows; "
            f"{self.unk_units} units touch {self.unk_words} words without word pieces "
            "(encoded as the unknown token)"
        )


@dataclass
class Representations:
    """Per-layer arrays ``(n_examples, dim)`` in example order, and the report."""

    layers: dict[int, np.ndarray]
    report: ExtractionReport = field(default_factory=ExtractionReport)

    @property
    def dim(self) -> int:
        return next(iter(self.layers.values())).shape[1]


def n_layers(model: Any) -> int:
    """Number of hidden-state layers the model returns (embeddings + transformer layers)."""
    return int(model.config.num_hidden_layers) + 1


def parse_layers(spec: str | Sequence[int] | None, total: int) -> list[int]:
    """``None``/``"all"`` -> every layer; ``"0,6"`` or ``[0, 6]`` -> those; negatives count back."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "all"):
        return list(range(total))
    if isinstance(spec, str):
        try:
            items = [int(x) for x in spec.replace(" ", "").split(",") if x]
        except ValueError:
            raise ConfigError(
                f"layers must be 'all' or comma-separated integers, got {spec!r}"
            ) from None
    else:
        items = [int(x) for x in spec]
    if not items:
        raise ConfigError("no layers given")
    out: list[int] = []
    for x in items:
        layer = x + total if x < 0 else x
        if not 0 <= layer < total:
            raise ConfigError(f"layer {x} does not exist: this model has layers 0..{total - 1}")
        if layer not in out:
            out.append(layer)
    return sorted(out)


@dataclass
class _Sentence:
    pieces: WordPieces
    windows: list[Window]

    @property
    def longest(self) -> int:
        return max(w.stop - w.start for w in self.windows)


def extract(
    examples: Task | Sequence[Example],
    tokenizer: Any,
    model: Any,
    layers: str | Sequence[int] | None = None,
    pooling: Pooling = "first",
    batch_size: int = 64,
    stride: int | None = None,
    progress: bool = True,
    out: Mapping[int, np.ndarray] | None = None,
    forward: Callable[[Any, dict[str, Any]], Sequence[Any]] | None = None,
) -> Representations:
    """Pooled representations of ``examples`` at the chosen layers.

    ``batch_size`` counts model inputs (sentences or windows) per forward
    pass. ``out`` may supply the destination arrays (e.g. memory-mapped files),
    one per layer, each ``(n_examples, dim)`` float32. ``forward`` replaces
    the model call (``forward(model, inputs) -> hidden states per layer``);
    the default runs the model with ``output_hidden_states``.
    """
    import torch

    check_pooling(pooling)
    items = list(examples.examples if isinstance(examples, Task) else examples)
    total_layers = n_layers(model)
    chosen = parse_layers(layers, total_layers)
    if batch_size < 1:
        raise ConfigError(f"batch size must be positive, got {batch_size}")
    # Words, spans and sentences give one vector per unit, pairs two: only
    # units of the same width can share an array.
    kinds = {ex.unit.kind for ex in items}
    if "pair" in kinds and len(kinds) > 1:
        raise ConfigError(f"examples mix pairs with {sorted(kinds - {'pair'})}: extract separately")
    width = 2 if kinds == {"pair"} else 1
    dim = int(model.config.hidden_size) * width
    report = ExtractionReport(n_examples=len(items))

    results = _destinations(out, chosen, len(items), dim)
    if not items:
        return Representations(results, report)

    template = special_template(tokenizer)
    limit = max_pieces(tokenizer, model)
    room = limit - template.n_special
    report.max_length = limit

    # Distinct sentences: the representation depends on the words only.
    sentence_of: dict[tuple[str, ...], int] = {}
    unit_sentence = np.empty(len(items), dtype=np.int64)
    for i, ex in enumerate(items):
        unit_sentence[i] = sentence_of.setdefault(ex.tokens, len(sentence_of))
    words = list(sentence_of)
    pieces = tokenize_words(tokenizer, words)
    sentences = [_Sentence(p, plan_windows(len(p), room, stride)) for p in pieces]
    report.n_sentences = len(sentences)
    report.n_sequences = sum(len(s.windows) for s in sentences)
    report.n_pieces = sum(len(p) for p in pieces)
    report.windowed_sentences = sum(len(s.windows) > 1 for s in sentences)
    report.unk_words = sum(len(p.unk_words) for p in pieces)

    units_of: list[list[int]] = [[] for _ in sentences]
    for i, s in enumerate(unit_sentence):
        units_of[s].append(i)
    terms = []
    for i, ex in enumerate(items):
        sent = sentences[unit_sentence[i]]
        terms.append(unit_slots(ex.unit, sent.pieces, pooling))
        if len(sent.windows) > 1:
            report.windowed_units += 1
        unk = sent.pieces.unk_words
        if unk and (ex.unit.kind == "sentence" or set(ex.unit.indices) & set(unk)):
            report.unk_units += 1

    batches = _batches(sentences, batch_size)
    device = next(model.parameters()).device
    run = forward or _default_forward
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    bar = _progress(progress, len(items))
    try:
        with torch.inference_mode():
            for batch in batches:
                ids, mask, seq_len, row_maps = _assemble(batch, sentences, template, pad)
                batch_units = [u for s in batch for u in units_of[s]]
                plan = PoolingPlan.build(
                    [terms[u] for u in batch_units],
                    [row_maps[unit_sentence[u]] for u in batch_units],
                )
                inputs = {
                    "input_ids": torch.from_numpy(ids).to(device),
                    "attention_mask": torch.from_numpy(mask).to(device),
                }
                hidden = run(model, inputs)
                where = np.asarray(batch_units)
                for layer in chosen:
                    h = hidden[layer]
                    pooled = plan.apply_torch(h.reshape(-1, h.shape[-1]))
                    results[layer][where] = pooled.float().cpu().numpy()
                if bar is not None:
                    bar.update(len(batch_units))
    finally:
        if bar is not None:
            bar.close()
    return Representations(results, report)


def _default_forward(model: Any, inputs: dict[str, Any]) -> Sequence[Any]:
    return model(**inputs, output_hidden_states=True).hidden_states


def _destinations(
    out: Mapping[int, np.ndarray] | None, layers: list[int], n: int, dim: int
) -> dict[int, np.ndarray]:
    if out is None:
        return {layer: np.empty((n, dim), dtype=np.float32) for layer in layers}
    results: dict[int, np.ndarray] = {}
    for layer in layers:
        arr = out.get(layer)
        if arr is None or arr.shape != (n, dim) or arr.dtype != np.float32:
            raise ValueError(f"destination for layer {layer} must be a ({n}, {dim}) float32 array")
        results[layer] = arr
    return results


def _batches(sentences: list[_Sentence], batch_size: int) -> list[list[int]]:
    """Sentence groups of about ``batch_size`` model inputs, longest first.

    Longest first so that a batch too large for the device fails at once,
    not after minutes of work.
    """
    order = sorted(range(len(sentences)), key=lambda s: -sentences[s].longest)
    batches: list[list[int]] = []
    current: list[int] = []
    count = 0
    for s in order:
        n = len(sentences[s].windows)
        if current and count + n > batch_size:
            batches.append(current)
            current, count = [], 0
        current.append(s)
        count += n
    if current:
        batches.append(current)
    return batches


def _assemble(
    batch: list[int], sentences: list[_Sentence], template: SpecialTemplate, pad: int
) -> tuple[np.ndarray, np.ndarray, int, dict[int, np.ndarray]]:
    """Padded model inputs for a batch, and per sentence a piece -> flat-row map.

    The map has one entry per piece plus a last entry for the sentence's
    ``[CLS]`` row, so that indexing with :data:`CLS` (-1) finds it.
    """
    seqs: list[list[int]] = []
    owners: list[tuple[int, Window]] = []
    for s in batch:
        sent = sentences[s]
        for w in sent.windows:
            seqs.append(template.wrap(sent.pieces.ids[w.start : w.stop].tolist()))
            owners.append((s, w))
    seq_len = max(len(q) for q in seqs)
    ids = np.full((len(seqs), seq_len), pad, dtype=np.int64)
    mask = np.zeros((len(seqs), seq_len), dtype=np.int64)
    for k, q in enumerate(seqs):
        ids[k, : len(q)] = q
        mask[k, : len(q)] = 1
    offset = len(template.prefix)
    row_maps: dict[int, np.ndarray] = {}
    for k, (s, w) in enumerate(owners):
        rows = row_maps.get(s)
        if rows is None:
            rows = np.empty(len(sentences[s].pieces) + 1, dtype=np.int64)
            rows[CLS] = k * seq_len  # the first window's first position
            row_maps[s] = rows
        keep = np.arange(w.keep_start, w.keep_stop)
        rows[keep] = k * seq_len + offset + (keep - w.start)
    return ids, mask, seq_len, row_maps


def _progress(enabled: bool, total: int) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="unit", desc="extracting", leave=False)
