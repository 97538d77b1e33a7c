"""Analyses 4-6: how the labels of a task move during fine-tuning.

4. Label distances: each label's smallest distance to any other label
   (DirectProbe's ``outside_min``) at every saved checkpoint of the last layer.
5. Centroid paths: the three labels closest to others before fine-tuning,
   followed across checkpoints, projected to 2-D by PCA, first and last layer.
6. Cross-task: the labels of task B when fine-tuning on another task A,
   next to fine-tuning on B itself.

All use the DirectProbe results fitted on the training split.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ftprobe.analyses import frames as F
from ftprobe.analyses import plotting as P
from ftprobe.analyses.result import AnalysisResult, StudyContext, empty_result

_LABEL_COLUMNS = (
    "seed",
    "model",
    "finetune_task",
    "step",
    "is_last_step",
    "task",
    "layer",
    "split",
    "label",
    "outside_min",
)
TOL = 1e-4


def _train_labels(
    tables: Mapping[str, pd.DataFrame], extra: tuple[str, ...] = (), *, defined_only: bool = True
) -> pd.DataFrame:
    """Training-split label rows of labels that occur in the split.

    With ``defined_only``, only rows with an outside_min (a label without a cluster the
    statistics count has NaN there: it has no distance to grow or shrink).
    """
    labels = F.table(tables, "labels", _LABEL_COLUMNS + extra)
    if labels.empty:
        return labels
    rows = F.split(labels, "train")
    if "n_points" in rows.columns:
        rows = rows[rows["n_points"].fillna(0) > 0]
    return rows.dropna(subset=["outside_min"]) if defined_only else rows


def _change(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per ``by`` (which must include seed and label): outside_min after minus before.

    ``defined`` is False where the label has no outside_min at step 0 or at the last step
    (then ``change`` is NaN): such labels are left out of "grew / shrank" and counted apart.
    """
    first = rows[rows["step"] == 0].set_index(by)["outside_min"]
    last = rows[rows["is_last_step"].astype(bool) & (rows["step"] > 0)].set_index(by)["outside_min"]
    both = pd.concat({"before": first, "after": last}, axis=1)
    both["change"] = both["after"] - both["before"]
    both["defined"] = both["change"].notna()
    return both.reset_index()


def _left_out(change: pd.DataFrame, by: list[str]) -> pd.Series:
    """Per ``by``: labels not defined at both ends (left out of the growth counts)."""
    return (~change["defined"]).groupby([change[c] for c in by]).sum().rename("n_left_out")


def _non_monotone(path: pd.Series, tol: float) -> bool:
    steps = np.diff(path.to_numpy())
    return bool((steps > tol).any() and (steps < -tol).any())


def label_distances(
    tables: Mapping[str, pd.DataFrame], context: StudyContext, tol: float = TOL
) -> AnalysisResult:
    """Analysis 4: each label's outside_min along fine-tuning; top-3 and bottom-3 by growth.

    A label "grew" when its outside_min at the last step exceeds the one at step 0
    by more than ``tol`` (shrank: less by more than ``tol``); a path is non-monotone
    when it both rises and falls by more than ``tol`` between consecutive checkpoints.
    """
    title = "Label distances along fine-tuning"
    rows = _train_labels(tables, defined_only=False)
    if not rows.empty:
        rows = F.last_layer(F.own_task(rows))
    if rows.empty or rows["outside_min"].isna().all():
        return empty_result(
            4, "label_distances", title, "no DirectProbe label statistics in the tables"
        )
    keys = ["seed", "model", "task", "label"]
    every = _change(rows, keys)
    # A label left out in one seed and defined in another counts as left out once.
    left_out = (
        every[~every["defined"]].groupby(["model", "task"])["label"].nunique().rename("n_left_out")
    )
    change = every[every["defined"]]
    if change.empty:
        return empty_result(
            4, "label_distances", title, "no run has both step 0 and a last step yet"
        )
    ordered = rows.sort_values("step")
    mono = (
        ordered.groupby(keys)["outside_min"]
        .apply(lambda s: _non_monotone(s, tol))
        .rename("non_monotone")
        .reset_index()
    )
    per_label = change.merge(mono, on=keys, how="left")
    growth = per_label.groupby(["model", "task", "label"])["change"].mean().rename("growth_mean")
    table = F.seed_stats(rows, ["model", "task", "layer", "label", "step"], ["outside_min"])
    table = table.merge(growth.reset_index(), on=["model", "task", "label"], how="left")
    table["group"] = ""
    summaries = []
    for (model, task), g in growth.reset_index().groupby(["model", "task"]):
        ranked = g.sort_values(["growth_mean", "label"], ascending=[False, True])["label"].tolist()
        top = ranked[:3]
        bottom = [x for x in ranked[::-1] if x not in top][:3]
        pair = (table["model"] == model) & (table["task"] == task)
        table.loc[pair & table["label"].isin(top), "group"] = "top-3 growth"
        table.loc[pair & table["label"].isin(bottom), "group"] = "bottom-3 growth"
        labs = per_label[(per_label["model"] == model) & (per_label["task"] == task)]
        n_steps = rows.loc[(rows["model"] == model) & (rows["task"] == task), "step"].nunique()
        summaries.append(
            {
                "model": model,
                "task": task,
                "n_labels": len(g),
                "n_left_out": int(left_out.get((model, task), 0)),
                "n_checkpoints": n_steps,
                "n_grew": int((g["growth_mean"] > tol).sum()),
                "n_shrank": int((g["growth_mean"] < -tol).sum()),
                "mean_change": float(g["growth_mean"].mean()),
                "median_change": float(g["growth_mean"].median()),
                "non_monotone_share": float(labs["non_monotone"].mean()) if n_steps > 2 else np.nan,
                "top3": ", ".join(top),
                "bottom3": ", ".join(bottom),
            }
        )
    summary = pd.DataFrame(summaries)
    n_labels = int(summary["n_labels"].sum())
    grew = int(summary["n_grew"].sum())
    shrank = int(summary["n_shrank"].sum())
    mean_change = float(growth.mean())
    mono_share = per_label["non_monotone"].mean() if summary["n_checkpoints"].max() > 2 else np.nan
    scope = f"across {len(summary)} (model, task) pairs, " if len(summary) > 1 else ""
    headline = (
        f"{scope}outside_min grew during fine-tuning for {grew} of {n_labels} labels and shrank "
        f"for {shrank} (mean change {mean_change:+.3f})"
    )
    n_out = int(summary["n_left_out"].sum())
    if n_out:
        headline += (
            f"; {n_out} more label{'s' if n_out != 1 else ''} left out: no cluster above the size "
            "cut at step 0 or the last step, so no distance to compare"
        )
    if np.isfinite(mono_share):
        headline += f"; {mono_share:.0%} of label paths rose and fell (non-monotone)"
    headline = headline[0].upper() + headline[1:] + "."
    caption = (
        "Each label's smallest DirectProbe distance to any other label (outside_min: Euclidean "
        "distance between convex hulls, in representation units) on each model's last layer at "
        "every saved checkpoint of fine-tuning on the same task; DirectProbe fitted on the "
        f"training split; {F.seeds_note(rows)}. Growth is the last step minus step 0 (mean "
        "over seeds); the figure shows the three labels that grew most and the three that grew "
        "least; the table holds every label. " + context.data_note(table["task"])
    )
    fig = _distance_figure(table)
    return AnalysisResult(
        4, "label_distances", title, caption.strip(), headline, table, fig, summary=summary
    )


def _distance_figure(table: pd.DataFrame):
    pairs = F.pair_names(table)
    fig, axes = P.grid(len(pairs), ncols=2, panel=(5.2, 3.6))
    warm = ("#d62728", "#ff7f0e", "#8c564b")
    cool = ("#1f77b4", "#17becf", "#9467bd")
    for ax, (model, task) in zip(axes, pairs, strict=True):
        part = table[(table["model"] == model) & (table["task"] == task)]
        for group, colors, style in (("top-3 growth", warm, "-"), ("bottom-3 growth", cool, "--")):
            chosen = part[part["group"] == group]
            order = chosen.groupby("label")["growth_mean"].first().sort_values(ascending=False)
            for color, label in zip(colors, order.index, strict=False):
                line = chosen[chosen["label"] == label].sort_values("step")
                x, y = line["step"].to_numpy(), line["outside_min_mean"].to_numpy()
                sd = line["outside_min_sd"].fillna(0).to_numpy()
                ax.plot(
                    x,
                    y,
                    style,
                    color=color,
                    marker="o",
                    markersize=3,
                    label=f"{label} ({order[label]:+.2f})",
                )
                ax.fill_between(x, y - sd, y + sd, color=color, alpha=0.12, linewidth=0)
        ax.set_title(f"{model} / {task}, layer {int(part['layer'].iloc[0])}", fontsize=10)
        ax.set_xlabel("fine-tuning step (updates)")
        ax.set_ylabel("outside_min (Euclidean distance)")
        ax.grid(alpha=0.3)
        P.legend_outside(ax, loc="best", title="label (growth)", title_fontsize=8)
    return fig


def _pca2(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates on the first two principal components and their explained-variance ratios."""
    centred = matrix - matrix.mean(axis=0, keepdims=True)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    coords = np.zeros((len(matrix), 2))
    k = min(2, len(s))
    coords[:, :k] = u[:, :k] * s[:k]
    total = float((s**2).sum())
    ratios = np.zeros(2)
    if total > 0:
        ratios[:k] = s[:k] ** 2 / total
    return coords, ratios


def _mean_pairwise(matrix: np.ndarray) -> float:
    d = [np.linalg.norm(a - b) for a, b in itertools.combinations(matrix, 2)]
    return float(np.mean(d)) if d else float("nan")


def centroid_paths(tables: Mapping[str, pd.DataFrame], context: StudyContext) -> AnalysisResult:
    """Analysis 5: centroid paths of the three closest labels, PCA to 2-D, first and last layer.

    The three labels are those with the smallest outside_min at step 0 (per model,
    task and layer); the PCA is fitted on all their centroids over every seed
    and checkpoint, so the seeds' paths share one plane.
    """
    title = "Centroid paths of the three closest labels"
    rows = _train_labels(tables, ("centroid",))
    if not rows.empty:
        rows = F.first_and_last_layer(F.own_task(F.with_centroids(rows)))
    if rows.empty:
        return empty_result(5, "centroid_paths", title, "no label centroids in the tables")
    records, summaries = [], []
    for (model, task, layer), part in rows.groupby(["model", "task", "layer"]):
        start = part[part["step"] == 0]
        if start.empty:
            continue
        role = "last" if layer == rows.loc[rows["model"] == model, "layer"].max() else "first"
        closeness = start.groupby("label")["outside_min"].mean().reset_index()
        closest = closeness.sort_values(["outside_min", "label"])["label"].head(3).tolist()
        chosen = part[part["label"].isin(closest)].sort_values(["seed", "step", "label"])
        coords, ratios = _pca2(F.centroid_matrix(chosen["centroid"]))
        rank = {label: i + 1 for i, label in enumerate(closest)}
        for row, xy in zip(chosen.itertuples(index=False), coords, strict=True):
            records.append(
                {
                    "seed": row.seed,
                    "model": model,
                    "task": task,
                    "layer": layer,
                    "layer_role": role,
                    "label": row.label,
                    "closeness_rank": rank[row.label],
                    "step": row.step,
                    "pc1": xy[0],
                    "pc2": xy[1],
                }
            )
        spreads = []
        for _, run in chosen.groupby("seed"):
            ends = [
                run[run["step"] == 0],
                run[run["is_last_step"].astype(bool) & (run["step"] > 0)],
            ]
            if all(len(e) == len(closest) for e in ends):
                spreads.append([_mean_pairwise(F.centroid_matrix(e["centroid"])) for e in ends])
        spread = np.array(spreads) if spreads else np.full((1, 2), np.nan)
        summaries.append(
            {
                "model": model,
                "task": task,
                "layer": layer,
                "layer_role": role,
                "labels": ", ".join(closest),
                "n_checkpoints": chosen["step"].nunique(),
                "pc1_variance": ratios[0],
                "pc2_variance": ratios[1],
                "pairwise_before": float(spread[:, 0].mean()),
                "pairwise_after": float(spread[:, 1].mean()),
                "seeds_apart": int((spread[:, 1] > spread[:, 0]).sum()),
                "n_seeds": len(spreads),
            }
        )
    if not records:
        return empty_result(5, "centroid_paths", title, "no step-0 centroids in the tables")
    table = pd.DataFrame(records)
    summary = pd.DataFrame(summaries)
    summary["pairwise_change"] = summary["pairwise_after"] - summary["pairwise_before"]
    parts = []
    for role in ("last", "first"):
        s = summary[(summary["layer_role"] == role)].dropna(subset=["pairwise_change"])
        if len(s):
            n_seeds = int(s["n_seeds"].max())
            apart = int((s["pairwise_change"] > 0).sum())
            every = int((s["seeds_apart"] == s["n_seeds"]).sum())
            parts.append(
                f"{role} layer: grew in {F.count_phrase(apart, len(s), every, n_seeds, 'pairs')}, "
                f"mean {s['pairwise_before'].mean():.3f} → {s['pairwise_after'].mean():.3f}"
            )
    headline = (
        "Mean pairwise distance between the three closest labels' centroids, before → after "
        "fine-tuning: " + "; ".join(parts) + "."
        if parts
        else "No run has both step 0 and a last step yet."
    )
    caption = (
        "Centroids (mean training-split vectors) of the three labels with the smallest outside_min "
        "before fine-tuning, at every checkpoint where the layer was represented, on each model's "
        "first and last layer, projected onto the first two principal components of those "
        "centroids (one PCA per panel, over every seed and checkpoint; axes in representation "
        f"units). Circles mark step 0, stars the last step; one line per seed, "
        f"{F.seeds_list(rows)}. The summary's pairwise distances are measured in the full space. "
        + context.data_note(table["task"])
    )
    fig = _paths_figure(table, summary)
    return AnalysisResult(
        5, "centroid_paths", title, caption.strip(), headline, table, fig, summary=summary
    )


def _paths_figure(table: pd.DataFrame, summary: pd.DataFrame):
    pairs = F.pair_names(table)
    fig, grid = P.rows(len(pairs), 2, panel=(4.4, 3.8))
    for (model, task), axes in zip(pairs, grid, strict=True):
        for ax, role in zip(axes, ("first", "last"), strict=True):
            part = table[
                (table["model"] == model) & (table["task"] == task) & (table["layer_role"] == role)
            ]
            info = summary[
                (summary["model"] == model)
                & (summary["task"] == task)
                & (summary["layer_role"] == role)
            ]
            if part.empty or info.empty:
                ax.set_axis_off()
                continue
            for color, (_, lab) in zip(P.COLORS, part.groupby("closeness_rank"), strict=False):
                name = lab["label"].iloc[0]
                for i, (_, run) in enumerate(lab.groupby("seed")):
                    run = run.sort_values("step")
                    ax.plot(
                        run["pc1"],
                        run["pc2"],
                        "-",
                        color=color,
                        alpha=0.8,
                        linewidth=1.2,
                        marker=".",
                        markersize=4,
                        label=name if i == 0 else None,
                    )
                    ax.plot(run["pc1"].iloc[0], run["pc2"].iloc[0], "o", color=color, markersize=7)
                    ax.plot(
                        run["pc1"].iloc[-1], run["pc2"].iloc[-1], "*", color=color, markersize=11
                    )
            ev = info.iloc[0]
            ax.set_xlabel(f"PC1 ({ev['pc1_variance']:.0%} of variance)")
            ax.set_ylabel(f"PC2 ({ev['pc2_variance']:.0%} of variance)")
            ax.set_title(
                f"{model} / {task}, layer {int(part['layer'].iloc[0])} ({role})", fontsize=10
            )
            ax.set_aspect("equal", adjustable="datalim")
            ax.grid(alpha=0.3)
            P.legend_outside(ax, loc="best")
    return fig


_CROSS_COLUMNS = [
    "model",
    "task",
    "finetune_task",
    "relation",
    "n_seeds",
    "n_labels",
    "n_left_out",
    "n_grew",
    "n_shrank",
    "mean_change",
    "mean_change_sd",
    "clf_accuracy_before",
    "clf_accuracy_after",
    "clf_accuracy_after_sd",
    "clf_accuracy_change",
]


def cross_task(
    tables: Mapping[str, pd.DataFrame], context: StudyContext, tol: float = TOL
) -> AnalysisResult:
    """Analysis 6: task B's labels under fine-tuning on task A, next to fine-tuning on B itself."""
    title = "Cross-task fine-tuning"
    rows = _train_labels(tables, defined_only=False)
    crossed = F.cross_task(rows) if not rows.empty else rows
    if crossed.empty:
        return empty_result(
            6,
            "cross_task",
            title,
            "the study has no [[cross]] pairs (fine-tune on task A, probe task B), so there is "
            "no cross-task comparison",
            _CROSS_COLUMNS,
        )
    probed = set(crossed["task"])
    rows = F.last_layer(rows[rows["task"].isin(probed)])
    run = ["seed", "model", "finetune_task", "task"]
    every = _change(rows, [*run, "label"])
    left_out = _left_out(every, run)
    change = every[every["defined"]]
    if change.empty:
        return empty_result(
            6,
            "cross_task",
            title,
            "no run of the probed tasks has both step 0 and a last step yet",
            _CROSS_COLUMNS,
        )
    per_run = (
        change.groupby(run)
        .agg(
            n_labels=("label", "nunique"),
            n_grew=("change", lambda c: int((c > tol).sum())),
            n_shrank=("change", lambda c: int((c < -tol).sum())),
            mean_change=("change", "mean"),
        )
        .reset_index()
        .merge(left_out.reset_index(), on=run, how="left")
    )
    reps = F.table(tables, "representations", ("clf_accuracy", "split"))
    if not reps.empty:
        acc = F.with_stage(F.last_layer(F.split(reps, "train")))
        acc = acc.set_index([*run, "stage"])["clf_accuracy"].unstack("stage")
        acc = acc.reindex(columns=[F.BEFORE, F.AFTER]).reset_index()
        acc.columns = [*run, "clf_accuracy_before", "clf_accuracy_after"]
        per_run = per_run.merge(acc, on=run, how="left")
    else:
        per_run["clf_accuracy_before"] = per_run["clf_accuracy_after"] = np.nan
    by = ["model", "task", "finetune_task"]
    table = F.seed_stats(
        per_run,
        by,
        [
            "n_labels",
            "n_left_out",
            "n_grew",
            "n_shrank",
            "mean_change",
            "clf_accuracy_before",
            "clf_accuracy_after",
        ],
    )
    table = table.rename(
        columns={
            "n_labels_mean": "n_labels",
            "n_left_out_mean": "n_left_out",
            "n_grew_mean": "n_grew",
            "n_shrank_mean": "n_shrank",
            "mean_change_mean": "mean_change",
            "clf_accuracy_before_mean": "clf_accuracy_before",
            "clf_accuracy_after_mean": "clf_accuracy_after",
        }
    )
    table["relation"] = np.where(table["task"] == table["finetune_task"], "self", "cross")
    table["clf_accuracy_change"] = table["clf_accuracy_after"] - table["clf_accuracy_before"]
    table = table.sort_values(
        ["model", "task", "relation", "finetune_task"], ascending=[True, True, False, True]
    )
    table = table[_CROSS_COLUMNS].reset_index(drop=True)

    several_models = table["model"].nunique() > 1
    phrases = []
    for row in table[table["relation"] == "cross"].itertuples(index=False):
        own = table[
            (table["model"] == row.model)
            & (table["task"] == row.task)
            & (table["relation"] == "self")
        ]
        own_acc = (
            f" vs {own['clf_accuracy_after'].iloc[0]:.3f} after fine-tuning on {row.task} itself"
            if len(own) and np.isfinite(own["clf_accuracy_after"].iloc[0])
            else f" (no fine-tuning on {row.task} itself)"
        )
        prefix = f"{row.model}: " if several_models else ""
        phrases.append(
            f"{prefix}{row.finetune_task}→{row.task}: {row.n_grew:.3g} of {row.n_labels:.3g} "
            f"labels grew, {row.n_shrank:.3g} shrank (mean change {row.mean_change:+.3f}), "
            f"accuracy {row.clf_accuracy_after:.3f}{own_acc}"
            + (
                f"; {row.n_left_out:.3g} labels left out (no distance at step 0 or the end)"
                if row.n_left_out > 0
                else ""
            )
        )
    headline = "; ".join(phrases) + "."
    caption = (
        "For each task B probed after fine-tuning on another task A ([[cross]] pairs of the study) "
        "and after fine-tuning on B itself ('self'): the number of B's labels whose outside_min "
        "(DirectProbe, training split, last layer) grew or shrank by more than "
        f"{tol:g} from step 0 to the last step, its mean change (representation units), and "
        "(n_left_out) how many labels have no outside_min at one end (no cluster above the "
        "size cut), so neither grew nor shrank; "
        "the classifier probe's test accuracy on B before and after; "
        f"{F.seeds_note(per_run)} (counts are seed means). "
        + context.data_note(table["task"].tolist() + table["finetune_task"].tolist())
    )
    fig = _cross_figure(table)
    return AnalysisResult(6, "cross_task", title, caption.strip(), headline, table, fig)


def _cross_figure(table: pd.DataFrame):
    pairs = F.pair_names(table)
    fig, grid = P.rows(len(pairs), 2, panel=(4.6, 3.4))
    for (model, task), (left, right) in zip(pairs, grid, strict=True):
        part = table[(table["model"] == model) & (table["task"] == task)]
        names = [
            f"{a}\n({r})" for a, r in part[["finetune_task", "relation"]].itertuples(index=False)
        ]
        x = np.arange(len(part))
        colors = [P.AFTER_COLOR if r == "self" else "#5b8cc0" for r in part["relation"]]
        left.bar(
            x, part["mean_change"], yerr=part["mean_change_sd"].fillna(0), color=colors, capsize=3
        )
        left.axhline(0, color="black", linewidth=0.6)
        left.set_xticks(x, names, fontsize=8)
        left.set_xlabel("fine-tuned on")
        left.set_ylabel("mean change of outside_min\n(Euclidean distance)")
        left.set_title(f"{model}: labels of {task}", fontsize=10)
        w = 0.38
        right.bar(x - w / 2, part["clf_accuracy_before"], w, color=P.BEFORE_COLOR, label="before")
        right.bar(
            x + w / 2,
            part["clf_accuracy_after"],
            w,
            yerr=part["clf_accuracy_after_sd"].fillna(0),
            color=P.AFTER_COLOR,
            label="after",
            capsize=3,
        )
        right.set_xticks(x, names, fontsize=8)
        right.set_xlabel("fine-tuned on")
        right.set_ylabel("test accuracy (fraction correct)")
        right.set_ylim(0, 1.05)
        right.set_title(f"{model}: classifier probe on {task}", fontsize=10)
        for ax in (left, right):
            ax.grid(axis="y", alpha=0.3)
        P.legend_outside(right, loc="lower right")
    return fig
