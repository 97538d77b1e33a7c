"""Analysis 10: task, control task, shuffled labels, random-init and MDL side by side."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ftprobe.analyses.controls import controls
from ftprobe.analyses.result import StudyContext
from ftprobe.report.html import render_report


def _tables() -> dict[str, pd.DataFrame]:
    """One model, task "t", layers 0-2 before (step 0) and after (step 10) fine-tuning, and a
    cross-task row that must be left out. Task accuracy 0.5 + 0.1 x layer, +0.2 after; control
    task 0.3 and shuffled 0.1 everywhere; random-init 0.35 with its control task at 0.3."""
    reps, ctl, mdl, base = [], [], [], []
    for ft, step, layer in [(ft, s, la) for ft in ("t", "u") for s in (0, 10) for la in (0, 1, 2)]:
        keys = dict(seed=1, model="m", finetune_task=ft, step=step, is_last_step=step == 10)
        keys.update(task="t", layer=layer)
        acc = 0.5 + 0.1 * layer + (0.2 if step else 0.0) - (0.4 if ft == "u" else 0.0)
        reps += [
            {**keys, "split": s, "clf_accuracy": acc if s == "train" else None}
            for s in ("train", "test")
        ]
        for control, value in (("control-task", 0.3), ("shuffled", 0.1)):
            ctl.append(
                {
                    **keys,
                    "control": control,
                    "task_accuracy": acc,
                    "accuracy": value,
                    "selectivity": acc - value,
                    # DirectProbe on the control task: 5 clusters for 4 labels; the task has 3.
                    "task_n_clusters": 3.0 if control == "control-task" else None,
                    "n_clusters": 5.0 if control == "control-task" else None,
                    "n_labels_present": 4.0 if control == "control-task" else None,
                }
            )
        for labels, value in (("task", 3.0 if step else 2.0), ("control-task", 1.1)):
            mdl.append(
                {
                    **keys,
                    "labels": labels,
                    "compression": value,
                    "code_length_bits": 100.0 / value,
                    "uniform_bits": 100.0,
                }
            )
    for layer in (0, 1, 2):
        base.append(
            dict(
                seed=1,
                model="m",
                task="t",
                layer=layer,
                accuracy=0.35,
                control_accuracy=0.3,
                selectivity=0.05,
            )
        )
    return {
        "representations": pd.DataFrame(reps),
        "controls": pd.DataFrame(ctl),
        "mdl": pd.DataFrame(mdl),
        "random_init": pd.DataFrame(base),
    }


def test_controls_sets_every_measure_beside_the_task_per_layer_and_stage() -> None:
    result = controls(_tables(), StudyContext(splits={"t": ("dev", "test")}))
    table = result.table.set_index(["layer", "stage"])
    assert len(table) == 6  # own-task rows only: 3 layers x before/after
    assert table.loc[(2, "before"), "task_accuracy"] == pytest.approx(0.7)
    assert table.loc[(2, "after"), "selectivity"] == pytest.approx(0.6)
    assert table.loc[(0, "before"), "shuffled_accuracy"] == pytest.approx(0.1)
    assert table.loc[(1, "after"), "random_init_accuracy"] == pytest.approx(0.35)
    assert table.loc[(1, "after"), "compression"] == pytest.approx(3.0)
    assert table.loc[(1, "before"), "control_compression"] == pytest.approx(1.1)
    summary = result.summary.iloc[0]
    assert summary["layer"] == 2
    assert summary["selectivity_before"] == pytest.approx(0.4)
    assert summary["selectivity_after"] == pytest.approx(0.6)
    assert summary["random_init_selectivity"] == pytest.approx(0.05)
    assert "selectivity 0.40 before, 0.60 after" in result.headline
    assert "random-init encoder 0.35" in result.headline
    assert "MDL compression 2.00 → 3.00" in result.headline
    assert summary["control_clusters_after"] == 5 and summary["task_clusters_before"] == 3
    assert "DirectProbe clusters: task 3, control task 5 for 4 labels after" in result.headline
    assert "Hewitt & Liang" in result.caption and "Voita & Titov" in result.caption
    assert len(result.figure.get_axes()) == 2
    page = render_report([result], "r")
    assert 'id="analysis-10"' in page and "Beside the paper" not in page


def test_controls_without_mdl_or_baselines_leave_those_columns_nan() -> None:
    tables = _tables()
    del tables["mdl"], tables["random_init"]
    result = controls(tables, StudyContext())
    assert result.table["compression"].isna().all()
    assert math.isnan(result.summary.iloc[0]["random_init_accuracy"])
    assert "MDL" not in result.headline and "selectivity 0.40" in result.headline


def test_a_study_without_controls_says_so() -> None:
    tables = _tables()
    result = controls({"representations": tables["representations"]}, StudyContext())
    assert result.table.empty and "ran no controls" in result.headline
