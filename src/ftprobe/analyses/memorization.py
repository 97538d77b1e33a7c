"""Analysis 2: memorization learning curves before and after fine-tuning.

The training split is cut 80:20 into subtrain and subtest; the model is
fine-tuned on the whole training split; classifier probes are trained on
growing fractions of subtrain and scored on subtrain, subtest and test. If the
fine-tuned space memorised its training data, the probe does as well on
subtest (seen in fine-tuning, unseen by the probe) as on subtrain after
fine-tuning, while before fine-tuning subtest behaves like test.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ftprobe.analyses import frames as F
from ftprobe.analyses import plotting as P
from ftprobe.analyses.result import AnalysisResult, StudyContext, empty_result

_COLUMNS = (
    "seed",
    "model",
    "finetune_task",
    "step",
    "is_last_step",
    "task",
    "layer",
    "fraction",
    "eval_split",
    "n_train",
    "accuracy",
)
EVAL_SPLITS = ("subtrain", "subtest", "test")
_STYLE = {"subtrain": ("#2ca02c", "-"), "subtest": ("#d62728", "--"), "test": ("#1f77b4", ":")}


def memorization(tables: Mapping[str, pd.DataFrame], context: StudyContext) -> AnalysisResult:
    """Analysis 2: learning curves on subtrain, subtest and test, before vs after fine-tuning."""
    title = "Memorization: learning curves"
    curves = F.table(tables, "curves", _COLUMNS)
    if not curves.empty:
        curves = F.with_stage(F.own_task(curves)).dropna(subset=["accuracy"])
    if curves.empty:
        return empty_result(
            2,
            "memorization",
            title,
            "the study has no memorization curves (enable [probes] memorization)",
        )
    by = ["model", "task", "layer", "stage", "eval_split", "fraction"]
    values = ["n_train", "accuracy"] + (["macro_f1"] if "macro_f1" in curves else [])
    table = F.seed_stats(curves, by, values)
    table = table.drop(columns=["n_train_sd"]).rename(columns={"n_train_mean": "n_train"})

    # Per seed and stage, the accuracy gaps averaged over the probe's training sizes.
    mean_acc = (
        curves.groupby(["seed", "model", "task", "stage", "eval_split"])["accuracy"]
        .mean()
        .unstack("eval_split")
        .reindex(columns=list(EVAL_SPLITS))
    )
    mean_acc["subtest_minus_test"] = mean_acc["subtest"] - mean_acc["test"]
    mean_acc["subtrain_minus_subtest"] = mean_acc["subtrain"] - mean_acc["subtest"]
    gaps = mean_acc[["subtest_minus_test", "subtrain_minus_subtest"]].unstack("stage")
    gaps = gaps.reindex(
        columns=pd.MultiIndex.from_product(
            [["subtest_minus_test", "subtrain_minus_subtest"], [F.BEFORE, F.AFTER]]
        )
    )
    gaps.columns = [f"{g}_{stage}" for g, stage in gaps.columns]
    gaps = gaps.reset_index()
    gaps["gap_grew"] = gaps["subtest_minus_test_after"] > gaps["subtest_minus_test_before"]
    summary = F.seed_stats(
        gaps,
        ["model", "task"],
        [
            "subtest_minus_test_before",
            "subtest_minus_test_after",
            "subtrain_minus_subtest_before",
            "subtrain_minus_subtest_after",
        ],
    )
    summary = summary.merge(
        gaps.groupby(["model", "task"])["gap_grew"].sum().rename("seeds_gap_grew").reset_index(),
        on=["model", "task"],
    )

    done = summary.dropna(
        subset=["subtest_minus_test_before_mean", "subtest_minus_test_after_mean"]
    )
    if len(done):
        n_seeds = int(done["n_seeds"].max())
        grew = int(
            (done["subtest_minus_test_after_mean"] > done["subtest_minus_test_before_mean"]).sum()
        )
        every = int((done["seeds_gap_grew"] == done["n_seeds"]).sum())
        headline = (
            "After fine-tuning the probe scored higher on subtest than on test: the subtest−test "
            "accuracy gap (mean over training sizes) grew in "
            f"{F.count_phrase(grew, len(done), every, n_seeds, '(model, task) pairs')}, "
            f"mean {done['subtest_minus_test_before_mean'].mean():+.3f} before → "
            f"{done['subtest_minus_test_after_mean'].mean():+.3f} after; subtrain−subtest "
            f"{done['subtrain_minus_subtest_before_mean'].mean():+.3f} → "
            f"{done['subtrain_minus_subtest_after_mean'].mean():+.3f}."
        )
    else:
        headline = "Curves exist only before or only after fine-tuning: no comparison yet."
    layers = ", ".join(
        f"{m} layer {int(layer)}"
        for m, layer in table[["model", "layer"]].drop_duplicates().itertuples(index=False)
    )
    caption = (
        "Learning curves of the classifier probe trained on growing fractions of subtrain (80% of "
        "the training split; the other 20% is subtest) and scored on subtrain, subtest and the "
        "test split, on representations before (step 0) and after (last step) fine-tuning on the "
        f"whole training split ({layers}); {F.seeds_note(curves)}. The summary's gaps are accuracy "
        "differences averaged over the training sizes. " + context.data_note(table["task"])
    )
    fig = _figure(table)
    return AnalysisResult(
        2, "memorization", title, caption.strip(), headline, table, fig, summary=summary
    )


def _figure(table: pd.DataFrame):
    pairs = F.pair_names(table)
    fig, grid = P.rows(len(pairs), 2, panel=(4.4, 3.2))
    for (model, task), axes in zip(pairs, grid, strict=True):
        part = table[(table["model"] == model) & (table["task"] == task)]
        for ax, stage in zip(axes, (F.BEFORE, F.AFTER), strict=True):
            for ev in EVAL_SPLITS:
                line = part[(part["stage"] == stage) & (part["eval_split"] == ev)].sort_values(
                    "n_train"
                )
                if line.empty:
                    continue
                color, style = _STYLE[ev]
                x, y = line["n_train"].to_numpy(), line["accuracy_mean"].to_numpy()
                sd = line["accuracy_sd"].fillna(0).to_numpy()
                ax.plot(x, y, style, color=color, marker="o", markersize=3, label=ev)
                ax.fill_between(x, y - sd, y + sd, color=color, alpha=0.15, linewidth=0)
            ax.set_title(f"{model} / {task}: {stage} fine-tuning", fontsize=10)
            ax.set_xlabel("probe training examples (from subtrain)")
            ax.set_ylabel("accuracy (fraction correct)")
            ax.grid(alpha=0.3)
            P.legend_outside(ax, loc="lower right")
        lows = part["accuracy_mean"].min()
        for ax in axes:
            ax.set_ylim(max(0.0, np.floor(lows * 10) / 10 - 0.05), 1.02)
    return fig
