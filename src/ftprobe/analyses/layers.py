"""Analyses 7-9: how much, how coherently and in which directions each layer changes.

7. Layer movement: the Euclidean distance between each label's centroid before
   and after fine-tuning, per layer.
8. Layer similarity: the Pearson correlation between a layer's DirectProbe
   distance vector at every checkpoint and at step 0 (and linear CKA between
   the representations themselves, when the study computed it).
9. Direction of movement: PCA of the labels' centroid difference vectors
   (after minus before) per layer: how many directions, and over what range.

All use the training split and fine-tuning on the task represented.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
from matplotlib import colormaps

from ftprobe.analyses import frames as F
from ftprobe.analyses import plotting as P
from ftprobe.analyses.result import AnalysisResult, StudyContext, empty_result
from ftprobe.geometry.similarity import pearson_over_common_pairs

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
    "centroid",
)
_PAIR_COLUMNS = (
    "seed",
    "model",
    "finetune_task",
    "step",
    "is_last_step",
    "task",
    "layer",
    "split",
    "label_a",
    "label_b",
    "distance",
    "defined",
)
_RUN = ["seed", "model", "task", "layer"]


def _moves(
    tables: Mapping[str, pd.DataFrame],
) -> Iterator[tuple[tuple, list[str], np.ndarray, np.ndarray]]:
    """Per (seed, model, task, layer): labels, centroids before and after (same label order)."""
    labels = F.table(tables, "labels", _LABEL_COLUMNS)
    if labels.empty:
        return
    rows = F.with_stage(F.with_centroids(F.own_task(F.split(labels, "train"))))
    for key, part in rows.groupby(_RUN, sort=True):
        before = part[part["stage"] == F.BEFORE].set_index("label")["centroid"]
        after = part[part["stage"] == F.AFTER].set_index("label")["centroid"]
        common = sorted(set(before.index) & set(after.index))
        if len(common) < 2:
            continue
        yield (
            key,
            common,
            F.centroid_matrix(before.loc[common]),
            F.centroid_matrix(after.loc[common]),
        )


def _layer_color(layer: int, top: int):
    return colormaps["viridis"](0.9 * layer / max(top, 1))


def layer_movement(tables: Mapping[str, pd.DataFrame], context: StudyContext) -> AnalysisResult:
    """Analysis 7: per layer, how far each label's centroid moved from step 0 to the last step."""
    title = "Layer movement: centroid shift per layer"
    records = []
    for (seed, model, task, layer), names, before, after in _moves(tables):
        shift = np.linalg.norm(after - before, axis=1)
        # The labels' spread before fine-tuning gives each layer its own scale.
        spread = float(np.sqrt(((before - before.mean(axis=0)) ** 2).sum(axis=1).mean()))
        for name, d in zip(names, shift, strict=True):
            records.append(
                {
                    "seed": seed,
                    "model": model,
                    "task": task,
                    "layer": layer,
                    "label": name,
                    "movement": float(d),
                    "relative_movement": float(d / spread) if spread else np.nan,
                }
            )
    if not records:
        return empty_result(
            7,
            "layer_movement",
            title,
            "no label centroids at both step 0 and the last step of any run",
        )
    table = pd.DataFrame(records)
    per_seed = table.groupby(_RUN)[["movement", "relative_movement"]].mean().reset_index()
    summary = F.seed_stats(per_seed, ["model", "task", "layer"], ["movement", "relative_movement"])
    summary = summary.merge(
        table.groupby(["model", "task", "layer"])["label"]
        .nunique()
        .rename("n_labels")
        .reset_index(),
        on=["model", "task", "layer"],
    )
    trends = []
    for (model, task), g in summary.groupby(["model", "task"]):
        g = g.sort_values("layer")
        seeds_up = sum(
            F.spearman(s["layer"], s["movement"]) > 0
            for _, s in per_seed[(per_seed["model"] == model) & (per_seed["task"] == task)].groupby(
                "seed"
            )
        )
        first, last = g["movement_mean"].iloc[0], g["movement_mean"].iloc[-1]
        trends.append(
            {
                "model": model,
                "task": task,
                "n_layers": len(g),
                "rho": F.spearman(g["layer"], g["movement_mean"]),
                "rho_relative": F.spearman(g["layer"], g["relative_movement_mean"]),
                "ratio": last / first if first > 0 else np.inf,
                "seeds_up": seeds_up,
                "n_seeds": int(g["n_seeds"].max()),
            }
        )
    trend = pd.DataFrame(trends).dropna(subset=["rho"])
    if len(trend):
        n_seeds = int(trend["n_seeds"].max())
        up = int((trend["rho"] > 0).sum())
        every = int((trend["seeds_up"] == trend["n_seeds"]).sum())
        headline = (
            "Higher layers moved more (Spearman ρ between layer and mean centroid shift > 0) in "
            f"{F.count_phrase(up, len(trend), every, n_seeds, '(model, task) pairs')}, median ρ "
            f"{trend['rho'].median():.2f}; the last layer moved {trend['ratio'].median():.1f}× as "
            "far as the first (median); relative to the labels' spread, ρ > 0 in "
            f"{int((trend['rho_relative'] > 0).sum())} of {len(trend)}."
        )
    else:
        headline = "Fewer than three layers were represented before and after: no layer trend."
    caption = (
        "Euclidean distance (representation units) between each label's centroid (mean "
        "training-split vector) before (step 0) and after (last step) fine-tuning on the same "
        "task, "
        "for every layer represented at both; relative_movement divides it by the root-mean-square "
        "distance of the layer's label centroids from their mean before fine-tuning, since layers "
        f"differ in scale. Summary: mean over labels, then mean ± sd over {F.seeds_list(table)}. "
        + context.data_note(table["task"])
    )
    fig = _movement_figure(table, summary)
    return AnalysisResult(
        7, "layer_movement", title, caption.strip(), headline, table, fig, summary=summary
    )


def _movement_figure(table: pd.DataFrame, summary: pd.DataFrame):
    pairs = F.pair_names(summary)
    fig, axes = P.grid(len(pairs), ncols=3, panel=(4.2, 3.4))
    for ax, (model, task) in zip(axes, pairs, strict=True):
        part = table[(table["model"] == model) & (table["task"] == task)]
        per_label = part.groupby(["label", "layer"])["movement"].mean().reset_index()
        for _, line in per_label.groupby("label"):
            ax.plot(line["layer"], line["movement"], color="#b0b0b0", linewidth=0.7, alpha=0.7)
        s = summary[(summary["model"] == model) & (summary["task"] == task)].sort_values("layer")
        ax.errorbar(
            s["layer"],
            s["movement_mean"],
            yerr=s["movement_sd"].fillna(0),
            color=P.AFTER_COLOR,
            marker="o",
            linewidth=2,
            capsize=3,
            label="mean over labels",
        )
        ax.plot([], [], color="#b0b0b0", label="one label")
        ax.set_xticks(sorted(s["layer"].unique()))
        ax.set_xlabel("layer (0 = embeddings)")
        ax.set_ylabel("centroid shift (Euclidean distance)")
        ax.set_title(f"{model} / {task}", fontsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        P.legend_outside(ax, loc="upper left")
    return fig


def _similarities(pairs: pd.DataFrame) -> pd.DataFrame:
    """Spatial similarity of each checkpoint's distance vector with step 0's.

    One row per seed, model, task, layer and step: Pearson's r over the label pairs both
    checkpoints define (:func:`ftprobe.geometry.similarity.pearson_over_common_pairs`), the
    number of those pairs, and the reason where r is undefined.
    """
    defined = pairs[pairs["defined"].astype(bool) & np.isfinite(pairs["distance"])]
    maps = {
        key: dict(zip(zip(g["label_a"], g["label_b"], strict=True), g["distance"], strict=True))
        for key, g in defined.groupby([*_RUN, "step"], sort=True)
    }
    last = pairs.groupby([*_RUN, "step"], sort=True)["is_last_step"].any()
    records = []
    for key, is_last in last.items():
        *run, step = key
        ref = maps.get((*run, 0))
        if ref is None:
            continue
        sim = pearson_over_common_pairs(maps.get(key, {}), ref)
        records.append(
            {
                **dict(zip([*_RUN, "step"], key, strict=True)),
                "is_last_step": bool(is_last) and step > 0,
                "pearson": sim.correlation,
                "n_pairs": sim.n_pairs,
                "pearson_reason": sim.reason or "",
            }
        )
    return pd.DataFrame(records)


def layer_similarity(tables: Mapping[str, pd.DataFrame], context: StudyContext) -> AnalysisResult:
    """Analysis 8: per layer and checkpoint, Pearson of the distance vector with step 0's; CKA."""
    title = "Layer similarity along fine-tuning"
    pairs = F.table(tables, "label_pairs", _PAIR_COLUMNS)
    if not pairs.empty:
        pairs = F.own_task(F.split(pairs, "train")).dropna(subset=["distance"])
    table = _similarities(pairs) if not pairs.empty else pd.DataFrame()
    if table.empty:
        return empty_result(
            8, "layer_similarity", title, "no DirectProbe distance vectors at step 0"
        )
    at = [*_RUN, "step"]
    reps = F.table(tables, "representations", ("n_clusters", "n_labels_present", "split"))
    if not reps.empty:
        reps = F.own_task(F.split(reps, "train"))
        eq = reps.assign(eq=reps["n_clusters"] == reps["n_labels_present"])[[*at, "eq"]]
        table = table.merge(eq, on=at, how="left")
        start = eq[eq["step"] == 0].drop(columns="step").rename(columns={"eq": "eq0"})
        table = table.merge(start, on=_RUN, how="left")
        table["clusters_eq_labels"] = table["eq"].astype("boolean") & table["eq0"].astype("boolean")
        table = table.drop(columns=["eq", "eq0"])
    cka = F.table(tables, "cka", ("seed", "model", "finetune_task", "task", "layer", "step", "cka"))
    has_cka = not cka.empty
    if has_cka:
        cka = F.own_task(F.split(cka, "train"))[[*at, "cka"]].drop_duplicates(at)
        table = table.merge(cka, on=at, how="left")
        has_cka = table["cka"].notna().any()
    else:
        table["cka"] = np.nan
    table = table.sort_values(at).reset_index(drop=True)

    final = table[table["is_last_step"] & (table["step"] > 0)]
    summary = F.seed_stats(final, ["model", "task", "layer"], ["pearson", "cka"])
    lowest = (
        table.groupby(["model", "task", "layer"])["pearson"].min().rename("pearson_min_any_step")
    )
    summary = summary.merge(lowest.reset_index(), on=["model", "task", "layer"], how="left")
    cells = summary.dropna(subset=["pearson_mean"])
    parts = []
    if len(cells):
        above = int((cells["pearson_mean"] > 0.5).sum())
        parts.append(
            f"At the last checkpoint, Pearson r between each layer's distance vector and its "
            f"original was > 0.5 in {above} of {len(cells)} (model, task, layer) cells (min "
            f"{cells['pearson_mean'].min():.2f})"
        )
        rhos = [
            F.spearman(g["layer"], g["pearson_mean"]) for _, g in cells.groupby(["model", "task"])
        ]
        rhos = [r for r in rhos if np.isfinite(r)]
        if rhos:
            parts.append(
                f"r fell with the layer (Spearman ρ < 0) in {sum(r < 0 for r in rhos)} of "
                f"{len(rhos)} (model, task) pairs"
            )
        if has_cka and cells["cka_mean"].notna().any():
            crhos = [
                F.spearman(g["layer"], g["cka_mean"]) for _, g in cells.groupby(["model", "task"])
            ]
            crhos = [r for r in crhos if np.isfinite(r)]
            parts.append(
                f"linear CKA with step 0: min {cells['cka_mean'].min():.2f}"
                + (
                    f", falling with the layer in {sum(r < 0 for r in crhos)} of {len(crhos)}"
                    if crhos
                    else ""
                )
            )
        headline = "; ".join(parts) + "."
    else:
        headline = "No run has a last checkpoint yet: only step 0 distance vectors."
    caveat = ""
    if "clusters_eq_labels" in table:
        bad = int((~table["clusters_eq_labels"].fillna(False)).sum())
        if bad:
            caveat = (
                f" The comparison is exact only where clusters = labels at both checkpoints; that "
                f"fails in {bad} of {len(table)} rows (clusters_eq_labels = False)."
            )
    cka_note = (
        " cka: linear CKA between the training-split vectors at this checkpoint and at step 0."
        if has_cka
        else " Linear CKA is not in this study's tables (no cka table), so only Pearson is shown."
    )
    caption = (
        "Pearson correlation between a layer's DirectProbe distance vector (label-to-label "
        "distances, training split) at each saved checkpoint of fine-tuning on the same task and "
        "the same layer's vector before fine-tuning (step 0), over the label pairs both define; "
        f"layers not saved at every checkpoint appear at step 0 and the last step only; "
        f"{F.seeds_list(table)}.{cka_note}{caveat} " + context.data_note(table["task"])
    )
    fig = _similarity_figure(table, summary, has_cka)
    return AnalysisResult(
        8, "layer_similarity", title, caption.strip(), headline, table, fig, summary=summary
    )


def _similarity_figure(table: pd.DataFrame, summary: pd.DataFrame, has_cka: bool):
    pairs = F.pair_names(summary) or F.pair_names(table)
    fig, grid = P.rows(len(pairs), 2, panel=(4.8, 3.4))
    for (model, task), (left, right) in zip(pairs, grid, strict=True):
        part = table[(table["model"] == model) & (table["task"] == task)]
        top = int(part["layer"].max())
        stats = F.seed_stats(part, ["layer", "step"], ["pearson"])
        for layer, line in stats.groupby("layer"):
            line = line.sort_values("step")
            color = _layer_color(int(layer), top)
            x, y = line["step"].to_numpy(), line["pearson_mean"].to_numpy()
            left.plot(x, y, "-", color=color, marker="o", markersize=3, label=f"layer {int(layer)}")
            sd = line["pearson_sd"].fillna(0).to_numpy()
            left.fill_between(x, y - sd, y + sd, color=color, alpha=0.12, linewidth=0)
        left.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        left.set_xlabel("fine-tuning step (updates)")
        left.set_ylabel("Pearson r with step 0")
        left.set_title(f"{model} / {task}: along fine-tuning", fontsize=10)
        left.grid(alpha=0.3)
        P.legend_outside(left, loc="lower left", ncol=2)
        s = summary[(summary["model"] == model) & (summary["task"] == task)].sort_values("layer")
        right.errorbar(
            s["layer"],
            s["pearson_mean"],
            yerr=s["pearson_sd"].fillna(0),
            marker="o",
            color=P.AFTER_COLOR,
            capsize=3,
            label="Pearson r (distance vectors)",
        )
        if has_cka and s["cka_mean"].notna().any():
            right.errorbar(
                s["layer"],
                s["cka_mean"],
                yerr=s["cka_sd"].fillna(0),
                marker="s",
                color="#1f77b4",
                capsize=3,
                linestyle="--",
                label="linear CKA",
            )
        right.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        lows = [0.0, *s["pearson_mean"].dropna().tolist()]
        right.set_ylim(min(lows) - 0.05, 1.05)
        right.set_xticks(sorted(s["layer"].unique()))
        right.set_xlabel("layer (0 = embeddings)")
        right.set_ylabel("similarity with step 0")
        right.set_title(f"{model} / {task}: last step, per layer", fontsize=10)
        right.grid(alpha=0.3)
        P.legend_outside(right, loc="lower left")
    return fig


def _pca(diffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Explained-variance ratios and projections of the centred rows on their principal axes."""
    centred = diffs - diffs.mean(axis=0, keepdims=True)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    total = float((s**2).sum())
    ratios = s**2 / total if total > 0 else np.zeros_like(s)
    return ratios, u * s


def movement_direction(tables: Mapping[str, pd.DataFrame], context: StudyContext) -> AnalysisResult:
    """Analysis 9: PCA of the labels' centroid difference vectors per layer; ranges of motion."""
    title = "Direction of movement"
    records = []
    for (seed, model, task, layer), names, before, after in _moves(tables):
        diffs = after - before
        ratios, proj = _pca(diffs)
        cum = np.cumsum(ratios)
        padded = np.concatenate([ratios, np.full(3, np.nan)])[:3]
        records.append(
            {
                "seed": seed,
                "model": model,
                "task": task,
                "layer": layer,
                "n_labels": len(names),
                "evr_1": padded[0],
                "evr_2": padded[1],
                "evr_3": padded[2],
                "top2_share": float(cum[min(1, len(cum) - 1)]) if len(cum) else np.nan,
                "n_components_90": int(np.searchsorted(cum, 0.9 - 1e-12) + 1) if cum[-1] > 0 else 0,
                "range_pc1": float(np.ptp(proj[:, 0])),
                "range_pc2": float(np.ptp(proj[:, 1])) if proj.shape[1] > 1 else 0.0,
                "mean_shift_norm": float(np.linalg.norm(diffs.mean(axis=0))),
                "mean_movement": float(np.linalg.norm(diffs, axis=1).mean()),
            }
        )
    if not records:
        return empty_result(
            9,
            "movement_direction",
            title,
            "no label centroids at both step 0 and the last step of any run",
        )
    table = pd.DataFrame(records)
    values = [
        "evr_1",
        "evr_2",
        "evr_3",
        "top2_share",
        "n_components_90",
        "range_pc1",
        "range_pc2",
        "mean_shift_norm",
    ]
    summary = F.seed_stats(table, ["model", "task", "layer"], values)
    trends = []
    for _, g in summary.groupby(["model", "task"]):
        g = g.sort_values("layer")
        trends.append(
            {
                "share_rho": F.spearman(g["layer"], g["top2_share_mean"]),
                "range_rho": F.spearman(g["layer"], g["range_pc1_mean"]),
                "first_share": g["top2_share_mean"].iloc[0],
                "last_share": g["top2_share_mean"].iloc[-1],
                "first_range": g["range_pc1_mean"].iloc[0],
                "last_range": g["range_pc1_mean"].iloc[-1],
            }
        )
    trend = pd.DataFrame(trends)
    n = len(trend)
    headline = (
        f"Top-2 principal components explained {trend['first_share'].median():.0%} of the labels' "
        f"movement in the first layer vs {trend['last_share'].median():.0%} in the last (median "
        f"over {n} (model, task) pairs), falling with the layer in "
        f"{int((trend['share_rho'] < 0).sum())} of {n}; the range of motion along PC1 went from "
        f"{trend['first_range'].median():.3g} to {trend['last_range'].median():.3g} and grew with "
        f"the layer in {int((trend['range_rho'] > 0).sum())} of {n}."
    )
    caption = (
        "For each layer represented before (step 0) and after (last step) fine-tuning on the same "
        "task, the labels' centroid difference vectors (after minus before, training split) are "
        "centred and decomposed by PCA: evr_k is the share of their variance along the k-th "
        "principal component, top2_share the share of the first two, n_components_90 the "
        "components needed for 90%; range_pc1/range_pc2 are the ranges (max − min, representation "
        "units) of the labels' movements projected on the first two components; mean_shift_norm is "
        "the length of the movement shared by all labels (removed by centring). "
        f"{F.seeds_list(table)}; "
        "the summary gives mean ± sd over seeds. " + context.data_note(table["task"])
    )
    fig = _direction_figure(summary)
    return AnalysisResult(
        9, "movement_direction", title, caption.strip(), headline, table, fig, summary=summary
    )


def _direction_figure(summary: pd.DataFrame):
    pairs = F.pair_names(summary)
    fig, grid = P.rows(len(pairs), 2, panel=(4.6, 3.4))
    for (model, task), (left, right) in zip(pairs, grid, strict=True):
        s = summary[(summary["model"] == model) & (summary["task"] == task)].sort_values("layer")
        layers = s["layer"].to_numpy()
        cum1 = s["evr_1_mean"].to_numpy()
        cum2 = cum1 + s["evr_2_mean"].fillna(0).to_numpy()
        cum3 = cum2 + s["evr_3_mean"].fillna(0).to_numpy()
        for values, name, color in (
            (cum1, "PC1", "#d62728"),
            (cum2, "PC1–2", "#ff7f0e"),
            (cum3, "PC1–3", "#2ca02c"),
        ):
            left.plot(layers, values * 100, marker="o", color=color, label=name)
        left.set_ylim(0, 105)
        left.set_xticks(layers)
        left.set_xlabel("layer (0 = embeddings)")
        left.set_ylabel("variance of movement explained (%)")
        left.set_title(f"{model} / {task}: directions", fontsize=10)
        left.grid(alpha=0.3)
        P.legend_outside(left, loc="lower left")
        for col, name, color in (
            ("range_pc1", "along PC1", "#1f77b4"),
            ("range_pc2", "along PC2", "#9467bd"),
        ):
            right.errorbar(
                layers,
                s[f"{col}_mean"],
                yerr=s[f"{col}_sd"].fillna(0),
                marker="o",
                color=color,
                capsize=3,
                label=name,
            )
        right.set_xticks(layers)
        right.set_ylim(bottom=0)
        right.set_xlabel("layer (0 = embeddings)")
        right.set_ylabel("range of motion (Euclidean distance)")
        right.set_title(f"{model} / {task}: ranges", fontsize=10)
        right.grid(alpha=0.3)
        P.legend_outside(right, loc="upper left")
    return fig
