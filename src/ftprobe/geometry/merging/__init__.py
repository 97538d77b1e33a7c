"""DirectProbe's supervised clustering, in rooms.

- :mod:`~ftprobe.geometry.merging.engine`: the merges (:class:`SupervisedClustering`);
- :mod:`~ftprobe.geometry.merging.blocks`: the clusters by label and the queue of pairs;
- :mod:`~ftprobe.geometry.merging.certificates`: verified hyperplanes, reused;
- :mod:`~ftprobe.geometry.merging.warm`: supports that warm-start the exact decisions;
- :mod:`~ftprobe.geometry.merging.label_pairs`: whole labels decided once;
- :mod:`~ftprobe.geometry.merging.state`: the state file, to resume from;
- :mod:`~ftprobe.geometry.merging.exact`, :mod:`~ftprobe.geometry.merging.frame`: the
  arithmetic and coordinates the merge order rests on;
- :mod:`~ftprobe.geometry.merging.stats`: what a run did.

The partition it makes is :class:`ftprobe.geometry.partition.Clustering`.
"""

from ftprobe.geometry.merging.engine import (
    ClusteringInterrupted,
    SupervisedClustering,
    supervised_clustering,
)
from ftprobe.geometry.merging.state import STATE_VERSION
from ftprobe.geometry.merging.stats import ClusteringStats

__all__ = [
    "STATE_VERSION",
    "ClusteringInterrupted",
    "ClusteringStats",
    "SupervisedClustering",
    "supervised_clustering",
]
