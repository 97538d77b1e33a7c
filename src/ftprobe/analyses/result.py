"""What an analysis returns, and the study facts its caption needs.

An analysis is a function ``(tables, context) -> AnalysisResult``. ``tables`` is
the dict of the study's tables (:func:`ftprobe.study.analyze.load_tables`);
``context`` carries what the tables do not say, such as which
split served as training data for each task, so captions never guess it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from ftprobe.analyses.paper import PaperComparison


@dataclass
class AnalysisResult:
    """One analysis: a tidy table, a figure, and the words that go with them.

    ``table`` holds one row per the analysis' natural unit (model, task,
    checkpoint, layer, label, ...); ``summary`` (optional) holds the few numbers
    per (model, task) that ``headline`` is computed from; ``comparison`` (set by
    :func:`ftprobe.analyses.runner.run_analyses`) sets the paper's finding beside it.
    """

    number: int
    name: str
    title: str
    caption: str
    headline: str
    table: pd.DataFrame
    figure: Figure
    summary: pd.DataFrame | None = None
    comparison: PaperComparison | None = None
    _png: bytes | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def stem(self) -> str:
        """File name stem of this analysis' outputs, e.g. ``1_performance``."""
        return f"{self.number}_{self.name}"

    def png(self) -> bytes:
        """The figure as PNG, rendered once (the files and the report share it)."""
        if self._png is None:
            from ftprobe.analyses.plotting import png_bytes

            self._png = png_bytes(self.figure)
        return self._png


@dataclass(frozen=True)
class StudyContext:
    """Facts about the study that captions state and the tables do not hold.

    ``splits`` maps a task to its (training split, test split) names; ``notes``
    are extra sentences appended to every caption (e.g. where the data came from);
    ``models`` maps a model's name to what it loads (a hub id or a path), so the
    paper's own models are recognised.
    """

    splits: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    models: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def data_note(self, tasks: Iterable[str]) -> str:
        """One sentence naming, for each task, which splits trained and tested the probes."""
        parts = []
        for task in sorted(set(tasks)):
            if task not in self.splits:
                parts.append(f"{task}: training/test splits not recorded (pass the study file)")
                continue
            train, test = self.splits[task]
            if train != "train":
                parts.append(
                    f"{task}: the {train} split served as the training set, {test} as the test set"
                )
            else:
                parts.append(f"{task}: trained on {train}, tested on {test}")
        text = "Data: " + "; ".join(parts) + "." if parts else ""
        return " ".join([text, *self.notes]).strip()


def empty_result(
    number: int, name: str, title: str, why: str, columns: Iterable[str] = ()
) -> AnalysisResult:
    """The result of an analysis that has nothing to show, saying why."""
    from ftprobe.analyses.plotting import message

    return AnalysisResult(
        number,
        name,
        title,
        f"Nothing to show: {why}.",
        f"No result: {why}.",
        pd.DataFrame(columns=list(columns)),
        message(title, f"Nothing to show: {why}."),
    )
