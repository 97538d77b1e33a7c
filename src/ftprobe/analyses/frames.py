"""Selecting the rows an analysis needs from the study's tidy tables.

"Before" is checkpoint step 0 (the model before fine-tuning), "after" is each
run's last saved step. The "last layer" is a model's highest layer in the
tables; "own task" rows are those where the represented task is the task the
model was fine-tuned on (cross-task rows have ``task != finetune_task``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

PAIR = ["model", "task"]
BEFORE, AFTER = "before", "after"


def table(tables: Mapping[str, pd.DataFrame], name: str, columns: Iterable[str]) -> pd.DataFrame:
    """The table ``name``, or an empty frame when it is missing or lacks ``columns``."""
    frame = tables.get(name)
    if frame is None or frame.empty or not set(columns) <= set(frame.columns):
        return pd.DataFrame()
    return frame


def own_task(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows that represent the task the model was fine-tuned on."""
    return frame[frame["task"] == frame["finetune_task"]]


def cross_task(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows that represent another task than the one fine-tuned on."""
    return frame[frame["task"] != frame["finetune_task"]]


def last_layer(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of each model's highest layer."""
    top = frame.groupby("model")["layer"].transform("max")
    return frame[frame["layer"] == top]


def first_and_last_layer(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of each model's lowest and highest layer."""
    layers = frame.groupby("model")["layer"]
    return frame[
        (frame["layer"] == layers.transform("min")) | (frame["layer"] == layers.transform("max"))
    ]


def with_stage(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows at step 0 ("before") or at a run's last step ("after"), with a ``stage`` column."""
    before = frame["step"] == 0
    after = frame["is_last_step"].astype(bool) & ~before
    out = frame[before | after].copy()
    out["stage"] = np.where(out["step"] == 0, BEFORE, AFTER)
    return out


def split(frame: pd.DataFrame, name: str = "train") -> pd.DataFrame:
    """Rows of one DirectProbe split (frames without a ``split`` column pass unchanged)."""
    return frame[frame["split"] == name] if "split" in frame.columns else frame


def seed_stats(frame: pd.DataFrame, by: Sequence[str], values: Sequence[str]) -> pd.DataFrame:
    """Mean and sample sd over seeds of ``values`` per ``by``, with ``n_seeds``."""
    grouped = frame.groupby(list(by), sort=True, dropna=False)
    out = grouped[list(values)].agg(["mean", "std"])
    out.columns = [f"{col}_{stat.replace('std', 'sd')}" for col, stat in out.columns]
    out["n_seeds"] = grouped["seed"].nunique()
    return out.reset_index()


def seeds_note(frame: pd.DataFrame) -> str:
    """'over 3 seeds (13, 14, 15)' or 'from 1 seed (13)'."""
    seeds = sorted(int(s) for s in frame["seed"].dropna().unique()) if "seed" in frame else []
    listed = ", ".join(str(s) for s in seeds)
    if len(seeds) == 1:
        return f"from 1 seed ({listed})"
    return f"mean ± sd over {len(seeds)} seeds ({listed})"


def seeds_list(frame: pd.DataFrame) -> str:
    """'3 seeds (13, 14, 15)'."""
    seeds = sorted(int(s) for s in frame["seed"].dropna().unique()) if "seed" in frame else []
    return f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(map(str, seeds))})"


def pair_names(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """The (model, task) pairs of ``frame``, sorted."""
    if frame.empty:
        return []
    return sorted({(str(m), str(t)) for m, t in frame[PAIR].itertuples(index=False)})


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (NaN when fewer than 3 points or a constant series)."""
    xs, ys = pd.Series(x, dtype=float), pd.Series(y, dtype=float)
    keep = xs.notna() & ys.notna()
    if keep.sum() < 3:
        return float("nan")
    rx, ry = xs[keep].rank(), ys[keep].rank()
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation over positions where both are finite (NaN if < 2 or constant)."""
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 2:
        return float("nan")
    a, b = x[keep], y[keep]
    if np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def with_centroids(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose ``centroid`` holds a vector (labels absent from a split have none)."""
    has = frame["centroid"].map(lambda v: v is not None and len(v) > 0)
    return frame[has.astype(bool)]


def centroid_matrix(values: Iterable[object]) -> np.ndarray:
    """Stack a column of centroid lists into a float64 matrix (rows = labels)."""
    return np.vstack([np.asarray(v, dtype=np.float64) for v in values])


def count_phrase(count: int, total: int, every: int, n_seeds: int, noun: str) -> str:
    """'5 of 6 (model, task) pairs (5 in all 3 seeds)'; the seed part only with several seeds."""
    text = f"{count} of {total} {noun}"
    return f"{text} ({every} in all {n_seeds} seeds)" if n_seeds > 1 else text
