"""Stage 4: classifier probes trained on frozen representations.

The names are loaded on first use, so that ``ftprobe.probes.settings`` (what a
study file is checked against) can be imported without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "DEFAULT_FRACTIONS": "classifier",
    "ClassifierProbe": "classifier",
    "ProbeScores": "classifier",
    "combine_restarts": "classifier",
    "learning_curve": "classifier",
    "nested_subsets": "classifier",
    "probe_with_labels": "classifier",
    "sample_sd": "classifier",
    "score_predictions": "classifier",
    "OnlineCode": "mdl",
    "online_code_length": "mdl",
    "control_task": "controls",
    "shuffled_labels": "controls",
    "selectivity": "controls",
    "DEFAULT_HIDDEN_SIZES": "settings",
    "DEFAULT_L2": "settings",
    "DEFAULT_SEARCH_FRACTION": "settings",
    "DEFAULT_SEARCH_L2": "settings",
    "PAPER_SEARCH_SIZES": "settings",
    "SEARCH_COLUMNS": "settings",
    "check_probe_settings": "settings",
    "format_sizes": "settings",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
