"""Stage 4: classifier probes trained on frozen representations."""

from ftprobe.probes.classifier import (
    DEFAULT_FRACTIONS,
    ClassifierProbe,
    ProbeScores,
    learning_curve,
    nested_subsets,
    score_predictions,
)

__all__ = [
    "DEFAULT_FRACTIONS",
    "ClassifierProbe",
    "ProbeScores",
    "learning_curve",
    "nested_subsets",
    "score_predictions",
]
