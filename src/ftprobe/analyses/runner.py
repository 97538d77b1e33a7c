"""Running the analyses on a study's tables and writing their files.

``run_analyses(tables, context, folder=DIR/analyses)`` runs the chosen analyses
and writes, for each, ``<n>_<name>.csv`` (its table), ``..._summary.csv`` (when
it has one), ``.png``, ``.svg``, ``..._paper.csv`` (the paper's finding beside
ours, one row per finding with its verdict) and ``.json`` (title, caption,
headline and the comparison with the paper), each atomically. Reading a study's
folder (its tables, its study file) is the study's work:
:func:`ftprobe.study.analyze.analyze_study` does it and calls this; the
analyses take what they read as parameters, so that they never import a later
stage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ftprobe.analyses import plotting as P
from ftprobe.analyses.controls import controls
from ftprobe.analyses.labels import centroid_paths, cross_task, label_distances
from ftprobe.analyses.layers import layer_movement, layer_similarity, movement_direction
from ftprobe.analyses.memorization import memorization
from ftprobe.analyses.paper import compare
from ftprobe.analyses.probing import linearity, performance
from ftprobe.analyses.result import AnalysisResult, StudyContext
from ftprobe.data.atomic import atomic_path, write_json
from ftprobe.errors import ConfigError


@dataclass(frozen=True)
class Analysis:
    """One of the study's analyses: its number, file-name slug and function."""

    number: int
    name: str
    function: Callable[[Mapping[str, pd.DataFrame], StudyContext], AnalysisResult]


ANALYSES: tuple[Analysis, ...] = (
    Analysis(1, "performance", performance),
    Analysis(2, "memorization", memorization),
    Analysis(3, "linearity", linearity),
    Analysis(4, "label_distances", label_distances),
    Analysis(5, "centroid_paths", centroid_paths),
    Analysis(6, "cross_task", cross_task),
    Analysis(7, "layer_movement", layer_movement),
    Analysis(8, "layer_similarity", layer_similarity),
    Analysis(9, "movement_direction", movement_direction),
    Analysis(10, "controls", controls),
)


def select(which: Iterable[int | str] | None) -> list[Analysis]:
    """The analyses named by number ("3") or name ("linearity"); all when ``which`` is None."""
    if which is None:
        return list(ANALYSES)
    chosen: dict[int, Analysis] = {}
    for item in which:
        text = str(item).strip()
        match = [a for a in ANALYSES if text in (str(a.number), a.name)]
        if not match:
            known = ", ".join(f"{a.number} ({a.name})" for a in ANALYSES)
            raise ConfigError(f"no analysis {text!r}; choose among {known}")
        chosen[match[0].number] = match[0]
    return [chosen[n] for n in sorted(chosen)]


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def write_result(result: AnalysisResult, folder: Path) -> list[Path]:
    """Write one analysis' table(s), figure (PNG, SVG) and description into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / result.stem
    written = [_write_csv(result.table, base.with_suffix(".csv"))]
    if result.summary is not None:
        written.append(_write_csv(result.summary, folder / f"{result.stem}_summary.csv"))
    if result.comparison is not None:
        written.append(_write_csv(result.comparison.frame(), folder / f"{result.stem}_paper.csv"))
    written += P.save(result.figure, base, result.png())
    meta = {
        "number": result.number,
        "name": result.name,
        "title": result.title,
        "headline": result.headline,
        "caption": result.caption,
        "paper": result.comparison.to_dict() if result.comparison is not None else None,
        "files": [p.name for p in written],
    }
    written.append(write_json(base.with_suffix(".json"), meta, indent=1, ensure_ascii=False))
    return written


def run_analyses(
    tables: Mapping[str, pd.DataFrame],
    context: StudyContext,
    analyses: Sequence[Analysis] = ANALYSES,
    *,
    folder: Path | None = None,
    on_result: Callable[[AnalysisResult], None] | None = None,
) -> list[AnalysisResult]:
    """Run ``analyses`` (all by default; see :func:`select`) on a study's ``tables``.

    ``tables`` maps a table's name to its frame, as the study wrote them
    (:func:`ftprobe.study.analyze.load_tables`); ``context`` says which splits
    trained and tested each task (:func:`ftprobe.study.analyze.study_context`).
    With ``folder``, each result is written there (:func:`write_result`);
    ``on_result`` is called after each analysis (for progress display).
    """
    results = []
    for analysis in analyses:
        result = analysis.function(tables, context)
        result.comparison = compare(result, tables, context)
        if folder is not None:
            write_result(result, Path(folder))
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
