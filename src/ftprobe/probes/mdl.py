"""MDL probing: how many bits the labels cost given the representation (online code).

Voita and Titov ("Information-Theoretic Probing with Minimum Description
Length", EMNLP 2020) measure a representation by how well a probe
*compresses* its labels. The online code sends the labels in blocks: the first
block with the uniform code (``log2 K`` bits a label for ``K`` labels); every
later block with a probe trained on all the blocks before it, at ``-log2
p(label | vector)`` bits a label. A representation from which the labels are
easy to read costs few bits beyond the first block; ``compression`` is the
uniform code's length over the online code's.

The blocks are the study's nested fractions of the training vectors
(:func:`ftprobe.probes.classifier.nested_subsets`, the same seeded prefixes the
memorization curves train on): the labels coded are those of the largest
fraction, and fractions that round to the same number of vectors make no
block of their own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ftprobe.errors import FtprobeError
from ftprobe.estimators import Labels, label_indices
from ftprobe.probes.classifier import ClassifierProbe, nested_subsets, probe_with_labels

BLOCK_COLUMNS = ("block", "n_train", "n_coded", "bits")


@dataclass(frozen=True)
class OnlineCode:
    """An online code length: the total and its blocks (``blocks``: one row per block,
    ``block, n_train`` (vectors the probe coding it was trained on; 0 for the uniform
    first block), ``n_coded, bits``)."""

    code_length_bits: float
    uniform_bits: float
    first_block_bits: float
    n_coded: int
    n_labels: int
    blocks: pd.DataFrame

    @property
    def compression(self) -> float:
        """Uniform code length over online code length (1: the probe saved nothing)."""
        return self.uniform_bits / self.code_length_bits if self.code_length_bits > 0 else math.nan


def online_code_length(
    X: np.ndarray,
    y: Labels,
    n_labels: int,
    fractions: Sequence[float],
    seed: int,
    probe: ClassifierProbe | None = None,
) -> OnlineCode:
    """The online code length, in bits, of labels ``y`` (names or indices) given vectors ``X``.

    ``n_labels`` is the size of the label set the code spells (the probe's ``labels``,
    when it has them; else the indices ``0 .. n_labels - 1``). ``fractions`` (rising)
    fix the blocks; ``probe`` carries the classifier's settings (default
    ``ClassifierProbe(seed=seed)``) and a copy of it is refitted on each prefix.
    """
    if n_labels < 2:
        raise FtprobeError(f"an online code needs at least 2 labels, got {n_labels}")
    probe = probe_with_labels(probe, seed, [str(i) for i in range(n_labels)])
    if len(probe.labels) != n_labels:
        raise FtprobeError(f"the probe has {len(probe.labels)} labels, the code {n_labels}")
    y = label_indices(y, probe.labels)
    if len(y) != len(X):
        raise FtprobeError(f"{len(X)} vectors but {len(y)} labels: they must pair up")
    if list(fractions) != sorted(set(fractions)):
        raise FtprobeError(f"the fractions of an online code must rise, got {list(fractions)}")
    X = np.asarray(X)
    subsets = nested_subsets(len(y), fractions, seed)
    per_label = math.log2(n_labels)
    first = subsets[0]
    rows = [(0, 0, len(first), len(first) * per_label)]
    previous = first
    for subset in subsets[1:]:
        block = np.setdiff1d(subset, previous, assume_unique=True)
        if len(block) == 0:
            continue  # the fraction rounds to the previous one's size
        probe.fit(X[previous], y[previous])
        logp = probe.predict_log_proba(X[block])[np.arange(len(block)), y[block]]
        rows.append((len(rows), len(previous), len(block), float(-logp.sum() / math.log(2))))
        previous = subset
    blocks = pd.DataFrame(rows, columns=list(BLOCK_COLUMNS))
    n_coded = int(blocks["n_coded"].sum())
    return OnlineCode(
        code_length_bits=float(blocks["bits"].sum()),
        uniform_bits=n_coded * per_label,
        first_block_bits=float(blocks["bits"].iloc[0]),
        n_coded=n_coded,
        n_labels=int(n_labels),
        blocks=blocks,
    )
