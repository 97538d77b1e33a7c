"""From words to word pieces and back: which model positions represent a unit.

The rules (the same for extraction and for fine-tuning heads):

- **Tokenization.** A sentence's words are tokenized together with a fast
  tokenizer (``is_split_into_words=True``); its ``word_ids`` give each word's
  contiguous range of pieces.
- **Words with no pieces.** Some words tokenize to nothing (a lone zero-width
  space, control characters). Such a word is replaced by the tokenizer's
  unknown token (``[UNK]``) before the sentence is encoded, so that it has one
  piece of its own and every word has a position; the words affected are
  counted (:attr:`WordPieces.unk_words`).
- **Pooling** (``first`` or ``mean``):
  - a *word* is its first piece, or the mean of its pieces;
  - a *span* (a multiword expression, possibly with gaps) is treated as one
    lexical unit whose pieces are all its words' pieces: ``first`` is the first
    piece of its first word, ``mean`` the mean of all its pieces. (This is
    what the published pre-packed PS-role folders contain: their multiword
    adpositions are represented by the first piece of the first word.)
  - a *pair* (head, dependent) is the concatenation of the two words pooled
    as above (twice the model's width);
  - a *sentence* is the first position of the encoded sequence (``[CLS]``) for
    ``first``, or the mean of all its word pieces (special tokens excluded) for
    ``mean``.
- **Long sentences.** A model takes at most ``max_length`` positions, special
  tokens included. A longer sentence is cut into windows of at most
  ``max_length - n_special`` pieces that overlap by ``stride`` pieces (default:
  half a window); each window is encoded on its own, with the special tokens,
  and each piece takes its vector from the window in which it sits furthest
  from a cut (the window that gives it the most context on both sides). A
  sentence's ``[CLS]`` comes from its first window. Units of such sentences
  are counted as affected; nothing is truncated.

Each pooled unit is a fixed linear combination of piece vectors, so pooling is
described once as a :class:`PoolingPlan` (which rows, with which weights, add
up to which output slot) and applied to any stack of hidden states, with
autograd when used inside a fine-tuning head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ftprobe.data.task import Unit
from ftprobe.errors import ConfigError

Pooling = Literal["first", "mean"]
POOLINGS: tuple[str, ...] = ("first", "mean")

CLS = -1
"""Piece index standing for the sequence's first special position (``[CLS]``)."""


def check_pooling(pooling: str) -> Pooling:
    """Return ``pooling`` if it is a known pooling, else raise :class:`ConfigError`."""
    if pooling not in POOLINGS:
        raise ConfigError(f"unknown pooling {pooling!r}: use one of {', '.join(POOLINGS)}")
    return pooling  # type: ignore[return-value]


@dataclass(frozen=True)
class WordPieces:
    """One sentence's word pieces, without special tokens.

    ``ids`` are the piece ids; word ``w`` owns pieces ``starts[w]:stops[w]``.
    ``unk_words`` are the words that had no pieces and were given the unknown
    token instead.
    """

    ids: np.ndarray
    starts: np.ndarray
    stops: np.ndarray
    unk_words: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_words(self) -> int:
        return len(self.starts)

    def pieces_of(self, word: int) -> range:
        """The piece positions (in ``ids``) of one word."""
        return range(int(self.starts[word]), int(self.stops[word]))


@dataclass(frozen=True)
class SpecialTemplate:
    """The special tokens a tokenizer puts around one sequence (``[CLS]`` ... ``[SEP]``)."""

    prefix: tuple[int, ...]
    suffix: tuple[int, ...]

    @property
    def n_special(self) -> int:
        return len(self.prefix) + len(self.suffix)

    def wrap(self, piece_ids: Sequence[int]) -> list[int]:
        """The model input for a run of pieces."""
        return [*self.prefix, *piece_ids, *self.suffix]


def special_template(tokenizer: Any) -> SpecialTemplate:
    """Learn the special tokens around a single sequence from the tokenizer itself."""
    enc = tokenizer([["a"]], is_split_into_words=True, add_special_tokens=True)
    ids = enc["input_ids"][0]
    word_ids = enc.word_ids(0)
    real = [i for i, w in enumerate(word_ids) if w is not None]
    if not real:
        raise ConfigError("the tokenizer produced no piece for the word 'a'")
    return SpecialTemplate(prefix=tuple(ids[: real[0]]), suffix=tuple(ids[real[-1] + 1 :]))


def tokenize_words(
    tokenizer: Any, sentences: Sequence[Sequence[str]], batch_size: int = 2048
) -> list[WordPieces]:
    """Word pieces of each sentence (a list of words), with each word's piece range.

    Needs a fast tokenizer (``word_ids``). Words that produce no piece are
    replaced by the unknown token and the sentence is tokenized again (see the
    module notes).
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("word-piece alignment needs a fast tokenizer")
    out: list[WordPieces] = []
    for lo in range(0, len(sentences), batch_size):
        chunk = [list(s) for s in sentences[lo : lo + batch_size]]
        out.extend(_tokenize_chunk(tokenizer, chunk))
    return out


def _tokenize_chunk(tokenizer: Any, chunk: list[list[str]]) -> list[WordPieces]:
    # An empty word list is legal for the tokenizer only as a non-empty batch item.
    enc = tokenizer(chunk, is_split_into_words=True, add_special_tokens=False)
    result: list[WordPieces] = []
    for i, words in enumerate(chunk):
        ids = enc["input_ids"][i]
        word_ids = enc.word_ids(i)
        pieces = _ranges(ids, word_ids, len(words))
        empty = tuple(int(w) for w in np.flatnonzero(pieces.starts == pieces.stops))
        if empty:
            fixed = list(words)
            unk = tokenizer.unk_token
            if unk is None:
                raise ConfigError(
                    f"words {[words[w] for w in empty]} produce no word piece and the "
                    "tokenizer has no unknown token to stand in for them"
                )
            for w in empty:
                fixed[w] = unk
            again = tokenizer([fixed], is_split_into_words=True, add_special_tokens=False)
            pieces = _ranges(again["input_ids"][0], again.word_ids(0), len(words))
            pieces = WordPieces(pieces.ids, pieces.starts, pieces.stops, unk_words=empty)
        result.append(pieces)
    return result


def _ranges(ids: Sequence[int], word_ids: Sequence[int | None], n_words: int) -> WordPieces:
    starts = np.zeros(n_words, dtype=np.int64)
    stops = np.zeros(n_words, dtype=np.int64)
    seen = np.zeros(n_words, dtype=bool)
    for pos, w in enumerate(word_ids):
        if w is None:
            continue
        if not seen[w]:
            starts[w] = pos
            seen[w] = True
        stops[w] = pos + 1
    return WordPieces(np.asarray(ids, dtype=np.int64), starts, stops)


@dataclass(frozen=True)
class Window:
    """A run of a sentence's pieces encoded as one model input.

    ``start:stop`` is what the model sees (plus special tokens);
    ``keep_start:keep_stop`` are the pieces whose vectors are taken from it.
    """

    start: int
    stop: int
    keep_start: int
    keep_stop: int


def plan_windows(n_pieces: int, max_pieces: int, stride: int | None = None) -> list[Window]:
    """Cover ``n_pieces`` with windows of at most ``max_pieces`` pieces.

    One window when the sentence fits. Otherwise consecutive windows overlap
    by ``stride`` pieces (default ``max_pieces // 2``) and the overlap is
    shared at its middle, so every piece is kept from exactly one window and
    lies as far from that window's cut as possible.
    """
    if max_pieces < 1:
        raise ConfigError(f"the model leaves no room for word pieces (max {max_pieces})")
    if n_pieces <= max_pieces:
        return [Window(0, n_pieces, 0, n_pieces)]
    overlap = max_pieces // 2 if stride is None else stride
    if not 0 <= overlap < max_pieces:
        raise ConfigError(f"window overlap {overlap} must be in [0, {max_pieces})")
    step = max_pieces - overlap
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        stop = min(start + max_pieces, n_pieces)
        if stop == n_pieces:
            # The last window ends at the sentence's end but keeps its full width.
            spans.append((max(n_pieces - max_pieces, 0), n_pieces))
            break
        spans.append((start, stop))
        start += step
    # Keep boundaries: the middle of each overlap between neighbours.
    windows: list[Window] = []
    for k, (a, b) in enumerate(spans):
        keep_a = 0 if k == 0 else (a + spans[k - 1][1]) // 2
        keep_b = n_pieces if k == len(spans) - 1 else (spans[k + 1][0] + b) // 2
        windows.append(Window(a, b, keep_a, keep_b))
    return windows


def unit_slots(unit: Unit, pieces: WordPieces, pooling: Pooling) -> list[list[tuple[int, float]]]:
    """How one unit pools: per output slot, ``(piece index, weight)`` terms.

    A pair has two slots (head, dependent), every other unit one. The piece
    index :data:`CLS` stands for the sequence's ``[CLS]`` position.
    """
    if unit.kind == "sentence":
        if pooling == "first":
            return [[(CLS, 1.0)]]
        n = len(pieces)
        if n == 0:
            return [[(CLS, 1.0)]]
        return [[(p, 1.0 / n) for p in range(n)]]
    if unit.kind == "pair":
        return [
            _word_terms(pieces, unit.indices[0], pooling, 1.0),
            _word_terms(pieces, unit.indices[1], pooling, 1.0),
        ]
    if unit.kind == "word":
        return [_word_terms(pieces, unit.indices[0], pooling, 1.0)]
    # A span is one lexical unit made of several words: its first piece is
    # the first piece of its first word; its mean is over all its pieces.
    if pooling == "first":
        return [_word_terms(pieces, unit.indices[0], "first", 1.0)]
    span_pieces = [p for w in unit.indices for p in _word_terms(pieces, w, "mean", 1.0)]
    return [[(p, 1.0 / len(span_pieces)) for p, _ in span_pieces]]


def _word_terms(
    pieces: WordPieces, word: int, pooling: Pooling, weight: float
) -> list[tuple[int, float]]:
    if word >= pieces.n_words:
        raise ValueError(f"word {word} is outside a sentence of {pieces.n_words} words")
    span = pieces.pieces_of(word)
    if pooling == "first":
        return [(span.start, weight)]
    return [(p, weight / len(span)) for p in span]


@dataclass
class PoolingPlan:
    """Pooled outputs as sparse linear combinations of rows of a hidden-state matrix.

    Output slot ``slots[k]`` receives ``weights[k] * H[rows[k]]``; a unit with
    ``width`` slots (2 for pairs) becomes the concatenation of its slots.
    """

    n_units: int
    width: int
    slots: np.ndarray = field(repr=False)
    rows: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)

    @classmethod
    def build(
        cls,
        unit_terms: Sequence[list[list[tuple[int, float]]]],
        row_of: Sequence[Any],
    ) -> PoolingPlan:
        """From each unit's slots (:func:`unit_slots`) and, per unit, a piece-to-row map.

        ``row_of[u]`` maps a piece index of unit ``u``'s sentence (or :data:`CLS`)
        to a row of the hidden-state matrix the plan will be applied to; it is
        indexed with ``row_of[u][piece]``.
        """
        widths = {len(t) for t in unit_terms}
        if len(widths) > 1:
            raise ValueError(f"units of different widths in one plan: {sorted(widths)}")
        width = widths.pop() if widths else 1
        slots: list[int] = []
        rows: list[int] = []
        weights: list[float] = []
        for u, terms in enumerate(unit_terms):
            mapping = row_of[u]
            for s, slot_terms in enumerate(terms):
                for piece, wt in slot_terms:
                    slots.append(u * width + s)
                    rows.append(int(mapping[piece]))
                    weights.append(wt)
        return cls(
            n_units=len(unit_terms),
            width=width,
            slots=np.asarray(slots, dtype=np.int64),
            rows=np.asarray(rows, dtype=np.int64),
            weights=np.asarray(weights, dtype=np.float32),
        )

    @property
    def is_gather(self) -> bool:
        """Whether every slot is one row with weight 1 (first-piece and [CLS] pooling)."""
        n = self.n_units * self.width
        return (
            len(self.rows) == n
            and bool((self.slots == np.arange(n)).all())
            and bool((self.weights == 1.0).all())
        )

    def apply_numpy(self, hidden: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Pool a ``(rows, d)`` float array into ``(n_units, width * d)``."""
        d = hidden.shape[1]
        flat = np.zeros((self.n_units * self.width, d), dtype=np.float32)
        np.add.at(flat, self.slots, hidden[self.rows] * self.weights[:, None])
        pooled = flat.reshape(self.n_units, self.width * d)
        if out is None:
            return pooled
        out[...] = pooled
        return out

    def apply_torch(self, hidden: Any) -> Any:
        """Pool a ``(rows, d)`` tensor into ``(n_units, width * d)`` (differentiable).

        A plain gather when every slot is a single row (the common first-piece
        case); otherwise a sparse (slots x rows) matrix product, which is much
        faster on the CPU than scattered additions.
        """
        import torch

        device = hidden.device
        d = hidden.shape[1]
        rows = torch.as_tensor(self.rows, device=device)
        if self.is_gather:
            return hidden.index_select(0, rows).reshape(self.n_units, self.width * d)
        n_slots = self.n_units * self.width
        matrix = torch.sparse_coo_tensor(
            torch.stack([torch.as_tensor(self.slots, device=device), rows]),
            torch.as_tensor(self.weights, device=device, dtype=hidden.dtype),
            (n_slots, hidden.shape[0]),
            check_invariants=True,
        )
        return torch.sparse.mm(matrix, hidden).reshape(self.n_units, self.width * d)


@dataclass(frozen=True)
class EncodedBatch:
    """Model inputs for a batch of sentences that fit the model, plus their unit pooling.

    ``input_ids`` and ``attention_mask`` are ``(batch, seq)`` int64 arrays
    (right-padded); ``plan`` pools rows of the flattened ``(batch * seq, d)``
    hidden states into the units, in the order they were given.
    """

    input_ids: np.ndarray
    attention_mask: np.ndarray
    plan: PoolingPlan
    truncated_units: int

    def to_torch(self, device: str = "cpu") -> dict[str, Any]:
        """``input_ids`` and ``attention_mask`` as tensors on ``device``."""
        import torch

        return {
            "input_ids": torch.as_tensor(self.input_ids, device=device),
            "attention_mask": torch.as_tensor(self.attention_mask, device=device),
        }


def encode_units(
    tokenizer: Any,
    sentences: Sequence[Sequence[str]],
    units: Sequence[Unit],
    pooling: Pooling = "first",
    max_length: int = 512,
) -> EncodedBatch:
    """One model input per (sentence, unit), for training a head on pooled units.

    Meant for fine-tuning, where each sentence is one sequence: a sentence
    longer than ``max_length`` is truncated there, and a unit whose pieces fall
    beyond the cut points at the last kept piece instead (counted in
    ``truncated_units``). Extraction uses windows instead (see the module notes).
    Pool the model's last hidden state ``h`` of shape ``(batch, seq, d)`` with
    ``batch.plan.apply_torch(h.reshape(-1, d))``.
    """
    if len(sentences) != len(units):
        raise ValueError("one unit per sentence is expected")
    check_pooling(pooling)
    template = special_template(tokenizer)
    room = max_length - template.n_special
    pieces = tokenize_words(tokenizer, sentences)
    seqs = [template.wrap(p.ids[:room].tolist()) for p in pieces]
    seq_len = max((len(s) for s in seqs), default=0)
    input_ids = np.full((len(seqs), seq_len), _pad_id(tokenizer), dtype=np.int64)
    mask = np.zeros((len(seqs), seq_len), dtype=np.int64)
    for i, s in enumerate(seqs):
        input_ids[i, : len(s)] = s
        mask[i, : len(s)] = 1
    offset = len(template.prefix)
    terms = []
    row_maps = []
    truncated = 0
    for i, (p, unit) in enumerate(zip(pieces, units, strict=True)):
        slots = unit_slots(unit, p, pooling)
        kept = min(len(p), room)
        if any(piece >= kept for slot in slots for piece, _ in slot):
            truncated += 1
        base = i * seq_len
        row_maps.append(TruncatedRows(base, offset, kept))
        terms.append(slots)
    plan = PoolingPlan.build(terms, row_maps)
    return EncodedBatch(input_ids, mask, plan, truncated)


@dataclass(frozen=True)
class TruncatedRows:
    """Piece index -> row of a flattened ``(batch, seq)`` array (such as the hidden states
    of a batch), clamped at the cut: a row map of :meth:`PoolingPlan.build` for a sentence
    whose pieces were cut after ``kept``."""

    base: int
    offset: int
    kept: int

    def __getitem__(self, piece: int) -> int:
        if piece == CLS:
            return self.base
        return self.base + self.offset + min(piece, max(self.kept - 1, 0))


def _pad_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id
    return int(pad) if pad is not None else 0
