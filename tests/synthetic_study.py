"""A generator of study tables with known structure, for the analyses' tests.

It writes the same tidy tables as the study runner (schemas of
``ftprobe.study.tables``) for a small made-up study whose answers are known by
construction, so a test can check that each analysis recovers them:

- classifier accuracy rises after fine-tuning except for one (model, task) pair;
  train/test similarity falls everywhere;
- model "tiny" is non-linear before (more clusters than labels) and has fewer
  clusters after; model "base" is linear throughout;
- the memorization curves' subtest behaves like test before and like subtrain after;
- each label's outside_min grows by a known amount (some shrink), with a bump
  in the middle of training that makes the paths non-monotone;
- centroids move by an amount proportional to (layer + 1), along layer + 1
  directions (so lower layers move less, in fewer directions);
- distance vectors drift from the original by noise that grows with the layer;
- fine-tuning on "a" pulls task "b"'s labels together and lowers its accuracy,
  fine-tuning on "c" pushes them apart.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ftprobe.study.tables import KEYS

STEPS = (0, 10, 20, 30)
DIM = 8


@dataclass
class Truth:
    """What the generated study shows, computed while generating it."""

    layers: dict[str, int] = field(default_factory=dict)
    exception: tuple[str, str] = ("tiny", "b")
    top3: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    bottom3: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    closest3: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    growth: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)


def _labels(task: str, n: int) -> list[str]:
    return [f"{task.upper()}{i:02d}" for i in range(n)]


def make_tables(
    seeds: tuple[int, ...] = (1, 2, 3),
    models: dict[str, int] | None = None,
    tasks: dict[str, int] | None = None,
    cross: tuple[tuple[str, str], ...] = (("a", "b"), ("c", "b")),
    seed: int = 0,
    own: tuple[str, ...] | None = None,
) -> tuple[dict[str, pd.DataFrame], Truth]:
    """Tables of a made-up study and the facts it was built to show.

    ``own`` lists the tasks fine-tuned and probed on themselves (default: all).
    """
    models = models or {"tiny": 3, "base": 3}
    tasks = tasks or {"a": 6, "b": 7, "c": 5}
    rng = np.random.default_rng(seed)
    truth = Truth(layers=dict(models))
    last = STEPS[-1]
    reps, labels, pairs, curves = [], [], [], []

    # Properties of the base model (step 0), shared by every seed and run.
    base_centroid, base_min, pair_d0, growth = {}, {}, {}, {}
    for model, n_layers in models.items():
        for task, n in tasks.items():
            names = _labels(task, n)
            mins = rng.permutation(np.linspace(0.5, 3.0, n))
            base_min[model, task] = dict(zip(names, mins, strict=True))
            order = sorted(names, key=lambda x: base_min[model, task][x])
            truth.closest3[model, task] = set(order[:3])
            g = rng.permutation(np.linspace(-0.4, 1.6, n))
            growth[model, task] = dict(zip(names, g, strict=True))
            ranked = sorted(names, key=lambda x: growth[model, task][x])
            truth.top3[model, task] = set(ranked[-3:])
            truth.bottom3[model, task] = set(ranked[:3])
            truth.growth[model, task] = growth[model, task]
            for layer in range(n_layers + 1):
                base_centroid[model, task, layer] = rng.normal(size=(n, DIM)) * 3
                pair_d0[model, task, layer] = rng.uniform(1, 5, size=n * (n - 1) // 2)

    runs = [(ft, ft) for ft in (tasks if own is None else own)] + list(cross)
    for s, (model, n_layers), (ft, task) in itertools.product(seeds, models.items(), runs):
        names = _labels(task, tasks[task])
        n = len(names)
        own = ft == task
        srng = np.random.default_rng([seed, s, zlib.crc32(f"{model}/{ft}/{task}".encode())])
        moves = {}
        for layer in range(n_layers + 1):
            basis = np.linalg.qr(srng.normal(size=(DIM, DIM)))[0][:, : layer + 1]
            moves[layer] = (srng.normal(size=(n, layer + 1)) @ basis.T) * (layer + 1)
        for step in STEPS:
            frac = step / last
            bump = np.sin(np.pi * frac)  # zero at both ends: a detour during training
            is_last = step == last
            layers = range(n_layers + 1) if step in (0, last) else [n_layers]
            for layer in layers:
                keys = dict(
                    seed=s,
                    model=model,
                    finetune_task=ft,
                    step=step,
                    is_last_step=is_last,
                    task=task,
                    layer=layer,
                )
                before = step == 0
                extra = 0 if model == "base" else (4 if before else 1)
                if own:
                    acc = 0.6 if before else (0.5 if (model, task) == truth.exception else 0.8)
                else:
                    acc = 0.6 if before else (0.45 if ft == "a" else 0.7)
                sim = 0.9 if before else 0.6
                for split in ("train", "test"):
                    rec = dict(
                        keys,
                        split=split,
                        n_examples=100,
                        n_labels=n,
                        n_labels_present=n,
                        n_clusters=n + extra,
                        dp_accuracy=acc,
                        dist_min=0.1,
                        dist_mean=1.0,
                        dist_max=3.0,
                        clf_accuracy=acc + srng.normal(0, 0.01) if split == "train" else np.nan,
                        clf_macro_f1=acc - 0.05 if split == "train" else np.nan,
                        train_test_similarity=sim + srng.normal(0, 0.01),
                        train_test_similarity_pairs=n * (n - 1) // 2,
                    )
                    reps.append(rec)
                    cents = base_centroid[model, task, layer] + frac * moves[layer]
                    cents = cents + bump * 0.3 * moves[layer][::-1]
                    for i, name in enumerate(names):
                        # Cross-task: fine-tuning on "a" pulls b's labels together, "c" apart.
                        g = growth[model, task][name] if own else (-0.4 if ft == "a" else 0.5)
                        om = base_min[model, task][name] + frac * g + 0.6 * bump * (-1) ** i
                        om += srng.normal(0, 0.01) if not before else 0.0
                        labels.append(
                            dict(
                                keys,
                                split=split,
                                label=name,
                                n_points=20,
                                outside_min=max(om, 0.0),
                                inside_max=2.0,
                                inside_mean=1.0,
                                centroid=cents[i].tolist(),
                            )
                        )
                    noise = np.random.default_rng([seed, s, layer, zlib.crc32(ft.encode())]).normal(
                        size=len(pair_d0[model, task, layer])
                    )
                    dist = pair_d0[model, task, layer] + frac * 0.35 * (layer + 1) * noise
                    for (a, b), d in zip(itertools.combinations(names, 2), dist, strict=True):
                        pairs.append(
                            dict(keys, split=split, label_a=a, label_b=b, distance=d, defined=True)
                        )
                if own and (before or is_last) and layer == n_layers:
                    for fraction in (0.25, 0.5, 0.75, 1.0):
                        lift = 0.1 * fraction
                        accs = {
                            "subtrain": 0.9,
                            "subtest": 0.93 if not before else 0.65,
                            "test": 0.66 if not before else 0.65,
                        }
                        if not before:
                            accs["subtrain"] = 0.95
                        for ev, a in accs.items():
                            curves.append(
                                dict(
                                    keys,
                                    fraction=fraction,
                                    eval_split=ev,
                                    n_train=int(80 * fraction),
                                    accuracy=a - 0.1 + lift + srng.normal(0, 0.005),
                                    macro_f1=a - 0.15 + lift,
                                )
                            )
    tables = {
        "representations": pd.DataFrame(reps),
        "labels": pd.DataFrame(labels),
        "label_pairs": pd.DataFrame(pairs),
        "classifier_labels": pd.DataFrame(columns=[*KEYS, "label", "accuracy", "support"]),
        "curves": pd.DataFrame(curves),
    }
    return tables, truth


STUDY_TOML = """
name = "synthetic"
seeds = [1, 2, 3]

[[model]]
name = "tiny"
path = "tiny"

[[model]]
name = "base"
path = "base"

[[task]]
name = "a"
train_split = "dev"
test_split = "test"

[[task]]
name = "b"
train_split = "train"
test_split = "test"

[[task]]
name = "c"
train_split = "dev"
test_split = "test"

[[cross]]
finetune = "a"
probe = "b"

[[cross]]
finetune = "c"
probe = "b"
"""


def make_small_tables() -> dict[str, pd.DataFrame]:
    """One model, two tasks, one cross pair: enough for every analysis and the report, quick
    to draw."""
    return make_tables(
        seeds=(1, 2), models={"base": 2}, tasks={"a": 5, "b": 4}, cross=(("a", "b"),), own=("b",)
    )[0]


def rename_labels(tables: dict[str, pd.DataFrame], task: str, prefix: str) -> None:
    """Prefix every label of ``task`` (e.g. with HTML, to test escaping)."""
    for name, cols in (("labels", ["label"]), ("label_pairs", ["label_a", "label_b"])):
        frame = tables[name]
        rows = frame["task"] == task
        for col in cols:
            frame.loc[rows, col] = prefix + frame.loc[rows, col]


def write_study(folder, tables: dict[str, pd.DataFrame], with_study_file: bool = True) -> None:
    """Lay the tables out as a study run does (``DIR/tables``), plus ``DIR/study.toml``."""
    from ftprobe.study.tables import write_tables

    write_tables(tables, folder)
    if with_study_file:
        (folder / "study.toml").write_text(STUDY_TOML, encoding="utf-8")
