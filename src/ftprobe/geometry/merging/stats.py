"""What a clustering run did, counted as it goes (for logs and benchmarks).

Glossary (the counters):

- *step*: one merge decision (accepted or rejected); *replayed*: steps taken from a state
  file instead of decided;
- *label-pair check*: deciding once whether two whole labels are separable;
- *cluster check*: an exact decision between a candidate merge and clusters of another
  label; *oracle seconds*: the time spent in exact decisions;
- *certificate reuse*: a cluster pair settled by a hyperplane already known, no solver;
- *centroid try / win*: the direction joining two centroids, tried / found separating;
- *factor start*: an exact decision started from a kept factorisation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ClusteringStats:
    """What a clustering run did (for logs and benchmarks)."""

    steps: int = 0
    merges: int = 0
    rejections: int = 0
    replayed: int = 0
    label_pair_checks: int = 0
    cluster_checks: int = 0
    certificate_reuses: int = 0
    centroid_tries: int = 0
    centroid_wins: int = 0
    factor_starts: int = 0
    oracle_seconds: float = 0.0
    seconds: float = 0.0
    separable_label_pairs: int = 0
    overlapping_label_pairs: int = 0
