"""Each analysis beside the paper: the published finding, ours, and a verdict.

The paper's numbers ship as data (``paper_findings.json``, with their citation):
Zhou & Srikumar, "A Closer Look at How Fine-tuning Changes BERT" (ACL 2022)
and DirectProbe (NAACL 2021). :func:`compare` turns one
:class:`~ftprobe.analyses.result.AnalysisResult` into a :class:`PaperComparison`:
the paper's claim (``paper_findings.json`` holds it beside the numbers) and one
:class:`Finding` per (model, task) (per cross-task pair in analysis 6, per
number compared in analysis 1), each with a verdict.

Verdicts compare *directions* (does accuracy rise, does the similarity fall,
are labels pushed apart, do higher layers move more), never raw magnitudes: a
study here differs from the paper in model, data size and labels, so equal
numbers are not expected. A verdict is "not comparable" when our value is
undefined, when the paper has no number for that setting, or when the paper's
own rule would not have computed it (the spatial similarity of a space that is
not linear); the reason says which. Each finding names the paper's setting it
is set beside: the paper's own model when the study ran it (by hub id),
otherwise the paper's model closest in parameter count.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from typing import Any

import pandas as pd

from ftprobe.analyses import frames as F
from ftprobe.analyses.result import AnalysisResult, StudyContext

AGREES, DISAGREES, NOT_COMPARABLE = "agrees", "disagrees", "not comparable"
VERDICTS = (AGREES, DISAGREES, NOT_COMPARABLE)
# The paper's pair task concatenates head and dependent vectors, so its width is doubled.
_PAIR_TASKS = frozenset({"dep"})


@cache
def paper_data() -> dict[str, Any]:
    """The paper's published numbers and their citation (``paper_findings.json``)."""
    text = resources.files("ftprobe.analyses").joinpath("paper_findings.json").read_text("utf-8")
    return json.loads(text)


@dataclass(frozen=True)
class Finding:
    """One finding of the paper set beside ours.

    ``scope`` says what it covers ("minilm / pos" or "study"); ``paper`` and
    ``ours`` are short texts with the numbers; ``verdict`` is one of
    :data:`VERDICTS`; ``reason`` says what the verdict rests on and what differs
    between the two settings.
    """

    scope: str
    paper: str
    ours: str
    verdict: str
    reason: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


@dataclass(frozen=True)
class PaperComparison:
    """The paper's finding for one analysis and how this study's results stand beside it."""

    number: int
    claim: str
    findings: tuple[Finding, ...]
    citation: str

    def counts(self) -> dict[str, int]:
        """How many findings have each verdict."""
        return {v: sum(f.verdict == v for f in self.findings) for v in VERDICTS}

    def summary(self) -> str:
        """One sentence: the paper's claim and how many of ours agree, disagree or cannot say."""
        counts = self.counts()
        if not self.findings:
            return f"Paper: {self.claim} Ours: nothing to compare yet."
        told = ", ".join(f"{v} in {counts[v]}" for v in VERDICTS if counts[v])
        return f"Paper: {self.claim} Ours: {told} of {len(self.findings)}."

    def frame(self) -> pd.DataFrame:
        """The findings as a table (one row each)."""
        columns = [f for f in Finding.__dataclass_fields__]
        return pd.DataFrame([asdict(f) for f in self.findings], columns=columns)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (the analysis' ``.json`` file holds it)."""
        return {
            "claim": self.claim,
            "summary": self.summary(),
            "citation": self.citation,
            "counts": self.counts(),
            "findings": [asdict(f) for f in self.findings],
        }


# --- the settings being compared ----------------------------------------------------------


@dataclass(frozen=True)
class _Shape:
    layers: int
    width: int


def _parameters(layers: int, width: int) -> float:
    # Embeddings plus 12 d^2 per layer (attention 4 d^2, feed-forward 8 d^2): enough to
    # rank BERT sizes, which all share one vocabulary.
    return paper_data()["vocabulary"] * width + 12 * layers * width * width


def _study_shapes(tables: Mapping[str, pd.DataFrame]) -> dict[str, _Shape]:
    """Each study model's number of layers and hidden width, read off the tables."""
    reps = tables.get("representations")
    labels = tables.get("labels")
    if reps is None or reps.empty or labels is None or labels.empty:
        return {}
    shapes = {}
    for model, rows in labels.groupby("model"):
        widths = []
        for task, part in rows.groupby("task"):
            # Every centroid of a task has the representation's width: the first one says it.
            width = next((len(c) for c in part["centroid"] if c is not None and len(c)), None)
            if width is not None:
                widths.append(width // (2 if task in _PAIR_TASKS else 1))
        layers = reps.loc[reps["model"] == model, "layer"]
        if widths and len(layers):
            shapes[str(model)] = _Shape(int(layers.max()), min(widths))
    return shapes


@dataclass(frozen=True)
class _Match:
    """Which of the paper's models a study model is set beside, and in what words."""

    paper_model: str
    exact: bool
    setting: str


def _match(model: str, shape: _Shape | None, context: StudyContext) -> _Match | None:
    models = paper_data()["models"]
    path = context.models.get(model, "")
    for m in models:
        if path in m["hub_ids"]:
            return _Match(m["name"], True, f"{model} is the paper's own BERT-{m['name']}")
    if shape is None:
        return None
    ours = _parameters(shape.layers, shape.width)
    best = min(models, key=lambda m: abs(math.log(_parameters(m["layers"], m["width"]) / ours)))
    return _Match(
        best["name"],
        False,
        f"{model} ({shape.layers} layers, {shape.width}-d) beside the paper's BERT-{best['name']} "
        f"({best['layers']} layers, {best['width']}-d), the closest in parameter count",
    )


class _Setting:
    """What one comparison needs to know about the study: models, sizes, training data."""

    def __init__(self, tables: Mapping[str, pd.DataFrame], context: StudyContext) -> None:
        self.context = context
        self.shapes = _study_shapes(tables)
        reps = tables.get("representations")
        self.n_train: dict[tuple[str, str], int] = {}
        if reps is not None and not reps.empty and "n_examples" in reps.columns:
            rows = F.split(reps, "train").dropna(subset=["n_examples"])
            for (model, task), part in rows.groupby(["model", "task"]):
                self.n_train[(str(model), str(task))] = int(part["n_examples"].max())

    def match(self, model: str) -> _Match | None:
        return _match(model, self.shapes.get(model), self.context)

    def note(self, model: str, task: str | None = None) -> str:
        """How this (model, task) differs from the paper's setting, in one clause."""
        match = self.match(model)
        parts = [match.setting if match else f"{model}: its size is not in the tables"]
        if task is not None:
            paper_train = paper_data()["training_data"].get(task)
            n = self.n_train.get((model, task))
            if paper_train and n is not None:
                parts.append(f"{n:,} training examples vs the paper's {paper_train}")
        return "; ".join(parts)

    def row(self, model: str, task: str) -> dict[str, Any] | None:
        """The paper's Table A row set beside (model, task), or None."""
        match = self.match(model)
        if match is None:
            return None
        for r in paper_data()["table_a"]:
            if r["model"] == match.paper_model and r["task"] == task:
                return r
        return None


def _finite(*values: object) -> bool:
    return all(v is not None and isinstance(v, int | float) and math.isfinite(v) for v in values)


def _scope(model: object, task: object | None = None) -> str:
    return f"{model} / {task}" if task is not None else str(model)


def _unknown_task(task: str) -> bool:
    return task not in paper_data()["label_counts"]


def _no_task(model: str, task: str, setting: _Setting, ours: str) -> Finding:
    return Finding(
        _scope(model, task),
        "–",
        ours,
        NOT_COMPARABLE,
        f"the paper has no task {task!r} (its tasks: "
        f"{', '.join(paper_data()['label_counts'])}); {setting.note(model)}",
    )


def _judged(
    model: str, task: str, setting: _Setting, paper: str, ours: str, verdict: str, why: str
) -> Finding:
    """One (model, task) finding whose reason is ``why`` and how the two settings differ; a
    task the paper never ran is not comparable, whatever the verdict would have been."""
    if _unknown_task(task):
        return _no_task(model, task, setting, ours)
    return Finding(_scope(model, task), paper, ours, verdict, why + setting.note(model, task))


def _direction_verdict(ours_agrees: bool | None) -> str:
    if ours_agrees is None:
        return NOT_COMPARABLE
    return AGREES if ours_agrees else DISAGREES


# --- one comparison per analysis ---------------------------------------------------------


def _performance(result: AnalysisResult, setting: _Setting) -> list[Finding]:
    findings = []
    for r in result.table.itertuples(index=False):
        model, task = str(r.model), str(r.task)
        acc_text = f"accuracy {100 * r.acc_before_mean:.2f} → {100 * r.acc_after_mean:.2f}"
        sim_text = (
            f"similarity {r.sim_before_mean:.2f} → {r.sim_after_mean:.2f} over "
            f"{r.sim_pairs_before_mean:.0f} / {r.sim_pairs_after_mean:.0f} label pairs"
        )
        if _unknown_task(task):
            findings.append(_no_task(model, task, setting, f"{acc_text}; {sim_text}"))
            continue
        note = setting.note(model, task)
        paper = setting.row(model, task)
        if paper is None:
            findings.append(Finding(_scope(model, task), "–", acc_text, NOT_COMPARABLE, note))
            continue
        who = f"BERT-{paper['model']}"
        paper_rose = paper["accuracy_after"] > paper["accuracy_before"]
        ours_change = r.acc_change_mean
        findings.append(
            Finding(
                _scope(model, task) + ": accuracy",
                f"{who}: {paper['accuracy_before']:.2f} → {paper['accuracy_after']:.2f} "
                f"({'rose' if paper_rose else 'fell'})",
                acc_text,
                _direction_verdict(
                    (ours_change > 0) == paper_rose if _finite(ours_change) else None
                ),
                ("direction compared; " if _finite(ours_change) else "no accuracy in ours; ")
                + note,
            )
        )
        findings.append(_similarity_finding(r, paper, who, sim_text, note, setting))
    return findings


def _similarity_finding(
    r: Any, paper: dict[str, Any], who: str, sim_text: str, note: str, setting: _Setting
) -> Finding:
    scope = _scope(r.model, r.task) + ": train–test similarity"
    before, after = paper["similarity_before"], paper["similarity_after"]
    paper_text = (
        f"{who}: {before:.2f} → {after:.2f}"
        if before is not None and after is not None
        else f"{who}: "
        + ("–" if before is None else f"{before:.2f}")
        + " → "
        + ("–" if after is None else f"{after:.2f}")
        + " (none where not linear)"
    )
    fell = [
        row
        for row in paper_data()["table_a"]
        if row["task"] == r.task and None not in (row["similarity_before"], row["similarity_after"])
    ]
    if before is None or after is None:
        if not fell:
            return Finding(
                scope,
                paper_text,
                sim_text,
                NOT_COMPARABLE,
                f"the paper computed no similarity for {r.task} before and after (not linear in "
                f"any model); {note}",
            )
        # The closest model's row is not linear; the task's linear rows still give a direction.
        paper_text += (
            f"; falls in {sum(x['similarity_after'] < x['similarity_before'] for x in fell)} of "
            f"{len(fell)} models where linear"
        )
    if not _finite(r.sim_before_mean, r.sim_after_mean):
        return Finding(
            scope,
            paper_text,
            sim_text,
            NOT_COMPARABLE,
            "ours is undefined (fewer than 3 label pairs defined in both splits, or a constant "
            f"distance vector; see representations.parquet's train_test_similarity_reason); {note}",
        )
    if not (bool(r.sim_valid_before) and bool(r.sim_valid_after)):
        return Finding(
            scope,
            paper_text,
            sim_text,
            NOT_COMPARABLE,
            "ours is not linear in both splits (clusters ≠ labels), where the paper computes no "
            f"similarity; {note}",
        )
    return Finding(
        scope,
        paper_text,
        sim_text,
        _direction_verdict(bool(r.sim_after_mean < r.sim_before_mean)),
        f"direction compared (the paper: falls); {note}",
    )


def _memorization(result: AnalysisResult, setting: _Setting) -> list[Finding]:
    findings = []
    summary = result.summary if result.summary is not None else pd.DataFrame()
    for r in summary.itertuples(index=False):
        before, after = r.subtest_minus_test_before_mean, r.subtest_minus_test_after_mean
        ok = _finite(before, after)
        findings.append(
            _judged(
                str(r.model),
                str(r.task),
                setting,
                "gap near 0 before, positive after (figure)",
                f"subtest − test {before:+.3f} → {after:+.3f}",
                _direction_verdict(bool(after > before and after > 0) if ok else None),
                "direction compared; " if ok else "no curve at both ends in ours; ",
            )
        )
    return findings


def _linearity(result: AnalysisResult, setting: _Setting) -> list[Finding]:
    findings = []
    table = result.table
    train = table[table["split"] == "train"] if "split" in table.columns else table
    for r in train.itertuples(index=False):
        model, task = str(r.model), str(r.task)
        ours = (
            f"{r.clusters_before_mean:.0f} → {r.clusters_after_mean:.0f} clusters for "
            f"{r.n_labels:.0f} labels"
        )
        if _unknown_task(task):
            findings.append(_no_task(model, task, setting, ours))
            continue
        note = setting.note(model, task)
        paper = setting.row(model, task)
        if paper is None or not _finite(r.clusters_before_mean, r.clusters_after_mean):
            findings.append(
                Finding(
                    _scope(model, task), "–", ours, NOT_COMPARABLE, f"no pair of counts; {note}"
                )
            )
            continue
        labels = paper_data()["label_counts"][task]
        p_before, p_after = paper["clusters_before"], paper["clusters_after"]
        paper_text = f"BERT-{paper['model']}: {p_before} → {p_after} clusters for {labels} labels"
        ours_linear = r.clusters_before_mean == r.n_labels and r.clusters_after_mean == r.n_labels
        if p_after < p_before and ours_linear:
            findings.append(
                Finding(
                    _scope(model, task),
                    paper_text,
                    ours,
                    NOT_COMPARABLE,
                    f"ours is linear already before fine-tuning, where the paper's BERT-"
                    f"{paper['model']} is not, so no fall in clusters could show; {note}",
                )
            )
            continue
        if p_after < p_before:
            expected = "fewer clusters after"
            agrees = r.clusters_after_mean < r.clusters_before_mean
        else:
            linear = p_before == labels
            expected = "linear before and after" if linear else "the same count before and after"
            agrees = ours_linear if linear else r.clusters_after_mean <= r.clusters_before_mean
        findings.append(
            Finding(
                _scope(model, task),
                paper_text,
                ours,
                _direction_verdict(bool(agrees)),
                f"the paper's pattern here: {expected}; {note}",
            )
        )
    return findings


def _paper_self_pushes(task: str) -> str:
    rows = [
        r
        for r in paper_data()["table_b"]["rows"]
        if r.get("finetune") == task and r["grew"] is not None
    ]
    naacl = [r for r in paper_data()["directprobe_naacl"]["rows"] if r["task"] == task]
    parts = []
    if rows and task == paper_data()["table_b"]["probed"]:
        r = rows[0]
        parts.append(
            f"BERT-base on {task}: {r['grew']} labels grew, {r['shrank']} shrank, mean "
            f"{r['mean_change']:+.2f}"
        )
    if naacl:
        r = naacl[0]
        parts.append(
            f"smallest label distance {r['min_distance_before']:.3f} → "
            f"{r['min_distance_after']:.3f} (BERT-base-cased, NAACL 2021)"
        )
    return "; ".join(parts) or "labels pushed apart (figure)"


def _label_distances(result: AnalysisResult, setting: _Setting) -> list[Finding]:
    findings = []
    summary = result.summary if result.summary is not None else pd.DataFrame()
    for r in summary.itertuples(index=False):
        model, task = str(r.model), str(r.task)
        counted = int(r.n_grew) + int(r.n_shrank)
        ours = (
            f"{int(r.n_grew)} of {counted} labels grew, mean change {r.mean_change:+.3f}; "
            f"{100 * r.non_monotone_share:.0f}% of paths non-monotone"
        )
        if int(r.n_left_out):
            ours += f"; {int(r.n_left_out)} label(s) left out (undefined at an end)"
        findings.append(
            _judged(
                model,
                task,
                setting,
                _paper_self_pushes(task),
                ours,
                _direction_verdict(r.n_grew > r.n_shrank if counted else None),
                "direction compared (most labels grew?); "
                if counted
                else "no label defined at both ends; ",
            )
        )
    return findings


def _centroid_paths(result: AnalysisResult, setting: _Setting) -> list[Finding]:
    findings = []
    summary = result.summary if result.summary is not None else pd.DataFrame()
    if "layer_role" in summary.columns:
        summary = summary[summary["layer_role"] == "last"]
    for r in summary.itertuples(index=False):
        model, task = str(r.model), str(r.task)
        ok = _finite(r.pairwise_before, r.pairwise_after)
        findings.append(
            _judged(
                model,
                task,
                setting,
                "the three closest labels move apart (figure)",
                f"last layer: pairwise distance {r.pairwise_before:.3f} → {r.pairwise_after:.3f}",
                _direction_verdict(bool(r.pairwise_after > r.pairwise_before) if ok else None),
                "direction compared; " if ok else "no centroids at both ends; ",
            )
        )
    return findings


def _cross_task(result: AnalysisResult, setting: _Setting) -> list[Finding]:
    table_b = paper_data()["table_b"]
    rows = {r["finetune"]: r for r in table_b["rows"]}
    findings = []
    table = result.table
    if "relation" in table.columns:
        table = table[table["relation"] == "cross"]
    for r in table.itertuples(index=False):
        model, task, source = str(r.model), str(r.task), str(r.finetune_task)
        scope = f"{model} / {source}→{task}"
        ours = (
            f"{r.n_grew:.0f} grew, {r.n_shrank:.0f} shrank, mean {r.mean_change:+.3f}, accuracy "
            f"{100 * r.clf_accuracy_before:.2f} → {100 * r.clf_accuracy_after:.2f}"
        )
        paper = rows.get(source) if task == table_b["probed"] else None
        note = setting.note(model, task) + f"; the paper's row is {table_b['model']}'s"
        if paper is None or "relation" not in paper:
            findings.append(
                Finding(
                    scope,
                    "–",
                    ours,
                    NOT_COMPARABLE,
                    f"the paper fine-tuned on ps-role and pos and probed {table_b['probed']} only; "
                    + note,
                )
            )
            continue
        paper_text = (
            f"{paper['relation']}: {paper['grew']} grew, {paper['shrank']} shrank, mean "
            f"{paper['mean_change']:+.2f}, accuracy {rows[None]['accuracy']:.2f} → "
            f"{paper['accuracy']:.2f}"
        )
        counted = r.n_grew + r.n_shrank
        if not counted:
            verdict, why = NOT_COMPARABLE, "no label defined at both ends in ours; "
        elif paper["relation"] == "similar":
            verdict = _direction_verdict(bool(r.n_grew > r.n_shrank))
            why = "a similar task: do most labels grow?; "
        else:
            lower = (
                bool(r.clf_accuracy_after < r.clf_accuracy_before)
                if _finite(r.clf_accuracy_before, r.clf_accuracy_after)
                else True
            )
            verdict = _direction_verdict(bool(r.n_shrank > r.n_grew) and lower)
            why = "a contradicting task: do most labels shrink and the accuracy fall?; "
        findings.append(Finding(scope, paper_text, ours, verdict, why + note))
    return findings


def _per_layer(summary: pd.DataFrame, value: str) -> Iterable[tuple[str, str, pd.DataFrame]]:
    if summary is None or summary.empty or value not in summary.columns:
        return []
    return [
        (str(m), str(t), part.sort_values("layer"))
        for (m, t), part in summary.groupby(["model", "task"])
    ]


def _layer_movement(result: AnalysisResult, setting: _Setting) -> list[Finding]:
    findings = []
    for model, task, part in _per_layer(result.summary, "movement_mean"):
        part = part.dropna(subset=["movement_mean"])
        rho = F.spearman(part["layer"], part["movement_mean"])
        ours = (
            f"Spearman ρ(layer, shift) {rho:+.2f}; shift {part['movement_mean'].iloc[0]:.3g} "
            f"(layer {part['layer'].iloc[0]}) → {part['movement_mean'].iloc[-1]:.3g} "
            f"(layer {part['layer'].iloc[-1]})"
            if len(part)
            else "no shifts"
        )
        findings.append(
            _judged(
                model,
                task,
                setting,
                "shift grows with the layer (figure)",
                ours,
                _direction_verdict(bool(rho > 0) if math.isfinite(rho) else None),
                "direction compared; " if math.isfinite(rho) else "fewer than 3 layers; ",
            )
        )
    return findings


def _paper_similarity_at(depth: float) -> dict[str, Any]:
    """The paper's layer-similarity band at the relative depth closest to ``depth``."""
    at_end = paper_data()["layer_similarity"]["at_end"]
    top = max(r["layer"] for r in at_end)
    return min(at_end, key=lambda r: abs(r["layer"] / top - depth))


def _layer_similarity(result: AnalysisResult, setting: _Setting) -> list[Finding]:
    findings = []
    for model, task, part in _per_layer(result.summary, "pearson_mean"):
        defined = part.dropna(subset=["pearson_mean"])
        top = int(part["layer"].max())
        if len(defined):
            last = defined.iloc[-1]
            band = _paper_similarity_at(float(last["layer"]) / top if top else 1.0)
            paper_text = (
                f"BERT-base layer {band['layer']}: "
                + (
                    f"{band['low']:.2f}"
                    if band["low"] == band["high"]
                    else f"{band['low']:.2f}–{band['high']:.2f}"
                )
                + "; > 0.5 everywhere"
            )
        else:
            paper_text = "> 0.5 for every layer"
        rho = F.spearman(defined["layer"], defined["pearson_mean"])
        ours = (
            f"min r {defined['pearson_mean'].min():.2f}, last layer {last['pearson_mean']:.2f}, "
            f"ρ(layer, r) {rho:+.2f}"
            if len(defined)
            else "undefined in every layer"
        )
        undefined = len(part) - len(defined)
        if not len(defined):
            verdict = NOT_COMPARABLE
        else:
            above = bool((defined["pearson_mean"] > 0.5).all())
            falling = rho < 0 if math.isfinite(rho) else True
            verdict = _direction_verdict(above and falling)
        why = "compared: above 0.5 in every layer, and falling with the layer; " + (
            f"{undefined} layer(s) undefined in ours (see pearson_reason); " if undefined else ""
        )
        findings.append(_judged(model, task, setting, paper_text, ours, verdict, why))
    return findings


def _movement_direction(result: AnalysisResult, setting: _Setting) -> list[Finding]:
    ranges = {r["layer"]: r for r in paper_data()["movement_ranges"]["layers"]}
    low, high = ranges[min(ranges)], ranges[max(ranges)]

    def span(r: dict[str, Any]) -> float:
        return float(r["pc1"][1] - r["pc1"][0])

    findings = []
    for model, task, part in _per_layer(result.summary, "range_pc1_mean"):
        part = part.dropna(subset=["range_pc1_mean"])
        ours = (
            f"PC1 range {part['range_pc1_mean'].iloc[0]:.3g} (layer {part['layer'].iloc[0]}) → "
            f"{part['range_pc1_mean'].iloc[-1]:.3g} (layer {part['layer'].iloc[-1]})"
            if len(part) >= 2
            else "fewer than two layers"
        )
        ok = len(part) >= 2
        findings.append(
            _judged(
                model,
                task,
                setting,
                f"BERT-base PC1 range layer {low['layer']} {span(low):.0f} → layer "
                f"{high['layer']} {span(high):.0f}",
                ours,
                _direction_verdict(
                    bool(part["range_pc1_mean"].iloc[-1] > part["range_pc1_mean"].iloc[0])
                    if ok
                    else None
                ),
                "direction compared (ranges are in each space's own units); " if ok else "",
            )
        )
    return findings


_COMPARE = {
    1: _performance,
    2: _memorization,
    3: _linearity,
    4: _label_distances,
    5: _centroid_paths,
    6: _cross_task,
    7: _layer_movement,
    8: _layer_similarity,
    9: _movement_direction,
}


def compare(
    result: AnalysisResult, tables: Mapping[str, pd.DataFrame], context: StudyContext
) -> PaperComparison | None:
    """The paper's finding for ``result``'s analysis beside ours, with verdicts.

    ``tables`` are the study's tables (for each model's size and training-set
    size); ``context`` names each model's path, so the paper's own models are
    recognised by hub id. None for an analysis the paper has no finding for.
    """
    function = _COMPARE.get(result.number)
    if function is None:
        return None
    # An analysis with nothing to show has nothing to compare; the paper's claim still shows.
    empty = result.table.empty and (result.summary is None or result.summary.empty)
    findings = () if empty else tuple(function(result, _Setting(tables, context)))
    claim = paper_data()["claims"][str(result.number)]
    return PaperComparison(result.number, claim, findings, paper_data()["citation"])


def verdict_counts(comparisons: Iterable[PaperComparison | None]) -> dict[str, int]:
    """Verdicts summed over several analyses' comparisons."""
    total = dict.fromkeys(VERDICTS, 0)
    for comparison in comparisons:
        if comparison is not None:
            for verdict, n in comparison.counts().items():
                total[verdict] += n
    return total


__all__ = [
    "AGREES",
    "DISAGREES",
    "NOT_COMPARABLE",
    "VERDICTS",
    "Finding",
    "PaperComparison",
    "compare",
    "paper_data",
    "verdict_counts",
]
