"""DirectProbe's settings and their rules, without importing torch or SciPy.

A study file and the command line check ``min_cluster_size`` before any work
starts (and commands such as ``ftprobe status`` never cluster), so the rule
lives apart from the modules that use it.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass

from ftprobe.errors import ConfigError

MIN_CLUSTER_SIZE = 5
"""The default: label statistics ignore clusters with at most this many points (the
ACL 2022 extension leaves out such small clusters); 0 keeps every cluster."""


def check_min_cluster_size(size: object, *, name: str = "min_cluster_size") -> int:
    """``size`` as an int, or a :class:`ConfigError` naming the setting ``name``.

    A boolean is not a size (TOML's ``true`` would otherwise count as 1).
    """
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 0:
        raise ConfigError(f"{name} must be 0 or more (0 counts every cluster), not {size!r}")
    return int(size)


@dataclass(frozen=True)
class Checkpoints:
    """Where a clustering saves its state, how often, and whether it resumes from it.

    See :class:`~ftprobe.geometry.merging.SupervisedClustering`: the state is
    saved every ``every_seconds`` (0: after every merge decision); with ``resume``
    the clustering continues from ``path`` to the same result as an uninterrupted
    run.
    """

    path: str | os.PathLike[str]
    resume: bool = False
    every_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not self.every_seconds >= 0:
            raise ConfigError(
                f"checkpoints are saved every 0 or more seconds, not {self.every_seconds}"
            )
