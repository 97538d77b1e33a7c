"""The study's analyses (the paper's nine, then controls): functions from tables to words.

Each analysis takes the dict of tables and a :class:`StudyContext` and returns
an :class:`AnalysisResult`; :func:`run_analyses` runs them and writes their
files. The study reads its folder into those two
(:mod:`ftprobe.study.analyze`), since no stage imports the study.
"""

from ftprobe.analyses.labels import centroid_paths, cross_task, label_distances
from ftprobe.analyses.layers import layer_movement, layer_similarity, movement_direction
from ftprobe.analyses.memorization import memorization
from ftprobe.analyses.paper import Finding, PaperComparison, compare, paper_data
from ftprobe.analyses.probing import linearity, performance
from ftprobe.analyses.result import AnalysisResult, StudyContext
from ftprobe.analyses.runner import (
    ANALYSES,
    Analysis,
    run_analyses,
    select,
    write_result,
)

# CKA is geometry (beside spatial similarity); the analyses read the table of it
# that the study writes, and offer the function to their users as before.
from ftprobe.geometry.cka import linear_cka

__all__ = [
    "ANALYSES",
    "Analysis",
    "AnalysisResult",
    "Finding",
    "PaperComparison",
    "StudyContext",
    "centroid_paths",
    "compare",
    "cross_task",
    "label_distances",
    "layer_movement",
    "layer_similarity",
    "linear_cka",
    "linearity",
    "memorization",
    "movement_direction",
    "paper_data",
    "performance",
    "run_analyses",
    "select",
    "write_result",
]
