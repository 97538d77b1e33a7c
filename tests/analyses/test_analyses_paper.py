"""The paper beside every analysis: its numbers, our values, and verdicts with known answers.

The synthetic study's tasks are renamed to the paper's (a -> pos, b -> ps-fxn,
c -> ps-role), so its built-in truths meet the paper's table: accuracy rises
except for tiny on ps-fxn (the paper's BERT-tiny rose there: a disagreement),
fine-tuning on pos pulls ps-fxn together and on ps-role pushes it apart (both
as in the paper's Table B), and model "base" is linear throughout (as the
paper's BERT-base is).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ftprobe.analyses import ANALYSES, StudyContext, compare, paper_data
from ftprobe.analyses.paper import AGREES, DISAGREES, NOT_COMPARABLE
from ftprobe.report import write_findings, write_report
from ftprobe.study.analyze import analyze_study, study_context
from tests.synthetic_study import make_tables, write_study

RENAME = {"a": "pos", "b": "ps-fxn", "c": "ps-role"}
OWN_BASE = StudyContext(models={"base": "bert-base-uncased", "tiny": "some/local-model"})


def _paper_tasks() -> dict[str, pd.DataFrame]:
    tables, _ = make_tables()
    for frame in tables.values():
        for col in ("task", "finetune_task"):
            if col in frame.columns:
                frame[col] = frame[col].replace(RENAME)
    return tables


def _comparison(number: int, tables: dict[str, pd.DataFrame], context: StudyContext):
    analysis = next(a for a in ANALYSES if a.number == number)
    result = analysis.function(tables, context)
    comparison = compare(result, tables, context)
    assert comparison is not None
    return comparison


def _by_scope(comparison) -> dict[str, object]:
    return {f.scope: f for f in comparison.findings}


def test_the_paper_ships_with_its_citation_and_every_task() -> None:
    data = paper_data()
    assert "ACL 2022" in data["citation"] and "NAACL 2021" in data["citation"]
    assert set(data["label_counts"]) == {"pos", "dep", "ps-fxn", "ps-role", "trec-50"}
    assert len(data["table_a"]) == 25
    small_fxn = next(r for r in data["table_a"] if r["model"] == "small" and r["task"] == "ps-fxn")
    assert small_fxn["accuracy_after"] < small_fxn["accuracy_before"]  # the paper's one drop


def test_accuracy_verdicts_follow_the_direction_and_name_the_paper_row() -> None:
    found = _by_scope(_comparison(1, _paper_tasks(), OWN_BASE))
    # The paper's own model: its Table A row is the one shown.
    base_pos = found["base / pos: accuracy"]
    assert base_pos.paper.startswith("BERT-base: 93.39 → 95.68")
    assert base_pos.verdict == AGREES and "the paper's own BERT-base" in base_pos.reason
    # tiny (8-d, 3 layers) sits beside BERT-tiny, which rose on ps-fxn; ours fell.
    tiny_fxn = found["tiny / ps-fxn: accuracy"]
    assert tiny_fxn.verdict == DISAGREES and tiny_fxn.paper.startswith("BERT-tiny: 74.14")
    assert "closest in parameter count" in tiny_fxn.reason
    others = [f for s, f in found.items() if s.endswith(": accuracy") and s != tiny_fxn.scope]
    assert len(others) == 5 and all(f.verdict == AGREES for f in others)


def test_a_fall_in_accuracy_turns_the_verdict() -> None:
    tables = _paper_tasks()
    reps = tables["representations"]
    last = (reps["model"] == "base") & (reps["task"] == "pos") & reps["is_last_step"].astype(bool)
    reps.loc[last & (reps["task"] == reps["finetune_task"]), "clf_accuracy"] = 0.01
    found = _by_scope(_comparison(1, tables, OWN_BASE))
    assert found["base / pos: accuracy"].verdict == DISAGREES


def test_undefined_similarity_is_not_comparable_with_its_reason() -> None:
    tables = _paper_tasks()
    reps = tables["representations"]
    reps.loc[(reps["model"] == "base") & (reps["task"] == "ps-role"), "train_test_similarity"] = (
        np.nan
    )
    found = _by_scope(_comparison(1, tables, OWN_BASE))
    sim = found["base / ps-role: train–test similarity"]
    assert sim.verdict == NOT_COMPARABLE and "undefined" in sim.reason
    # The paper's numbers are still shown beside it.
    assert sim.paper == "BERT-base: 0.82 → 0.52"
    assert found["base / pos: train–test similarity"].verdict == AGREES


def test_cross_task_pairs_meet_table_b() -> None:
    found = _by_scope(_comparison(6, _paper_tasks(), OWN_BASE))
    contradicting = found["base / pos→ps-fxn"]
    similar = found["base / ps-role→ps-fxn"]
    assert contradicting.paper.startswith("contradicting: 0 grew, 40 shrank")
    assert similar.paper.startswith("similar: 27 grew, 13 shrank")
    assert contradicting.verdict == AGREES and similar.verdict == AGREES


def test_linear_model_agrees_with_the_papers_linear_rows() -> None:
    found = _by_scope(_comparison(3, _paper_tasks(), OWN_BASE))
    for task in ("pos", "ps-fxn", "ps-role"):
        finding = found[f"base / {task}"]
        assert finding.verdict == AGREES, finding
        assert "linear before and after" in finding.reason
    # tiny is not linear before and has fewer clusters after: as BERT-tiny on POS
    # (3,936 -> 20), unlike BERT-tiny on PS-role, which is linear throughout.
    assert found["tiny / pos"].verdict == AGREES
    assert found["tiny / ps-role"].verdict == DISAGREES


def test_a_space_linear_from_the_start_cannot_show_the_papers_fall() -> None:
    tables = _paper_tasks()
    reps = tables["representations"]
    tiny = (reps["model"] == "tiny") & (reps["task"] == "pos")
    reps.loc[tiny, "n_clusters"] = reps.loc[tiny, "n_labels_present"]
    found = _by_scope(_comparison(3, tables, OWN_BASE))["tiny / pos"]
    assert found.verdict == NOT_COMPARABLE and "linear already before" in found.reason


def test_a_task_the_paper_never_ran_is_not_comparable() -> None:
    tables = _paper_tasks()
    for frame in tables.values():
        for col in ("task", "finetune_task"):
            if col in frame.columns:
                frame[col] = frame[col].replace({"ps-role": "ner"})
    for number in (1, 2, 3, 4, 5, 7, 8, 9):
        comparison = _comparison(number, tables, OWN_BASE)
        ner = [f for f in comparison.findings if "ner" in f.scope and "→" not in f.scope]
        assert ner and all(f.verdict == NOT_COMPARABLE for f in ner), number
        assert all("no task 'ner'" in f.reason for f in ner)
    cross = _by_scope(_comparison(6, tables, OWN_BASE))["base / ner→ps-fxn"]
    assert cross.verdict == NOT_COMPARABLE and cross.paper == "–"


def test_every_analysis_has_the_paper_beside_it_in_files_and_report(tmp_path: Path) -> None:
    write_study(tmp_path, _paper_tasks())
    results = analyze_study(tmp_path)
    # The paper has no finding on controls (analysis 10): no comparison there.
    assert [r.comparison is not None for r in results] == [True] * 9 + [False]
    for result in results[:9]:
        meta = json.loads((tmp_path / "analyses" / f"{result.stem}.json").read_text("utf-8"))
        assert meta["paper"]["claim"] and meta["paper"]["findings"], result.stem
        assert sum(meta["paper"]["counts"].values()) == len(meta["paper"]["findings"])
        table = pd.read_csv(tmp_path / "analyses" / f"{result.stem}_paper.csv")
        assert set(table["verdict"]) <= {AGREES, DISAGREES, NOT_COMPARABLE}
    page = write_report(tmp_path, results, study_context(tmp_path)).read_text("utf-8")
    assert page.count("<h3>Beside the paper</h3>") == 9
    assert "Findings beside the paper" in page and "<i>Paper:</i>" in page
    text = write_findings(tmp_path, results).read_text("utf-8")
    assert text.count("\n## ") == 10 and "ACL 2022" in text
    rows = [line for line in text.splitlines() if line.startswith("| tiny / ps-fxn: accuracy")]
    assert len(rows) == 1 and rows[0].split(" | ")[3] == DISAGREES


@pytest.mark.parametrize("width,layers,expected", [(384, 6, "small"), (128, 2, "tiny")])
def test_closest_paper_model_by_parameter_count(width: int, layers: int, expected: str) -> None:
    from ftprobe.analyses.paper import _match, _Shape

    match = _match("m", _Shape(layers, width), StudyContext())
    assert match is not None and match.paper_model == expected and not match.exact
