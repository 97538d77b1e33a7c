"""The classifier probe's settings and their one check, without importing torch.

The study file is validated before any work starts (and by commands that never
train a probe), so these live apart from the torch module that uses them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from ftprobe.errors import ConfigError

DEFAULT_HIDDEN_SIZES: tuple[int, ...] = (256, 256)
"""The fixed hidden sizes used without a search: the largest point of the paper's grid."""

PAPER_SEARCH_SIZES: tuple[int, ...] = (32, 64, 128, 256)
"""The paper's candidate sizes for each of the two hidden layers (16 pairs)."""

DEFAULT_L2 = 1e-4
"""The fixed L2 weight used without a search."""

DEFAULT_SEARCH_FRACTION = 0.2
"""The share of the training vectors the search holds out to score each setting on."""

DEFAULT_SEARCH_L2: tuple[float, ...] = (1e-7, 1e-5, 1e-3, 1e-1, 1.0)
"""L2 weights tried by the search: the paper's range [1e-7, 1], every two decades."""

SEARCH_COLUMNS: tuple[str, ...] = ("hidden_sizes", "l2", "heldout_accuracy", "selected")
"""The columns of the search's table, one row per setting tried."""


def format_sizes(sizes: Sequence[int]) -> str:
    """Hidden sizes as the tables write them: ``(256, 128)`` -> ``"256x128"``."""
    return "x".join(str(int(s)) for s in sizes)


def check_probe_settings(
    *,
    hidden_sizes: Sequence[int],
    l2: float,
    search_sizes: Sequence[int],
    search_l2: Sequence[float],
    search_fraction: float,
    restarts: int,
) -> None:
    """Raise :class:`ConfigError` naming the first classifier-probe setting out of range.

    The one check of these settings: :class:`ClassifierProbe` and the study
    file's ``[probes]`` section both call it (the study prefixes its file and
    section to the message).
    """

    def sizes_ok(sizes: Sequence[int]) -> bool:
        return bool(sizes) and all(
            isinstance(h, numbers.Integral) and not isinstance(h, bool) and h >= 1 for h in sizes
        )

    def weight_ok(w: object) -> bool:
        return isinstance(w, numbers.Real) and not isinstance(w, bool) and 0 <= w < math.inf

    if not sizes_ok(hidden_sizes):
        raise ConfigError(
            f"hidden_sizes must be a non-empty list of positive layer widths, got {hidden_sizes!r}"
        )
    if not weight_ok(l2):
        raise ConfigError(f"l2 must be a non-negative number, got {l2!r}")
    if not sizes_ok(search_sizes):
        raise ConfigError(
            f"search_sizes must be a non-empty list of positive layer widths, got {search_sizes!r}"
        )
    if not search_l2 or not all(weight_ok(w) for w in search_l2):
        raise ConfigError(
            f"search_l2 must be a non-empty list of non-negative numbers, got {search_l2!r}"
        )
    if not (isinstance(search_fraction, numbers.Real) and 0 < search_fraction < 1):
        raise ConfigError(
            f"search_fraction must lie strictly between 0 and 1, got {search_fraction!r}"
        )
    if isinstance(restarts, bool) or not isinstance(restarts, numbers.Integral) or restarts < 1:
        raise ConfigError(f"restarts must be a positive integer, got {restarts!r}")
