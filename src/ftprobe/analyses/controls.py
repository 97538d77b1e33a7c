"""Analysis 10: the probe beside its controls and baselines, layer by layer.

For every representation of a task on its own fine-tuning run, before (step 0)
and after (last step) fine-tuning, it sets side by side the classifier probe's
accuracy on the task, on the task's control task (Hewitt and Liang, 2019) and
on shuffled training labels, the selectivity (task minus control-task
accuracy), the same probe on an encoder with the model's architecture and
random weights, and the online code's compression (Voita and Titov, 2020).
The paper has no such finding, so there is no comparison with it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ftprobe.analyses import frames as F
from ftprobe.analyses import plotting as P
from ftprobe.analyses.result import AnalysisResult, StudyContext, empty_result

NUMBER, NAME = 10, "controls"
TITLE = "Probing with controls: control task, shuffled labels, random-init encoder, MDL"
_KEYS = ["seed", "model", "task", "layer", "stage"]
VALUES = (
    "task_accuracy",
    "control_task_accuracy",
    "selectivity",
    "shuffled_accuracy",
    "random_init_accuracy",
    "random_init_selectivity",
    "compression",
    "control_compression",
    "code_length_bits",
    "uniform_bits",
    "task_clusters",
    "control_clusters",
    "control_labels_present",
)
_SUMMARY = (
    "task_accuracy",
    "control_task_accuracy",
    "selectivity",
    "shuffled_accuracy",
    "compression",
    "control_compression",
    "task_clusters",
    "control_clusters",
    "control_labels_present",
)
# DirectProbe's view of the control task, as the controls table names it.
_CONTROL_DP = {
    "task_n_clusters": "task_clusters",
    "n_clusters": "control_clusters",
    "n_labels_present": "control_labels_present",
}


def _staged(tables: Mapping[str, pd.DataFrame], name: str, columns: list[str]) -> pd.DataFrame:
    frame = F.table(tables, name, ["step", "is_last_step", "task", "finetune_task", *columns])
    return frame if frame.empty else F.with_stage(F.own_task(frame))


def _wide(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (seed, model, task, layer, stage) with every measure there is."""
    reps = _staged(tables, "representations", ["clf_accuracy", "split"])
    frames: list[pd.DataFrame] = []
    if not reps.empty:
        train = F.split(reps, "train")
        frames.append(
            train.set_index(_KEYS)[["clf_accuracy"]].rename(
                columns={"clf_accuracy": "task_accuracy"}
            )
        )
    controls = _staged(tables, "controls", ["control", "accuracy", "selectivity"])
    if not controls.empty:
        by = controls.set_index([*_KEYS, "control"])
        accuracy = by["accuracy"].unstack("control")
        accuracy.columns = [f"{c.replace('-', '_')}_accuracy" for c in accuracy.columns]
        frames.append(accuracy)
        chosen = controls[controls["control"] == "control-task"]
        if not chosen.empty:
            frames.append(chosen.set_index(_KEYS)[["selectivity"]])
            dp = [c for c in _CONTROL_DP if c in chosen.columns]
            frames.append(chosen.set_index(_KEYS)[dp].rename(columns=_CONTROL_DP))
    mdl = _staged(tables, "mdl", ["labels", "compression", "code_length_bits"])
    if not mdl.empty:
        task = mdl[mdl["labels"] == "task"].set_index(_KEYS)
        frames.append(task[["compression", "code_length_bits", "uniform_bits"]])
        control = mdl[mdl["labels"] == "control-task"].set_index(_KEYS)
        frames.append(
            control[["compression"]].rename(columns={"compression": "control_compression"})
        )
    if not frames:
        return pd.DataFrame()
    wide = pd.concat(frames, axis=1).reset_index()
    base = F.table(tables, "random_init", ["accuracy", "selectivity"])
    if not base.empty:
        base = base.rename(
            columns={"accuracy": "random_init_accuracy", "selectivity": "random_init_selectivity"}
        )
        # One random encoder per model and seed: the same figures beside both stages.
        wide = wide.merge(
            base[
                [
                    "seed",
                    "model",
                    "task",
                    "layer",
                    "random_init_accuracy",
                    "random_init_selectivity",
                ]
            ],
            on=["seed", "model", "task", "layer"],
            how="left",
        )
    for column in VALUES:
        if column not in wide.columns:
            wide[column] = np.nan
    order = {F.BEFORE: 0, F.AFTER: 1}
    wide = wide.sort_values(
        ["model", "task", "layer", "stage", "seed"],
        key=lambda s: s.map(order) if s.name == "stage" else s,
    )
    return wide[[*_KEYS, *VALUES]].reset_index(drop=True)


def _summary(wide: pd.DataFrame) -> pd.DataFrame:
    """Each (model, task) on its last layer: the measures before and after, over seeds."""
    top = F.last_layer(wide)
    stats = F.seed_stats(top, ["model", "task", "layer", "stage"], list(_SUMMARY))
    keys = ["model", "task", "layer"]
    means = stats.set_index([*keys, "stage"])[[f"{v}_mean" for v in _SUMMARY]].unstack("stage")
    means = means.reindex(
        columns=pd.MultiIndex.from_product([[f"{v}_mean" for v in _SUMMARY], [F.BEFORE, F.AFTER]])
    )
    means.columns = [f"{col.removesuffix('_mean')}_{stage}" for col, stage in means.columns]
    out = means.reset_index()
    base = F.seed_stats(
        top[top["stage"] == F.BEFORE], keys, ["random_init_accuracy", "random_init_selectivity"]
    )
    out = out.merge(
        base[[*keys, "random_init_accuracy_mean", "random_init_selectivity_mean", "n_seeds"]],
        on=keys,
        how="left",
    ).rename(
        columns={
            "random_init_accuracy_mean": "random_init_accuracy",
            "random_init_selectivity_mean": "random_init_selectivity",
        }
    )
    return out


def controls(tables: Mapping[str, pd.DataFrame], context: StudyContext) -> AnalysisResult:
    """Analysis 10: task, control task, shuffled labels, random-init and MDL per representation."""
    wide = _wide(tables)
    measured = [c for c in VALUES if c != "task_accuracy"]
    if wide.empty or wide[measured].isna().all().all():
        return empty_result(
            NUMBER,
            NAME,
            TITLE,
            "the study ran no controls or MDL probes ([probes] controls, mdl)",
            [*_KEYS, *VALUES],
        )
    summary = _summary(wide)
    headline = _headline(summary)
    caption = (
        "Classifier-probe accuracy on the test split for every layer of each task's own "
        "fine-tuning run, before (step 0) and after (last step) fine-tuning: on the task "
        "(task_accuracy), on its control task (control_task_accuracy: every word type gets a "
        "random label drawn with the study's seed from the task's training label distribution, "
        "the same type -> label map on both splits; Hewitt & Liang, EMNLP 2019) and on shuffled "
        "training labels (shuffled_accuracy, gold test labels). selectivity = task_accuracy - "
        "control_task_accuracy: high when the probe reads the labels off the representation "
        "rather than memorising types. random_init_*: the same probes on an encoder with the "
        "model's architecture and random weights (seeded), beside both stages. compression: "
        "the uniform code's length over the online code's (Voita & Titov, EMNLP 2020), "
        "code_length_bits and uniform_bits over the training labels of the study's fractions; "
        "control_compression: the same for the control task. task_clusters, control_clusters "
        "and control_labels_present: DirectProbe's clusters on the training split for the task "
        "and its control task (clusters = labels: linear). NaN where a measure was not run. "
        f"The summary is each model's last layer, {F.seeds_note(wide)}. "
        + context.data_note(wide["task"])
    )
    return AnalysisResult(
        NUMBER,
        NAME,
        TITLE,
        caption.strip(),
        headline,
        wide,
        _figure(wide),
        summary=summary,
    )


def _headline(summary: pd.DataFrame) -> str:
    parts = []
    for r in summary.itertuples(index=False):
        bits = []
        if np.isfinite(r.selectivity_before) or np.isfinite(r.selectivity_after):
            bits.append(
                f"selectivity {r.selectivity_before:.2f} before, {r.selectivity_after:.2f} after "
                f"(task {r.task_accuracy_before:.2f} → {r.task_accuracy_after:.2f}, control task "
                f"{r.control_task_accuracy_before:.2f} → {r.control_task_accuracy_after:.2f})"
            )
        if np.isfinite(r.random_init_accuracy):
            bits.append(f"random-init encoder {r.random_init_accuracy:.2f}")
        if np.isfinite(r.compression_before) or np.isfinite(r.compression_after):
            bits.append(f"MDL compression {r.compression_before:.2f} → {r.compression_after:.2f}")
        if np.isfinite(r.control_clusters_after):
            bits.append(
                f"DirectProbe clusters: task {r.task_clusters_after:.0f}, control task "
                f"{r.control_clusters_after:.0f} for {r.control_labels_present_after:.0f} labels "
                "after"
            )
        if bits:
            parts.append(f"{r.model}/{r.task} layer {r.layer}: " + "; ".join(bits))
    if not parts:
        return "No control or MDL results on the last layer yet."
    return "Last layer, before → after fine-tuning. " + ". ".join(parts) + "."


def _figure(wide: pd.DataFrame):
    pairs = F.pair_names(wide)
    fig, axes = P.rows(len(pairs), 2, panel=(P.PANEL_W + 0.8, P.PANEL_H))
    styles = {
        "task_accuracy": ("-", "task"),
        "control_task_accuracy": ("--", "control task"),
        "shuffled_accuracy": (":", "shuffled labels"),
    }
    colors = {F.BEFORE: P.BEFORE_COLOR, F.AFTER: P.AFTER_COLOR}
    for (model, task), (left, right) in zip(pairs, axes, strict=True):
        part = wide[(wide["model"] == model) & (wide["task"] == task)]
        for stage in (F.BEFORE, F.AFTER):
            rows = part[part["stage"] == stage].groupby("layer")[list(VALUES)].mean()
            if rows.empty:
                continue
            for column, (style, label) in styles.items():
                if rows[column].notna().any():
                    left.plot(
                        rows.index,
                        rows[column],
                        style,
                        color=colors[stage],
                        marker="o",
                        markersize=3,
                        label=f"{label}, {stage}",
                    )
            if rows["selectivity"].notna().any():
                right.plot(
                    rows.index,
                    rows["selectivity"],
                    "-",
                    color=colors[stage],
                    marker="o",
                    markersize=3,
                    label=f"selectivity, {stage}",
                )
        base = part[part["stage"] == F.BEFORE].groupby("layer")[list(VALUES)].mean()
        if not base.empty and base["random_init_accuracy"].notna().any():
            left.plot(
                base.index,
                base["random_init_accuracy"],
                "-",
                color="#777777",
                marker="s",
                markersize=3,
                label="task, random-init encoder",
            )
        if not base.empty and base["random_init_selectivity"].notna().any():
            right.plot(
                base.index,
                base["random_init_selectivity"],
                "-",
                color="#777777",
                marker="s",
                markersize=3,
                label="selectivity, random-init",
            )
        left.set_title(f"{model} / {task}: test accuracy")
        left.set_xlabel("layer")
        left.set_ylabel("accuracy (fraction correct)")
        left.set_ylim(0, 1.05)
        right.set_title(f"{model} / {task}: selectivity")
        right.set_xlabel("layer")
        right.set_ylabel("task − control-task accuracy")
        right.axhline(0, color="black", linewidth=0.6)
        for ax in (left, right):
            ax.grid(alpha=0.3)
            P.legend_outside(ax)
    return fig
