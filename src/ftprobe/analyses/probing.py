"""Analyses 1 and 3: what the last layer's probes say before and after fine-tuning.

1. Performance: classifier-probe accuracy, and the spatial similarity between
   the training and test sets' DirectProbe distance vectors.
3. Linearity: DirectProbe's number of clusters against the number of labels.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ftprobe.analyses import frames as F
from ftprobe.analyses import plotting as P
from ftprobe.analyses.result import AnalysisResult, StudyContext, empty_result

_REP_COLUMNS = ("seed", "model", "finetune_task", "step", "is_last_step", "task", "layer", "split")


def _last_layer_stages(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    reps = F.table(tables, "representations", _REP_COLUMNS)
    if reps.empty:
        return reps
    return F.with_stage(F.last_layer(F.own_task(reps)))


def _bars(ax, labels: list[str], before, after, before_sd, after_sd, ylabel: str) -> None:
    x = np.arange(len(labels))
    w = 0.38
    ax.bar(x - w / 2, before, w, yerr=before_sd, color=P.BEFORE_COLOR, label="before", capsize=3)
    ax.bar(x + w / 2, after, w, yerr=after_sd, color=P.AFTER_COLOR, label="after", capsize=3)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    P.legend_outside(ax)


def _bar_width(n_pairs: int) -> float:
    """Panel width (inches) for grouped bars of ``n_pairs`` (model, task) pairs."""
    return float(min(18.0, max(5.0, 0.9 * n_pairs + 2)))


def _pair_label(model: str, task: str) -> str:
    return f"{model}\n{task}"


def _stage_columns(frame: pd.DataFrame, keys: list[str], values: dict[str, str]) -> pd.DataFrame:
    """One row per ``keys`` with ``<short>_before`` and ``<short>_after`` for each value column."""
    wide = frame.set_index([*keys, "stage"])[list(values)].unstack("stage")
    wide = wide.reindex(columns=pd.MultiIndex.from_product([list(values), [F.BEFORE, F.AFTER]]))
    wide.columns = [f"{values[col]}_{stage}" for col, stage in wide.columns]
    return wide.reset_index()


def performance(tables: Mapping[str, pd.DataFrame], context: StudyContext) -> AnalysisResult:
    """Analysis 1: last-layer classifier accuracy and train/test similarity, before vs after."""
    title = "Performance before and after fine-tuning"
    staged = _last_layer_stages(tables)
    if staged.empty:
        return empty_result(1, "performance", title, "no representation rows in the tables")
    for col in (
        "clf_accuracy",
        "train_test_similarity",
        "train_test_similarity_pairs",
        "n_clusters",
        "n_labels_present",
    ):
        if col not in staged.columns:
            staged = staged.assign(**{col: np.nan})
    keys = ["seed", "model", "task", "layer"]
    space = ["n_clusters", "n_labels_present"]
    rows = F.split(staged, "train").merge(
        F.split(staged, "test")[[*keys, "stage", *space]],
        on=[*keys, "stage"],
        how="left",
        suffixes=("", "_test"),
    )
    # Spatial similarity compares well only where clusters = labels in both spaces.
    rows["sim_valid"] = (rows["n_clusters"] == rows["n_labels_present"]) & (
        rows["n_clusters_test"] == rows["n_labels_present_test"]
    )
    wide = _stage_columns(
        rows,
        keys,
        {
            "clf_accuracy": "acc",
            "train_test_similarity": "sim",
            "train_test_similarity_pairs": "sim_pairs",
            "sim_valid": "valid",
        },
    )
    wide["acc_change"] = wide["acc_after"] - wide["acc_before"]
    wide["sim_change"] = wide["sim_after"] - wide["sim_before"]
    values = [
        "acc_before",
        "acc_after",
        "acc_change",
        "sim_before",
        "sim_after",
        "sim_change",
        "sim_pairs_before",
        "sim_pairs_after",
    ]
    table = F.seed_stats(wide, ["model", "task", "layer"], values)
    flags = wide.assign(
        seeds_acc_rose=wide["acc_change"] > 0,
        seeds_sim_fell=wide["sim_change"] < 0,
        sim_valid_before=wide["valid_before"].astype("boolean").fillna(False),
        sim_valid_after=wide["valid_after"].astype("boolean").fillna(False),
    ).groupby(["model", "task", "layer"])
    table = table.merge(
        flags[["seeds_acc_rose", "seeds_sim_fell"]].sum().reset_index(),
        on=["model", "task", "layer"],
    ).merge(
        flags[["sim_valid_before", "sim_valid_after"]].all().reset_index(),
        on=["model", "task", "layer"],
    )

    n_seeds = int(table["n_seeds"].max())
    acc = table.dropna(subset=["acc_change_mean"])
    sim = table.dropna(subset=["sim_change_mean"])
    parts = []
    if len(acc):
        rose = acc["acc_change_mean"] > 0
        every = int((acc["seeds_acc_rose"] == acc["n_seeds"]).sum())
        exceptions = [
            f"{m}/{t}" for m, t in acc.loc[~rose, ["model", "task"]].itertuples(index=False)
        ]
        tail = f", not in {', '.join(exceptions)}" if 0 < len(exceptions) <= 3 else ""
        parts.append(
            f"classifier accuracy rose after fine-tuning in "
            f"{F.count_phrase(int(rose.sum()), len(acc), every, n_seeds, '(model, task) pairs')}"
            f"{tail}; mean change {acc['acc_change_mean'].mean():+.3f}"
        )
    if len(sim):
        fell = int((sim["sim_change_mean"] < 0).sum())
        every = int((sim["seeds_sim_fell"] == sim["n_seeds"]).sum())
        parts.append(
            f"train–test spatial similarity fell in "
            f"{F.count_phrase(fell, len(sim), every, n_seeds, 'pairs')}; mean "
            f"{sim['sim_before_mean'].mean():.3f} → {sim['sim_after_mean'].mean():.3f} (over the "
            f"label pairs both splits define: median {sim['sim_pairs_before_mean'].median():.0f} "
            f"before, {sim['sim_pairs_after_mean'].median():.0f} after)"
        )
    if not parts:
        return empty_result(1, "performance", title, "no classifier or similarity values yet")
    headline = "; ".join(parts)
    headline = headline[0].upper() + headline[1:] + "."

    invalid = table[~(table["sim_valid_before"] & table["sim_valid_after"])]
    caveat = (
        " Spatial similarity compares well only where DirectProbe finds as many clusters as "
        f"labels; that fails in {len(invalid)} of {len(table)} pairs (sim_valid_* = False)."
        if len(invalid)
        else ""
    )
    caption = (
        "Accuracy on the test split of the classifier probe (trained on the "
        "training split's frozen vectors), and train_test_similarity: the Pearson correlation "
        "between the DirectProbe distance vectors of the training and test splits over the label "
        "pairs both define (sim_pairs_*: how many; a pair is undefined where a label has no "
        "cluster above the size cut in a split; NaN with fewer than 3); on each model's "
        "last layer, before (step 0) and after (last step) fine-tuning on the same task; "
        f"{F.seeds_note(wide)}.{caveat} " + context.data_note(table["task"])
    )
    fig = _performance_figure(table)
    return AnalysisResult(1, "performance", title, caption.strip(), headline, table, fig)


def _performance_figure(table: pd.DataFrame):
    width = _bar_width(len(table))
    fig, axes = P.grid(2, ncols=2 if width < 9 else 1, panel=(width, 3.8))
    labels = [_pair_label(m, t) for m, t in table[["model", "task"]].itertuples(index=False)]
    _bars(
        axes[0],
        labels,
        table["acc_before_mean"],
        table["acc_after_mean"],
        table["acc_before_sd"].fillna(0),
        table["acc_after_sd"].fillna(0),
        "test accuracy (fraction correct)",
    )
    axes[0].set_title("Classifier probe, last layer")
    axes[0].set_ylim(0, 1.05)
    _bars(
        axes[1],
        labels,
        table["sim_before_mean"],
        table["sim_after_mean"],
        table["sim_before_sd"].fillna(0),
        table["sim_after_sd"].fillna(0),
        "Pearson r, train vs test distance vector",
    )
    axes[1].set_title("Train–test spatial similarity, last layer")
    axes[1].axhline(0, color="black", linewidth=0.6)
    return fig


def linearity(tables: Mapping[str, pd.DataFrame], context: StudyContext) -> AnalysisResult:
    """Analysis 3: last-layer DirectProbe clusters vs labels, before vs after fine-tuning."""
    title = "Linearity: clusters vs labels"
    staged = _last_layer_stages(tables)
    if staged.empty or not {"n_clusters", "n_labels_present"} <= set(staged.columns):
        return empty_result(3, "linearity", title, "no DirectProbe results in the tables")
    staged = staged.dropna(subset=["n_clusters", "n_labels_present"])
    if staged.empty:
        return empty_result(3, "linearity", title, "no DirectProbe results in the tables")
    keys = ["seed", "model", "task", "layer", "split"]
    wide = _stage_columns(staged, keys, {"n_clusters": "clusters", "n_labels_present": "labels"})
    wide["n_labels"] = wide["labels_before"].fillna(wide["labels_after"])
    wide["linear_before"] = wide["clusters_before"] == wide["labels_before"]
    wide["linear_after"] = wide["clusters_after"] == wide["labels_after"]
    wide["fewer_after"] = wide["clusters_after"] < wide["clusters_before"]
    by = ["model", "task", "layer", "split"]
    table = F.seed_stats(wide, by, ["clusters_before", "clusters_after"])
    shares = wide.groupby(by)[["linear_before", "linear_after", "fewer_after"]].mean().reset_index()
    shares = shares.rename(
        columns={
            "linear_before": "linear_share_before",
            "linear_after": "linear_share_after",
            "fewer_after": "fewer_share",
        }
    )
    n_labels = wide.groupby(by)["n_labels"].max().rename("n_labels").reset_index()
    table = n_labels.merge(table, on=by).merge(shares, on=by)

    train = table[table["split"] == "train"].dropna(subset=["clusters_after_mean"])
    n_seeds = int(train["n_seeds"].max()) if len(train) else 0
    n = len(train)
    fewer = int((train["clusters_after_mean"] < train["clusters_before_mean"]).sum())
    fewer_every = int((train["fewer_share"] == 1).sum())
    lin_before = int((train["linear_share_before"] == 1).sum())
    lin_after = int((train["linear_share_after"] == 1).sum())
    if n:
        every_seed = ", every seed" if n_seeds > 1 else ""
        headline = (
            "Last-layer clusters fell after fine-tuning in "
            f"{F.count_phrase(fewer, n, fewer_every, n_seeds, '(model, task) pairs')}; linear "
            f"(clusters = labels{every_seed}) in {lin_before} of {n} before and {lin_after} of "
            f"{n} after."
        )
    else:
        headline = "No fine-tuned (after) DirectProbe results for the training split."
    caption = (
        "Number of clusters DirectProbe finds on each model's last layer against the number of "
        "labels present, before (step 0) and after (last step) fine-tuning on the same task; "
        "clusters = labels means one linear classifier separates every label, more clusters mean a "
        "non-linear boundary is needed. Split 'train': DirectProbe fitted on the training split; "
        f"'test': on the test split's own space. Counts are {F.seeds_note(wide)}; linear_share_* "
        "is the share of seeds where clusters = labels. " + context.data_note(table["task"])
    )
    fig = _linearity_figure(table[table["split"] == "train"])
    return AnalysisResult(3, "linearity", title, caption.strip(), headline, table, fig)


def _linearity_figure(table: pd.DataFrame):
    fig, axes = P.grid(1, ncols=1, panel=(_bar_width(len(table)), 3.8))
    ax = axes[0]
    labels = [_pair_label(m, t) for m, t in table[["model", "task"]].itertuples(index=False)]
    _bars(
        ax,
        labels,
        table["clusters_before_mean"],
        table["clusters_after_mean"],
        table["clusters_before_sd"].fillna(0),
        table["clusters_after_sd"].fillna(0),
        "number of clusters (count)",
    )
    x = np.arange(len(labels))
    ax.scatter(
        x, table["n_labels"], marker="_", s=900, color="black", zorder=5, label="labels present"
    )
    P.legend_outside(ax)
    ax.set_title("DirectProbe clusters on the last layer (training split)")
    return fig
