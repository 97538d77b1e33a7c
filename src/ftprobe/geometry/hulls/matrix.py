"""The K x K matrix of hull-to-hull distances between the clusters of a partition.

Glossary:

- *pair*: two clusters whose distance is asked: of different labels (``"cross-label"``,
  DirectProbe's ``dis.txt``) or every two (``"all"``);
- *small pair*: one of at most :data:`_SMALL_PAIR` points, solved with many others at once
  (:func:`~ftprobe.geometry.hulls.pivoting.bpp`, on the GPU when there is one);
- *big pair*: the others, and the small ones the batch left uncertified, each solved by
  :func:`~ftprobe.geometry.hulls.hull_distance`, in *worker processes* when there is
  enough work to pay for starting them (:func:`_pair_pool`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import ExitStack, contextmanager
from itertools import repeat
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from ftprobe.geometry.hulls.inputs import check_points, torch_device
from ftprobe.geometry.hulls.pair import hull_distance
from ftprobe.geometry.hulls.pivoting import bpp
from ftprobe.geometry.hulls.sharing import share_tasks
from ftprobe.geometry.partition import ClusteringLike

# Pairs with at most this many points go to the batched solver: their padded systems are
# small enough to solve thousands at once; larger pairs go to Wolfe's method one by one.
_SMALL_PAIR = 128
# Points x dimensions over the pairs left to Wolfe's method past which worker processes
# pay for their start (about two seconds each, importing torch; 10^7 is about a second).
_PROCESS_WORK = 3 * 10**7


def _small_pair_distances(
    x: np.ndarray,
    groups: list[np.ndarray],
    pairs: list[tuple[int, int]],
    *,
    rtol: float,
    atol: float,
    device: torch.device,
) -> tuple[np.ndarray, np.ndarray]:
    """Hull distances of many small cluster pairs at once (batched KKT pivoting).

    Returns the distances and a flag per pair saying whether the certificate met the
    tolerance (the caller re-solves the others with
    :func:`~ftprobe.geometry.hulls.hull_distance`).
    """
    out = np.zeros(len(pairs))
    certified = np.zeros(len(pairs), dtype=bool)
    sizes = np.array([len(groups[i]) + len(groups[j]) for i, j in pairs])
    # Bucket by padded size so that little work is spent on padding.
    width = np.maximum(8, 2 ** np.ceil(np.log2(np.maximum(sizes, 1)))).astype(int)
    for w in np.unique(width):
        sel = np.flatnonzero(width == w)
        for start in range(0, len(sel), 2048):
            part = sel[start : start + 2048]
            bsz = len(part)
            pts = np.zeros((bsz, w, x.shape[1]))
            member = np.full((bsz, w), -1, dtype=np.int64)
            for row, t in enumerate(part):
                i, j = pairs[t]
                a, b = x[groups[i]], x[groups[j]]
                centre = 0.5 * (a.mean(axis=0) + b.mean(axis=0))
                na, nb = len(a), len(b)
                pts[row, :na] = a - centre
                pts[row, na : na + nb] = b - centre
                member[row, :na] = 0
                member[row, na : na + nb] = 1
            scale = np.abs(pts).reshape(bsz, -1).max(axis=1).clip(1e-300)
            pts /= scale[:, None, None]
            p_t = torch.from_numpy(pts).to(device)
            mem_t = torch.from_numpy(member).to(device)
            valid = mem_t >= 0
            sign = torch.where(mem_t == 1, -1.0, 1.0).to(p_t.dtype)
            signed = p_t * sign[:, :, None]
            q = signed @ signed.transpose(1, 2)
            c = torch.zeros(bsz, w, dtype=q.dtype, device=device)
            lam, _, _ = bpp(q, c, mem_t, valid, valid.clone(), 2)
            lam = lam * valid
            wa = torch.where(mem_t == 0, lam, 0.0)
            wb = torch.where(mem_t == 1, lam, 0.0)
            wa = wa / wa.sum(dim=1, keepdim=True).clamp_min(1e-300)
            wb = wb / wb.sum(dim=1, keepdim=True).clamp_min(1e-300)
            p = (wa[:, None, :] @ p_t)[:, 0]
            qq = (wb[:, None, :] @ p_t)[:, 0]
            z = p - qq
            upper = torch.linalg.vector_norm(z, dim=1)
            s = (p_t @ z[:, :, None])[:, :, 0]
            smin_a = torch.where(mem_t == 0, s, torch.inf).amin(dim=1)
            smax_b = torch.where(mem_t == 1, s, -torch.inf).amax(dim=1)
            lower = (smin_a - smax_b) / upper.clamp_min(1e-300)
            up = upper.cpu().numpy()
            lo = lower.cpu().numpy()
            ok = (up - np.maximum(lo, 0.0) <= rtol * up + atol) | (up <= atol)
            out[part] = np.where(up <= atol, 0.0, up) * scale
            certified[part] = ok
    return out, certified


def pair_distance(x: np.ndarray, ia: np.ndarray, ib: np.ndarray, rtol: float, atol: float) -> float:
    """One task of :func:`cluster_distance_matrix`: the hulls of ``x[ia]`` and ``x[ib]``
    (wherever it runs: here, in a worker, or in its ``helper``)."""
    return hull_distance(x[ia], x[ib], rtol=rtol, atol=atol).distance


def _pair_distance_in(path: str, ia: np.ndarray, ib: np.ndarray, rtol: float, atol: float) -> float:
    """:func:`pair_distance` in a worker process, on the points saved at ``path`` (opened
    as a memory map: the workers share the pages, and opening one costs microseconds)."""
    return pair_distance(np.load(path, mmap_mode="r"), ia, ib, rtol, atol)


@contextmanager
def _pair_pool(x: np.ndarray, workers: int) -> Iterator[tuple[Executor, str]]:
    """Worker processes for :func:`_pair_distance_in`, and the path of ``x`` saved for them.

    Loky's processes, because they do not run the caller's ``__main__`` again (a script
    without a main guard works) and start clean of this process's threads; a pool of its
    own, shut down on leaving, because workers left idle would hold up the exit of a
    process that made them (the forked runs of a benchmark, a study's workers).
    """
    from joblib.externals.loky import ProcessPoolExecutor

    with tempfile.TemporaryDirectory(prefix="ftprobe-points-") as tmp:
        path = str(Path(tmp) / "points.npy")
        np.save(path, x)
        with ProcessPoolExecutor(max_workers=workers, env={"OMP_NUM_THREADS": "1"}) as pool:
            yield pool, path


def cluster_distance_matrix(
    x: np.ndarray,
    clustering: ClusteringLike,
    *,
    pairs: Literal["cross-label", "all"] = "cross-label",
    clusters: np.ndarray | None = None,
    device: str | torch.device = "auto",
    progress: bool = True,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    workers: int | None = None,
    helper: Callable[[np.ndarray, np.ndarray, float, float], Future[float]] | None = None,
) -> np.ndarray:
    """Hull-to-hull distances between the clusters of a partition of the points ``x``.

    Returns a symmetric ``(K, K)`` array. With ``pairs="cross-label"`` (DirectProbe's
    ``dis.txt``) only pairs of clusters with different labels are computed and the other
    entries are ``nan``; ``"all"`` computes every pair. ``clusters`` (a boolean mask or
    index array over the K clusters) restricts the computation to those clusters, e.g. the
    clusters large enough to count in the statistics. Every distance is certified to ``rtol
    * distance + atol * scale`` (see :func:`~ftprobe.geometry.hulls.hull_distance`). The
    pairs too large to batch are solved by ``workers`` processes (default: torch's thread
    count when there is enough work to pay for starting them, else one, in this process).
    ``helper(ia, ib, rtol, atol)``, a process already running (such as
    :meth:`~ftprobe.geometry.ahead.HullsAhead.pair`), replaces the workers: it shares those
    pairs with this process, computing the distance of ``x[ia]`` and ``x[ib]`` as
    :func:`~ftprobe.geometry.hulls.hull_distance` does here.
    """
    x = check_points("x", x)
    assignment = np.asarray(clustering.assignment)
    labels = np.asarray(clustering.cluster_labels)
    k = int(clustering.n_clusters)
    if len(assignment) != len(x):
        raise ValueError(f"clustering has {len(assignment)} points but x has {len(x)}")
    keep = np.ones(k, dtype=bool)
    if clusters is not None:
        sel = np.asarray(clusters)
        keep = sel.astype(bool) if sel.dtype == bool else np.isin(np.arange(k), sel)
    order = np.argsort(assignment, kind="stable")
    bounds = np.searchsorted(assignment[order], np.arange(k + 1))
    groups = [order[bounds[i] : bounds[i + 1]] for i in range(k)]
    todo = [
        (i, j)
        for i in range(k)
        for j in range(i + 1, k)
        if keep[i] and keep[j] and (pairs == "all" or labels[i] != labels[j])
    ]
    dist = np.full((k, k), np.nan)
    np.fill_diagonal(dist, 0.0)
    dev = torch_device(device)
    small = [t for t, (i, j) in enumerate(todo) if len(groups[i]) + len(groups[j]) <= _SMALL_PAIR]
    done = np.zeros(len(todo), dtype=bool)
    if small:
        d_small, ok = _small_pair_distances(
            x, groups, [todo[t] for t in small], rtol=rtol, atol=atol, device=dev
        )
        for t, dv, good in zip(small, d_small, ok, strict=True):
            if good:
                i, j = todo[t]
                dist[i, j] = dist[j, i] = dv
                done[t] = True
    rest = [t for t in range(len(todo)) if not done[t]]
    # Larger pairs first, so that the workers finish together.
    rest.sort(key=lambda t: -(len(groups[todo[t][0]]) + len(groups[todo[t][1]])))

    # the two clusters' points of each remaining pair, in that order
    ia = [groups[todo[t][0]] for t in rest]
    ib = [groups[todo[t][1]] for t in rest]
    bar = tqdm(total=len(rest), desc="hull distances", disable=not progress or len(rest) < 20)

    def record(n: int, value: float) -> None:
        i, j = todo[rest[n]]
        dist[i, j] = dist[j, i] = value
        bar.update()

    if helper is not None:
        # This process and the helper take pairs from one queue: no workers to start.
        share_tasks(
            range(len(rest)),
            lambda n: record(n, pair_distance(x, ia[n], ib[n], rtol, atol)),
            threads=1,
            helper=lambda n: helper(ia[n], ib[n], rtol, atol),
            keep=record,
        )
    else:
        # Wolfe's method is many small NumPy and BLAS calls that hold the GIL, so threads would
        # take turns (two ran slower than one): worker processes solve whole pairs instead.
        if workers is None:
            workers = torch.get_num_threads()
            work = sum(len(a) + len(b) for a, b in zip(ia, ib, strict=True)) * x.shape[1]
            if work < _PROCESS_WORK:
                workers = 1
        workers = max(1, min(workers, len(rest)))
        with ExitStack() as stack:
            if workers > 1:
                pool, path = stack.enter_context(_pair_pool(x, workers))
                values = pool.map(
                    _pair_distance_in, repeat(path), ia, ib, repeat(rtol), repeat(atol)
                )
            else:
                values = map(pair_distance, repeat(x), ia, ib, repeat(rtol), repeat(atol))
            for n, value in enumerate(values):
                record(n, value)
    bar.close()
    return dist
