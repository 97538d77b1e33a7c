"""The files DirectProbe and its ACL 2022 extension write, byte-compatible, and readers.

Formats (numbers with 4 decimals, as the published code writes them):

- ``clusters.txt``: line i is the cluster id (0..K-1) of training example i;
- ``dis.txt``: ``(i-A, j-B): d`` for every pair of clusters ``i < j`` with different
  labels, ``i`` then ``j`` ascending; ``A``/``B`` are the clusters' label names;
- ``prediction.txt``: ``gold<TAB>i-A,d_i<TAB>j-B,d_j...``, every cluster, nearest first;
- ``vec.txt``: ``A---B,d`` for every label pair, A before B in label order;
- ``outside_min.txt``, ``inside_max.txt``, ``inside_mean.txt``: ``label,d`` per label;
- ``log.txt``: timestamped ``...-INFO: message`` lines with the published key names
  (``Final number of clusters: K``, ``Acc=...``, ``MinConvexDistance=...``...).

Every writer writes a temporary file in the target folder and renames it into place, so a
failure never leaves a half-written file. Readers raise :class:`ftprobe.errors.InputError`
naming the file and line of anything malformed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from ftprobe.data.atomic import atomic_open
from ftprobe.errors import InputError
from ftprobe.geometry.hulls import nearest_group, ranking_order
from ftprobe.geometry.partition import Clustering
from ftprobe.geometry.statistics import LabelStatistics

__all__ = [
    "DisEntry",
    "Prediction",
    "PredictionTies",
    "RunLog",
    "accuracy_from",
    "atomic_write_text",
    "cluster_summary_lines",
    "label_vector",
    "prediction_ties",
    "ranking_order",
    "repeated_vector_lines",
    "read_clustering",
    "read_clusters",
    "read_dis",
    "read_label_values",
    "read_predictions",
    "read_vec",
    "statistics_summary_lines",
    "tie_summary_lines",
    "write_clusters",
    "write_dis",
    "write_label_values",
    "write_log",
    "write_predictions",
    "write_statistics",
    "write_vec",
    "zero_distance_lines",
]

PathLike = str | os.PathLike[str]


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :mod:`ftprobe.data.atomic`), synced to disk."""
    with atomic_open(path) as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _lines(path: PathLike) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().splitlines()
    except FileNotFoundError:
        raise InputError(path, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(path, None, f"not UTF-8 text ({exc.reason})") from None


def _fmt(d: float) -> str:
    return f"{d:0.4f}"


# ----------------------------------------------------------------------------- clusters


def write_clusters(path: PathLike, clustering: Clustering | Sequence[int] | np.ndarray) -> None:
    """``clusters.txt``: the cluster id of each training example, one per line."""
    assignment = clustering.assignment if isinstance(clustering, Clustering) else clustering
    atomic_write_text(path, "".join(f"{int(v)}\n" for v in np.asarray(assignment)))


def read_clusters(path: PathLike) -> np.ndarray:
    """The cluster ids of ``clusters.txt`` (blank lines are errors, ids must be >= 0)."""
    out = []
    for no, line in enumerate(_lines(path), start=1):
        text = line.strip()
        try:
            value = int(text)
        except ValueError:
            raise InputError(path, no, f"expected a cluster id, got {text!r}") from None
        if value < 0:
            raise InputError(path, no, f"cluster id {value} is negative")
        out.append(value)
    if not out:
        raise InputError(path, None, "no cluster ids")
    return np.array(out, dtype=np.int64)


def read_clustering(
    path: PathLike, y: Sequence[int] | np.ndarray, label_names: Sequence[str]
) -> Clustering:
    """A given partition (``clusters.txt``) of training points with label indices ``y``.

    Every cluster must be label-pure (DirectProbe's clusters are); the ids must number the
    clusters ``0..K-1`` (each id used), as the published code writes them.
    """
    ids = read_clusters(path)
    labels = np.asarray(y)
    if len(ids) != len(labels):
        raise InputError(path, None, f"{len(ids)} cluster ids for {len(labels)} training examples")
    k = int(ids.max()) + 1
    used = np.bincount(ids, minlength=k)
    if np.any(used == 0):
        missing = int(np.flatnonzero(used == 0)[0])
        raise InputError(path, None, f"cluster ids run to {k - 1} but id {missing} is never used")
    first_label = np.full(k, -1)
    for no, (cid, lab) in enumerate(zip(ids, labels, strict=True), start=1):
        if first_label[cid] < 0:
            first_label[cid] = lab
        elif first_label[cid] != lab:
            raise InputError(
                path,
                no,
                f"cluster {cid} mixes labels {label_names[first_label[cid]]!r} and "
                f"{label_names[lab]!r}",
            )
    return Clustering.from_assignment(ids, labels, label_names)


# ----------------------------------------------------------------------------- dis.txt


@dataclass(frozen=True)
class DisEntry:
    """One line of ``dis.txt``."""

    i: int
    label_i: str
    j: int
    label_j: str
    distance: float


def write_dis(path: PathLike, clustering: Clustering, distances: np.ndarray) -> None:
    """``dis.txt``: hull distance of every pair of clusters with different labels."""
    k = clustering.n_clusters
    dist = np.asarray(distances)
    if dist.shape != (k, k):
        raise ValueError(f"distances must be ({k}, {k}), got {dist.shape}")
    labels = clustering.cluster_labels
    out = []
    for i in range(k):
        for j in range(i + 1, k):
            if labels[i] == labels[j]:
                continue
            d = float(dist[i, j])
            if np.isnan(d):
                raise ValueError(f"no distance for clusters {i} and {j}")
            out.append(f"({clustering.cluster_name(i)}, {clustering.cluster_name(j)}): {_fmt(d)}\n")
    atomic_write_text(path, "".join(out))


_DIS = re.compile(r"^\((\d+)-(.*?), (\d+)-(.*)\): (\S+)$")


def read_dis(path: PathLike) -> list[DisEntry]:
    """The entries of a ``dis.txt``, in file order."""
    out = []
    for no, line in enumerate(_lines(path), start=1):
        m = _DIS.match(line.strip())
        if not m:
            raise InputError(path, no, f"expected '(i-A, j-B): d', got {line!r}")
        try:
            d = float(m.group(5))
        except ValueError:
            raise InputError(path, no, f"bad distance {m.group(5)!r}") from None
        out.append(DisEntry(int(m.group(1)), m.group(2), int(m.group(3)), m.group(4), d))
    return out


# ----------------------------------------------------------------------- prediction.txt


@dataclass(frozen=True)
class Prediction:
    """One line of ``prediction.txt``: the gold label and every cluster, nearest first."""

    gold: str
    ranking: tuple[tuple[int, str, float], ...] = field(default=())

    @property
    def predicted(self) -> str:
        """The label of the nearest cluster."""
        return self.ranking[0][1]


def write_predictions(
    path: PathLike,
    gold: Sequence[str],
    distances: np.ndarray,
    clustering: Clustering,
    *,
    tol: float = 0.0,
) -> None:
    """``prediction.txt``: per test example, its gold label and all clusters by distance.

    Distances within ``tol`` are ties, listed by cluster id (:func:`ranking_order`); pass
    :func:`~ftprobe.geometry.hulls.tie_tolerance` of the training points so that the
    first cluster of each line is the one ``DirectProbe.predict`` gives.
    """
    dist = np.asarray(distances)
    if dist.ndim != 2 or dist.shape != (len(gold), clustering.n_clusters):
        raise ValueError(
            f"distances must be ({len(gold)}, {clustering.n_clusters}), got {dist.shape}"
        )
    names = [clustering.cluster_name(k) for k in range(clustering.n_clusters)]
    order = ranking_order(dist, tol)
    out = []
    for row, g in enumerate(gold):
        cells = [str(g)]
        cells.extend(f"{names[k]},{_fmt(dist[row, k])}" for k in order[row])
        out.append("\t".join(cells) + "\n")
    atomic_write_text(path, "".join(out))


def read_predictions(path: PathLike) -> list[Prediction]:
    """The lines of a ``prediction.txt``."""
    out = []
    for no, line in enumerate(_lines(path), start=1):
        cells = line.split("\t")
        ranking = []
        for cell in cells[1:]:
            name, sep, value = cell.rpartition(",")
            cid, dash, label = name.partition("-")
            if not sep or not dash or not cid.isdigit():
                raise InputError(path, no, f"expected 'i-label,d', got {cell!r}")
            try:
                ranking.append((int(cid), label, float(value)))
            except ValueError:
                raise InputError(path, no, f"bad distance in {cell!r}") from None
        out.append(Prediction(cells[0], tuple(ranking)))
    return out


# ------------------------------------------------------------------ extension statistics


def write_vec(path: PathLike, stats: LabelStatistics) -> None:
    """``vec.txt``: the label-to-label distance of each pair ``A---B`` (0 if undefined)."""
    out = [f"{a}---{b},{_fmt(v)}\n" for (a, b), v in zip(stats.pairs, stats.vec, strict=True)]
    atomic_write_text(path, "".join(out))


def read_vec(path: PathLike) -> dict[tuple[str, str], float]:
    """``{(A, B): d}`` from a ``vec.txt``, in file order."""
    out: dict[tuple[str, str], float] = {}
    for no, line in enumerate(_lines(path), start=1):
        name, sep, value = line.rpartition(",")
        a, dashes, b = name.partition("---")
        if not sep or not dashes:
            raise InputError(path, no, f"expected 'A---B,d', got {line!r}")
        try:
            out[(a, b)] = float(value)
        except ValueError:
            raise InputError(path, no, f"bad distance {value!r}") from None
    return out


def write_label_values(path: PathLike, names: Sequence[str], values: Iterable[float]) -> None:
    """``label,d`` per label (``outside_min.txt``, ``inside_max.txt``, ``inside_mean.txt``)."""
    vals = list(values)
    if len(vals) != len(names):
        raise ValueError(f"{len(vals)} values for {len(names)} labels")
    atomic_write_text(path, "".join(f"{n},{_fmt(v)}\n" for n, v in zip(names, vals, strict=True)))


def read_label_values(path: PathLike) -> dict[str, float]:
    """``{label: d}`` from a ``label,d`` file."""
    out: dict[str, float] = {}
    for no, line in enumerate(_lines(path), start=1):
        name, sep, value = line.rpartition(",")
        if not sep:
            raise InputError(path, no, f"expected 'label,d', got {line!r}")
        try:
            out[name] = float(value)
        except ValueError:
            raise InputError(path, no, f"bad value {value!r}") from None
    return out


def write_statistics(folder: PathLike, stats: LabelStatistics) -> None:
    """The extension's four files: ``vec.txt`` and the three per-label files.

    The files keep the extension's format, which writes 0 for an undefined value (NaN in
    :class:`LabelStatistics`).
    """
    out = Path(folder)
    write_vec(out / "vec.txt", stats)
    for name, values in (
        ("outside_min", stats.outside_min),
        ("inside_max", stats.inside_max),
        ("inside_mean", stats.inside_mean),
    ):
        write_label_values(out / f"{name}.txt", stats.label_names, np.nan_to_num(values, nan=0.0))


# ------------------------------------------------------------------------------ log.txt


@dataclass
class RunLog:
    """Timestamped messages for ``log.txt``, in the published ``asctime-name-LEVEL:`` style."""

    name: str = "ftprobe"
    entries: list[tuple[datetime, str]] = field(default_factory=list)

    def info(self, message: str) -> None:
        """Record a message now."""
        self.entries.append((datetime.now(), message))

    def extend(self, messages: Iterable[str]) -> None:
        """Record several messages now."""
        for message in messages:
            self.info(message)

    def render(self) -> str:
        """The text of ``log.txt``."""
        out = []
        for when, message in self.entries:
            stamp = when.strftime("%Y-%m-%d %H:%M:%S") + f",{when.microsecond // 1000:03d}"
            out.append(f"{stamp}-{self.name}-INFO: {message}\n")
        return "".join(out)


def write_log(path: PathLike, log: RunLog) -> None:
    """Write ``log.txt``."""
    atomic_write_text(path, log.render())


def cluster_summary_lines(
    n_clusters: int | None = None,
    accuracy: float | None = None,
    distances: np.ndarray | None = None,
) -> list[str]:
    """The published headline lines: cluster count, accuracy, min/max/mean hull distance.

    ``distances`` is the ``(K, K)`` matrix of
    :func:`~ftprobe.geometry.hulls.cluster_distance_matrix`; its defined off-diagonal entries
    (the ``dis.txt`` pairs) are summarised.
    """
    out = []
    if n_clusters is not None:
        out.append(f"Final number of clusters: {n_clusters}")
    if accuracy is not None:
        out.append(f"Acc={accuracy!r}")
    if distances is not None:
        iu = np.triu_indices(len(distances), k=1)
        vals = np.asarray(distances)[iu]
        vals = vals[~np.isnan(vals)]
        if len(vals):
            out.append(f"MinConvexDistance={float(vals.min())!r}")
            out.append(f"MaxConvexDistance={float(vals.max())!r}")
            out.append(f"AverageConvexDistance={float(vals.mean())!r}")
    return out


def statistics_summary_lines(stats: LabelStatistics) -> list[str]:
    """The extension's headline lines, computed as it does (over non-zero values)."""
    out = []
    # The extension's lines read its files, where an undefined value is 0.
    om, imean, imax = (
        np.nan_to_num(v, nan=0.0) for v in (stats.outside_min, stats.inside_mean, stats.inside_max)
    )
    if np.any(om > 0):
        out.append(f"global min dis={float(om[om > 0].min())!r}")
    if np.any(imean > 0):
        out.append(f"mean_inside_mean_dis={float(imean[imean > 0].mean())!r}")
    if np.any(imax > 0):
        out.append(f"max inside max dis={float(imax[imax > 0].max())!r}")
    both = (imax != 0) & (om != 0)
    if np.any(both):
        out.append(f"Inside max / outside min = {float(np.mean(imax[both] / om[both]))!r}")
    both = (imean != 0) & (om != 0)
    if np.any(both):
        out.append(f"Inside mean / outside min = {float(np.mean(imean[both] / om[both]))!r}")
    return out


def accuracy_from(
    gold: Sequence[str], distances: np.ndarray, clustering: Clustering, *, tol: float = 0.0
) -> float:
    """Nearest-cluster accuracy: the share of rows whose nearest cluster has the gold label.

    Distances within ``tol`` are ties, which go to the lower cluster id, as in
    ``prediction.txt``.
    """
    nearest = np.argmax(nearest_group(distances, tol), axis=1)
    names = np.array(clustering.label_names, dtype=object)[clustering.cluster_labels[nearest]]
    return float(np.mean(names == np.asarray(gold, dtype=object))) if len(gold) else float("nan")


def label_vector(values: Mapping[str, float], names: Sequence[str]) -> np.ndarray:
    """Values of a ``label,d`` mapping in the order of ``names`` (missing labels: 0)."""
    return np.array([float(values.get(n, 0.0)) for n in names])


# ------------------------------------------------------------------- ties and repeats


@dataclass(frozen=True)
class PredictionTies:
    """What ties at the nearest distance allow (see :func:`prediction_ties`).

    ``n_tied``: test points whose nearest group (the clusters within the tie tolerance of
    the nearest) holds more than one label. ``accuracy`` is the one reported (ties to the
    lowest cluster id); ``accuracy_low`` counts a tied point as right only when every
    label of its group is the gold one, ``accuracy_high`` when any is.
    """

    n_points: int
    n_tied: int
    accuracy: float
    accuracy_low: float
    accuracy_high: float


def prediction_ties(
    nearest: np.ndarray, cluster_labels: np.ndarray, gold: Sequence[int] | np.ndarray
) -> PredictionTies:
    """Ties at the top from the ``(n, K)`` booleans of the nearest group of each test
    point (:func:`~ftprobe.geometry.hulls.nearest_group`), the clusters' label
    indices and the gold label indices."""
    top = np.asarray(nearest, dtype=bool)
    labels = np.asarray(cluster_labels)
    g = np.asarray(gold)
    n = len(top)
    if len(g) != n:
        raise ValueError(f"{n} test points but {len(g)} gold labels")
    if n == 0:
        nan = float("nan")
        return PredictionTies(0, 0, nan, nan, nan)
    chosen = labels[np.argmax(top, axis=1)]
    is_gold = labels[None, :] == g[:, None]
    tied = (top & (labels[None, :] != chosen[:, None])).any(axis=1)
    return PredictionTies(
        n_points=n,
        n_tied=int(tied.sum()),
        accuracy=float(np.mean(chosen == g)),
        accuracy_low=float(np.mean(~(top & ~is_gold).any(axis=1))),
        accuracy_high=float(np.mean((top & is_gold).any(axis=1))),
    )


def tie_summary_lines(ties: PredictionTies) -> list[str]:
    """``log.txt`` lines on ties at the nearest distance (none when there are none)."""
    if ties.n_tied == 0:
        return []
    return [
        f"Test points with a tie across labels at the nearest distance: {ties.n_tied} of "
        f"{ties.n_points} (ties go to the lowest cluster id); the accuracy they allow: "
        f"{ties.accuracy_low:.4f} to {ties.accuracy_high:.4f}"
    ]


def repeated_vector_lines(clustering: Clustering) -> list[str]:
    """``log.txt`` line on vectors that carry several labels (none when there are none):
    how many such vectors, the points on them, the clusters they force (one per vector
    and label) and the clusters of the other points."""
    if not clustering.conflicts:
        return []
    return [
        f"Vectors with more than one label: {clustering.n_conflicting_vectors}, with "
        f"{clustering.n_conflicting_points} points; they force "
        f"{clustering.n_forced_clusters} clusters (one per vector and label, never merged), "
        f"and the other points form {clustering.n_other_clusters} clusters"
    ]


def zero_distance_lines(clustering: Clustering, distances: np.ndarray) -> list[str]:
    """``log.txt`` line on cluster pairs at hull distance 0 (none when there are none): how
    many, and how many of them are forced clusters on a shared vector, which is where a
    zero distance (and a smallest label distance of 0) comes from."""
    dist = np.asarray(distances)
    iu = np.triu_indices(len(dist), k=1)
    zero = np.flatnonzero(dist[iu] == 0)
    if len(zero) == 0:
        return []
    forced = np.zeros(clustering.n_clusters, dtype=bool)
    forced[clustering.forced_clusters] = True
    both = int(np.sum(forced[iu[0][zero]] & forced[iu[1][zero]]))
    return [
        f"Cluster pairs at distance 0: {len(zero)}, of which {both} are forced clusters on "
        "a shared vector (the zero distances, and a smallest label distance of 0, come "
        "from them)"
    ]
