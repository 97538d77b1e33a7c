"""A clustering run's state file: what it decided so far, to resume from.

Glossary:

- *decision*: one merge step, ``(cid_a, cid_b, accepted)`` in creation ids; a resumed run
  replays them in order (no solver calls) and checks each against the pair it proposes;
- *fingerprint*: a hash of the input vectors, labels, label names and
  :data:`STATE_VERSION`; a state file is only taken by a run of the same input and version;
- *label-pair verdicts*: saved with the decisions, and trusted on resume only after their
  hyperplanes are verified again (:meth:`LabelPairs.restore`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ftprobe.data.atomic import atomic_open
from ftprobe.errors import FtprobeError
from ftprobe.geometry.merging.label_pairs import LabelPairs
from ftprobe.geometry.separability import Separation

STATE_VERSION = "ftprobe-clustering-state-3"


def fingerprint(X: np.ndarray, y: np.ndarray, label_names: Sequence[str]) -> str:
    """What a state file must match: the input and the state format's version."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(X).tobytes())
    h.update(np.ascontiguousarray(y).tobytes())
    h.update("\n".join(label_names).encode())
    h.update(STATE_VERSION.encode())
    return h.hexdigest()


def save_state(
    path: Path, stamp: str, decisions: list[tuple[int, int, int]], pairs: LabelPairs
) -> None:
    """Write the decisions and label-pair verdicts to ``path`` (atomically)."""
    dec = np.array(decisions, dtype=np.int64).reshape(-1, 3)
    keys = sorted(pairs.status)
    seps = [k for k in keys if pairs.status[k]]
    d = pairs.frame.X.shape[1]
    arrays = {
        "fingerprint": np.array(stamp),
        "decisions": dec,
        "pair_keys": np.array(keys, dtype=np.int64).reshape(-1, 2),
        "pair_separable": np.array([pairs.status[k] for k in keys], dtype=bool),
        "cert_keys": np.array(seps, dtype=np.int64).reshape(-1, 2),
        "cert_w": np.array([pairs.cert[k][0] for k in seps]).reshape(-1, d),
        "cert_b": np.array([pairs.cert[k][1] for k in seps], dtype=np.float64),
    }
    # Written atomically: a run killed while saving leaves the last whole state, and its
    # temporary is swept by the next save (a full disk names the state file).
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


def load_state(path: Path | None, stamp: str, pairs: LabelPairs) -> list[tuple[int, int, int]]:
    """The decisions recorded in ``path``; its label-pair verdicts go to ``pairs``.

    Raises :class:`FtprobeError` when there is no state file or it belongs to another
    input.
    """
    if path is None or not path.exists():
        raise FtprobeError(
            f"nothing to resume: no state file at {path}"
            if path
            else "nothing to resume: no state file was given"
        )
    with np.load(path, allow_pickle=False) as z:
        if str(z["fingerprint"]) != stamp:
            raise FtprobeError(
                f"{path} belongs to a different input (vectors, labels or "
                "version differ): start again with --overwrite instead of --resume"
            )
        decisions = [(int(a), int(b), int(c)) for a, b, c in z["decisions"]]
        for (k0, k1), sep in zip(
            z["pair_keys"].tolist(), z["pair_separable"].tolist(), strict=True
        ):
            if not sep:
                pairs.restore((k0, k1), None)
        for (k0, k1), w, b in zip(z["cert_keys"].tolist(), z["cert_w"], z["cert_b"], strict=True):
            pairs.restore((k0, k1), Separation(np.asarray(w), float(b), 0.0))
    return decisions
