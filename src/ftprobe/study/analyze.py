"""A study folder's analyses: reading its tables and study file, and running the analyses on them.

The analyses are functions of tables and a :class:`~ftprobe.analyses.StudyContext`
and never read a study folder themselves (no stage imports the study); this
module is where a folder becomes those two: ``analyze_study(DIR)`` reads
``DIR/tables/`` and ``DIR/study.toml`` and writes ``DIR/analyses/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from ftprobe.analyses import AnalysisResult, StudyContext, run_analyses, select
from ftprobe.errors import ConfigError
from ftprobe.study.spec import Study, load_study
from ftprobe.study.tables import read_tables

STUDY_FILE = "study.toml"


def load_tables(out_dir: Path) -> dict[str, pd.DataFrame]:
    """The tables a study run wrote into ``DIR/tables/`` (:func:`.tables.read_tables`).

    A folder without ``tables/`` is an error (a wrong path, or a study not yet run),
    where a missing table only comes back empty.
    """
    out_dir = Path(out_dir)
    if not (out_dir / "tables").is_dir():
        raise ConfigError(f"{out_dir}: no tables/ folder; run the study into this folder first")
    return read_tables(out_dir)


def context_from_study(study: Study, notes: Iterable[str] = ()) -> StudyContext:
    """The caption context of a validated study file."""
    return StudyContext(
        splits={t.name: (t.train_split, t.test_split) for t in study.tasks},
        models={m.name: m.path for m in study.models},
        notes=tuple(notes),
    )


def study_context(
    out_dir: Path, study_file: Path | None = None, notes: Iterable[str] = ()
) -> StudyContext:
    """Caption context from ``study_file``, else from ``DIR/study.toml`` if present, else notes."""
    path = study_file or (Path(out_dir) / STUDY_FILE)
    if study_file is None and not path.is_file():
        return StudyContext(notes=tuple(notes))
    return context_from_study(load_study(path), notes)


def analyze_study(
    out_dir: Path,
    which: Iterable[int | str] | None = None,
    context: StudyContext | None = None,
    *,
    write: bool = True,
    on_result: Callable[[AnalysisResult], None] | None = None,
) -> list[AnalysisResult]:
    """Run the chosen analyses (all by default) on the study in ``out_dir``.

    ``which`` names analyses by number or name (:func:`ftprobe.analyses.select`);
    ``context`` says which splits trained and tested each task (see
    :func:`study_context`; by default read from ``DIR/study.toml`` when present).
    With ``write``, each result goes to ``DIR/analyses/``; ``on_result`` is called
    after each analysis (for progress display).
    """
    out_dir = Path(out_dir)
    # The selection first: a wrong name is reported before the folder is read.
    chosen = select(which)
    tables = load_tables(out_dir)
    context = context if context is not None else study_context(out_dir)
    folder = out_dir / "analyses" if write else None
    return run_analyses(tables, context, chosen, folder=folder, on_result=on_result)
