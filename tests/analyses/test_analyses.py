"""The paper's nine analyses recover the structure built into a synthetic study."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ftprobe.analyses import (
    ANALYSES,
    StudyContext,
    centroid_paths,
    cross_task,
    label_distances,
    layer_movement,
    layer_similarity,
    linearity,
    memorization,
    movement_direction,
    performance,
)
from ftprobe.analyses.frames import spearman
from ftprobe.cli.main import app
from ftprobe.errors import ConfigError
from ftprobe.study.analyze import analyze_study, study_context
from tests.synthetic_study import STEPS, Truth, make_small_tables, make_tables, write_study

CTX = StudyContext(splits={"a": ("dev", "test"), "b": ("train", "test"), "c": ("dev", "test")})


@pytest.fixture(scope="module")
def study() -> tuple[dict[str, pd.DataFrame], Truth]:
    return make_tables()


@pytest.fixture(scope="module")
def small_tables() -> dict[str, pd.DataFrame]:
    return make_small_tables()


def _pair(frame: pd.DataFrame, model: str, task: str) -> pd.DataFrame:
    return frame[(frame["model"] == model) & (frame["task"] == task)]


def test_performance_finds_the_one_pair_where_accuracy_fell(study) -> None:
    tables, truth = study
    result = performance(tables, CTX)
    table = result.table
    assert len(table) == 6 and (table["n_seeds"] == 3).all()
    worse = table[table["acc_change_mean"] < 0]
    assert list(zip(worse["model"], worse["task"], strict=True)) == [truth.exception]
    assert (table["sim_change_mean"] < 0).all()
    assert "5 of 6 (model, task) pairs (5 in all 3 seeds)" in result.headline
    assert "/".join(truth.exception) in result.headline
    # Similarity is flagged where DirectProbe found more clusters than labels.
    assert set(table.loc[~table["sim_valid_after"], "model"]) == {"tiny"}
    assert "the dev split served as the training set" in result.caption


def test_memorization_sees_subtest_join_subtrain_after_fine_tuning(study) -> None:
    tables, _ = study
    result = memorization(tables, CTX)
    s = result.summary
    assert len(s) == 6
    assert (s["subtest_minus_test_before_mean"].abs() < 0.02).all()
    assert (s["subtest_minus_test_after_mean"] > 0.2).all()
    assert (s["subtrain_minus_subtest_after_mean"] < s["subtrain_minus_subtest_before_mean"]).all()
    assert set(result.table["eval_split"]) == {"subtrain", "subtest", "test"}
    assert "6 of 6" in result.headline


def test_linearity_sees_fewer_clusters_only_for_the_non_linear_model(study) -> None:
    tables, _ = study
    result = linearity(tables, CTX)
    train = result.table[result.table["split"] == "train"]
    tiny, base = train[train["model"] == "tiny"], train[train["model"] == "base"]
    assert (tiny["clusters_after_mean"] < tiny["clusters_before_mean"]).all()
    assert (tiny["linear_share_before"] == 0).all()
    assert (base["linear_share_before"] == 1).all() and (base["linear_share_after"] == 1).all()
    assert "3 of 6 (model, task) pairs" in result.headline
    assert "3 of 6 before and 3 of 6 after" in result.headline


def test_label_distances_ranks_labels_by_their_built_in_growth(study) -> None:
    tables, truth = study
    result = label_distances(tables, CTX)
    table, summary = result.table, result.summary
    for (model, task), top in truth.top3.items():
        part = _pair(table, model, task)
        assert set(part.loc[part["group"] == "top-3 growth", "label"]) == top
        bottom = set(part.loc[part["group"] == "bottom-3 growth", "label"])
        assert bottom <= truth.bottom3[model, task]
        assert len(bottom) == min(3, part["label"].nunique() - 3)
        assert sorted(part["step"].unique()) == list(STEPS)
        row = _pair(summary, model, task).iloc[0]
        growth = np.array(list(truth.growth[model, task].values()))
        assert row["n_grew"] >= (growth > 0.05).sum()
        assert row["n_shrank"] >= (growth < -0.05).sum()
    # The generator's mid-training detour makes some paths non-monotone.
    assert summary["non_monotone_share"].min() > 0 and summary["non_monotone_share"].max() < 1


def test_centroid_paths_follow_the_three_closest_labels(study) -> None:
    tables, truth = study
    result = centroid_paths(tables, CTX)
    table, summary = result.table, result.summary
    for row in summary.itertuples(index=False):
        assert set(row.labels.split(", ")) == truth.closest3[row.model, row.task]
        expected_steps = 4 if row.layer_role == "last" else 2
        assert row.n_checkpoints == expected_steps
    # The summary's distances are those between the raw centroids at step 0.
    labels = tables["labels"]
    start = labels[
        (labels["model"] == "base")
        & (labels["task"] == "a")
        & (labels["finetune_task"] == "a")
        & (labels["step"] == 0)
        & (labels["layer"] == 3)
        & (labels["split"] == "train")
        & (labels["seed"] == 1)
        & labels["label"].isin(truth.closest3["base", "a"])
    ]
    points = np.vstack(start["centroid"].to_list())
    expected = np.mean([np.linalg.norm(p - q) for p, q in itertools.combinations(points, 2)])
    got = summary[(summary["model"] == "base") & (summary["task"] == "a") & (summary["layer"] == 3)]
    assert got["pairwise_before"].iloc[0] == pytest.approx(expected)
    assert {"pc1", "pc2"} <= set(table.columns) and table[["pc1", "pc2"]].notna().all().all()


def test_cross_task_separates_pulling_and_pushing_source_tasks(study) -> None:
    tables, _ = study
    result = cross_task(tables, CTX)
    table = result.table
    for model in ("tiny", "base"):
        rows = table[table["model"] == model].set_index("finetune_task")
        assert rows.loc["b", "relation"] == "self"
        assert rows.loc["a", "n_shrank"] == rows.loc["a", "n_labels"]
        assert rows.loc["a", "mean_change"] < 0
        assert rows.loc["c", "n_grew"] == rows.loc["c", "n_labels"]
        assert rows.loc["c", "mean_change"] > 0
        assert rows.loc["a", "clf_accuracy_after"] < rows.loc["c", "clf_accuracy_after"]
    assert "a→b" in result.headline and "c→b" in result.headline


def test_cross_task_without_cross_pairs_says_why() -> None:
    tables, _ = make_tables(seeds=(1,), models={"base": 2}, cross=())
    result = cross_task(tables, CTX)
    assert result.table.empty and "clf_accuracy_after" in result.table.columns
    assert "no [[cross]] pairs" in result.caption
    assert result.figure.get_axes()


def test_layer_movement_grows_with_the_layer(study) -> None:
    tables, _ = study
    result = layer_movement(tables, CTX)
    for _, part in result.summary.groupby(["model", "task"]):
        assert part.sort_values("layer")["movement_mean"].is_monotonic_increasing
    assert "in 6 of 6 (model, task) pairs (6 in all 3 seeds)" in result.headline
    assert (result.table["movement"] >= 0).all()


def test_layer_similarity_falls_more_in_higher_layers_and_uses_cka_when_present(study) -> None:
    tables, _ = study
    result = layer_similarity(tables, CTX)
    table = result.table
    assert np.allclose(table.loc[table["step"] == 0, "pearson"], 1.0)
    final = result.summary
    for _, part in final.groupby(["model", "task"]):
        assert spearman(part["layer"], part["pearson_mean"]) < 0
    assert (final["pearson_mean"] > 0).all() and (final["pearson_mean"] <= 1).all()
    assert "CKA" not in result.headline and "no cka table" in result.caption

    reps = tables["representations"]
    cka = reps[reps["split"] == "train"][
        ["seed", "model", "finetune_task", "step", "is_last_step", "task", "layer", "split"]
    ].copy()
    cka["cka"] = 1 - 0.05 * cka["layer"] * cka["step"] / STEPS[-1]
    with_cka = layer_similarity({**tables, "cka": cka}, CTX)
    got = with_cka.summary.set_index(["model", "task", "layer"])["cka_mean"]
    assert got.xs(3, level="layer").to_numpy() == pytest.approx(0.85)
    assert "CKA" in with_cka.headline


def test_movement_direction_finds_fewer_directions_in_lower_layers(study) -> None:
    tables, _ = study
    result = movement_direction(tables, CTX)
    table = result.table
    # The generator moves layer l's labels within an (l + 1)-dimensional subspace.
    assert (table["n_components_90"] <= table["layer"] + 1).all()
    low = table[table["layer"] == 0]
    assert np.allclose(low["evr_1"], 1.0) and (low["range_pc2"] < 1e-9).all()
    for _, part in result.summary.groupby(["model", "task"]):
        assert spearman(part["layer"], part["range_pc1_mean"]) > 0
        assert spearman(part["layer"], part["top2_share_mean"]) < 0
    assert "6 of 6" in result.headline


def test_every_analysis_copes_with_missing_tables_and_unfinished_runs(study) -> None:
    tables, _ = study
    before_only = {
        name: frame[frame["step"] == 0] if "step" in frame else frame
        for name, frame in tables.items()
    }
    for inputs in ({}, {n: pd.DataFrame() for n in tables}, before_only):
        for analysis in ANALYSES:
            result = analysis.function(inputs, CTX)
            assert result.headline and result.caption and result.figure.get_axes()


def test_a_single_seed_study_reports_no_seed_spread() -> None:
    tables, _ = make_tables(seeds=(7,), models={"base": 2}, tasks={"a": 6, "b": 5})
    results = [a.function(tables, CTX) for a in ANALYSES]
    perf = results[0]
    assert "seeds)" not in perf.headline and "from 1 seed (7)" in perf.caption
    assert perf.table["acc_before_sd"].isna().all()


def test_analyze_study_writes_every_file_atomically(tmp_path: Path, small_tables) -> None:
    study_dir = tmp_path
    write_study(study_dir, small_tables)
    results = analyze_study(study_dir)
    assert [r.number for r in results] == list(range(1, 11))
    folder = study_dir / "analyses"
    # The synthetic study ran no controls: analysis 10 says so and writes an empty table.
    assert results[9].table.empty and "ran no controls" in results[9].headline
    for r in results[:9]:
        assert (folder / f"{r.stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (folder / f"{r.stem}.svg").read_bytes()[:500]
        assert (folder / f"{r.stem}.png").stat().st_size > 5000
        table = pd.read_csv(folder / f"{r.stem}.csv")
        assert len(table) == len(r.table) > 0
        meta = json.loads((folder / f"{r.stem}.json").read_text(encoding="utf-8"))
        assert meta["headline"] == r.headline
    assert not list(folder.glob(".*tmp"))
    # The study file beside the tables tells the captions which split trained the probes.
    assert "b: trained on train, tested on test." in results[0].caption
    assert "a: the dev split served as the training set" in results[5].caption


def test_cli_analyze_runs_the_chosen_analyses(tmp_path: Path, small_tables) -> None:
    write_study(tmp_path, small_tables, with_study_file=False)
    out = CliRunner().invoke(
        app, ["analyze", str(tmp_path), "--only", "1,linearity", "--note", "Synthetic data."]
    )
    assert out.exit_code == 0, out.output
    assert "1. Performance" in out.output and "3. Linearity" in out.output
    written = sorted(p.name for p in (tmp_path / "analyses").glob("*.png"))
    assert written == ["1_performance.png", "3_linearity.png"]
    meta = json.loads((tmp_path / "analyses" / "1_performance.json").read_text(encoding="utf-8"))
    assert "Synthetic data." in meta["caption"] and "splits not recorded" in meta["caption"]


def test_bad_selection_or_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no tables/"):
        analyze_study(tmp_path)
    (tmp_path / "tables").mkdir()
    with pytest.raises(ConfigError, match="no analysis '12'"):
        analyze_study(tmp_path, ["12"])
    assert study_context(tmp_path).splits == {}


def test_labels_absent_from_a_split_are_left_out(study) -> None:
    tables, _ = study
    labels = tables["labels"].copy()
    absent = labels["label"] == "A00"
    labels.loc[absent, "n_points"] = 0
    labels.loc[absent, "outside_min"] = 0.0
    labels["centroid"] = [
        [] if gone else c for gone, c in zip(absent, labels["centroid"], strict=True)
    ]
    changed = {**tables, "labels": labels}
    for analysis in (label_distances, centroid_paths, layer_movement):
        table = analysis(changed, CTX).table
        assert "A00" not in set(table["label"]) and "A01" in set(table["label"])
    direction = movement_direction(changed, CTX).table
    assert (direction.loc[direction["task"] == "a", "n_labels"] == 5).all()


def _undefine(
    tables: dict[str, pd.DataFrame], model: str, task: str, label: str
) -> dict[str, pd.DataFrame]:
    """A copy of ``tables`` where ``label`` of ``task`` has no counted cluster at the end."""
    labels = tables["labels"].copy()
    end = (
        (labels["model"] == model)
        & (labels["task"] == task)
        & (labels["label"] == label)
        & labels["is_last_step"].astype(bool)
        & (labels["step"] > 0)
    )
    labels.loc[end, "outside_min"] = np.nan
    return {**tables, "labels": labels}


def test_a_label_undefined_at_the_end_is_left_out_not_counted_as_grown(study) -> None:
    tables, truth = study
    before = label_distances(tables, CTX).summary.set_index(["model", "task"])
    # The label that grew most: it cannot count as "grew" once its end value is undefined.
    top = max(truth.growth["base", "a"].items(), key=lambda kv: kv[1])[0]
    result = label_distances(_undefine(tables, "base", "a", top), CTX)
    after = result.summary.set_index(["model", "task"])
    assert after.loc[("base", "a"), "n_left_out"] == 1
    assert after.loc[("base", "a"), "n_labels"] == before.loc[("base", "a"), "n_labels"] - 1
    assert after.loc[("base", "a"), "n_grew"] == before.loc[("base", "a"), "n_grew"] - 1
    assert top not in set(
        result.table.loc[
            (result.table["model"] == "base")
            & (result.table["task"] == "a")
            & (result.table["group"] != ""),
            "label",
        ]
    )
    assert "1 more label left out" in result.headline
    assert (after.drop(index=("base", "a"))["n_left_out"] == 0).all()


def test_cross_task_counts_labels_left_out(study) -> None:
    tables, _ = study
    label = sorted(tables["labels"].loc[tables["labels"]["task"] == "b", "label"].unique())[0]
    table = cross_task(_undefine(tables, "base", "b", label), CTX).table
    full = cross_task(tables, CTX).table
    base = table["model"] == "base"
    assert (table.loc[base, "n_left_out"] == 1).all() and (full["n_left_out"] == 0).all()
    assert (table.loc[~base, "n_left_out"] == 0).all()
    assert (table.loc[base, "n_labels"] == full.loc[base, "n_labels"] - 1).all()
