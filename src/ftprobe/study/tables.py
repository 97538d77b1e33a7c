"""The study's tidy tables, gathered from finished jobs.

Every table has the representation keys
``seed, model, finetune_task, step, is_last_step, task, layer`` (one fine-tuning
run is ``(seed, model, finetune_task)``; ``step`` 0 is the model before
fine-tuning; ``task`` is the task represented and probed, which differs from
``finetune_task`` for cross-task pairs) followed by its own columns:

``representations``
    one row per representation and ``split`` ("train": DirectProbe fitted on the
    training split, predicting the test split, and the classifier probe trained on
    train, scored on test; "test": DirectProbe fitted on the test split's own
    space): ``n_examples, n_labels, n_labels_present, n_clusters, dp_accuracy,
    dist_min, dist_mean, dist_max, clf_accuracy, clf_macro_f1,
    clf_accuracy_sd, clf_macro_f1_sd, clf_restarts, clf_hidden_sizes, clf_l2,
    clf_search, train_test_similarity`` (Pearson of the train and test distance
    vectors over the label pairs both define,
    :func:`ftprobe.geometry.similarity.pearson_over_common_pairs`),
    ``train_test_similarity_pairs`` (how many pairs that was) and
    ``train_test_similarity_reason`` (why the similarity is NaN, empty when it is not).
    The classifier columns are on the "train" row: accuracy and macro-F1 on the
    test split, means over ``clf_restarts`` restarts, with their sample standard
    deviations (NaN with one restart: undefined, not 0); the hidden sizes
    (written ``"256x256"``) and the L2 weight the probe used, chosen on held-out
    training vectors when ``clf_search`` is true.
``labels``
    one row per representation, ``split`` and ``label``: ``n_points,
    counted, outside_min, inside_max, inside_mean, centroid`` (``counted``: the label has a
    cluster the statistics count; its statistics are NaN where undefined, never 0; the
    centroid is the label's mean vector, a list of floats).
``label_pairs``
    one row per representation, ``split`` and label pair ``label_a < label_b``
    (label-set order): ``distance`` (the distance vector, ``vec.txt``, which writes 0 for
    an undefined pair) and ``defined`` (both labels counted: only these enter a similarity).
``classifier_labels``
    one row per representation and ``label``: ``accuracy, accuracy_sd, support``
    on the test split (mean and sample standard deviation over the restarts).
``classifier_search``
    with ``search = true``, one row per representation and searched setting:
    ``hidden_sizes, l2, heldout_accuracy`` (accuracy on the part of the training
    split held out of the search) and ``selected`` (the setting the probe used).
``cka``
    one row per representation after step 0: ``cka``, linear CKA between its
    training-split vectors and those of the same model, task and layer at step 0.
``curves``
    memorization learning curves, one row per representation, ``fraction`` of
    subtrain and ``eval_split`` ("subtrain", "subtest", "test"): ``n_train,
    accuracy, macro_f1, accuracy_sd`` (means and sample standard deviation over
    the probe's restarts).
``controls``
    with ``[probes] controls``, one row per representation and label ``control``
    ("control-task": Hewitt and Liang's type-level random labels on both
    splits; "shuffled": permuted training labels, gold test labels):
    ``task_accuracy`` (the classifier probe on the task), ``accuracy``,
    ``accuracy_sd`` and ``train_accuracy`` of the same probe on the control,
    ``selectivity`` (task accuracy minus control accuracy; NaN with a
    ``selectivity_reason`` when either is missing), and for the control task
    ``n_train_types``, ``n_test_types`` and ``n_test_unseen`` (test units whose
    type never occurs in training). With DirectProbe on, the control task's row
    also has DirectProbe's view of it on the training split: ``n_clusters``
    against ``n_labels_present`` (as many clusters as labels: the control task
    is linear too), ``dp_accuracy`` (nearest cluster, on the control's test
    labels) and ``task_n_clusters`` (the task's own clusters, for comparison).
``random_init``
    with "random-init" among the controls, one row per ``seed, model, task,
    layer`` of an encoder with the model's architecture and random weights
    (seeded by ``seed``), at the layers represented before fine-tuning:
    ``accuracy``, ``accuracy_sd``, ``control_accuracy`` and ``selectivity``
    (NaN without "control-task").
``mdl``
    with ``mdl = true``, one row per representation and ``labels`` ("task";
    "control-task" too when it is on): the online code length of the training
    split's labels over the study's fractions (Voita and Titov, 2020),
    ``code_length_bits``, ``uniform_bits`` (the same labels at log2(K) bits
    each), ``compression`` (their ratio), ``first_block_bits``, ``n_coded`` and
    ``n_blocks``.

Each job writes its own small parts (``result.json`` and Parquet files in its
folder); :func:`build_tables` joins them to the plan's rows and writes
``tables/<name>.parquet`` and a CSV copy.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from ftprobe.data.atomic import atomic_path
from ftprobe.geometry.cka import linear_cka
from ftprobe.geometry.similarity import pearson_over_common_pairs
from ftprobe.probes.controls import CONTROL_TASK
from ftprobe.probes.settings import SEARCH_COLUMNS, format_sizes
from ftprobe.study.plan import Plan, RepresentationRow
from ftprobe.study.runner import job_dir, read_result

KEYS = ["seed", "model", "finetune_task", "step", "is_last_step", "task", "layer"]
TABLES = (
    "representations",
    "labels",
    "label_pairs",
    "classifier_labels",
    "classifier_search",
    "curves",
    "cka",
    "controls",
    "random_init",
    "mdl",
)
CONTROL_COLUMNS = (
    "control",
    "task_accuracy",
    "accuracy",
    "accuracy_sd",
    "train_accuracy",
    "selectivity",
    "selectivity_reason",
    "n_train_types",
    "n_test_types",
    "n_test_unseen",
    "task_n_clusters",
    "n_clusters",
    "n_labels_present",
    "dp_accuracy",
)
RANDOM_INIT_COLUMNS = (
    "seed",
    "model",
    "task",
    "layer",
    "accuracy",
    "accuracy_sd",
    "control_accuracy",
    "selectivity",
    "selectivity_reason",
)
MDL_COLUMNS = (
    "labels",
    "code_length_bits",
    "uniform_bits",
    "compression",
    "first_block_bits",
    "n_coded",
    "n_blocks",
)


def _keys(row: RepresentationRow) -> dict[str, object]:
    d = asdict(row)
    return {k: d[k] for k in KEYS}


def _part(out_dir: Path, key: str | None, name: str) -> pd.DataFrame | None:
    if key is None:
        return None
    path = job_dir(out_dir, key) / name
    return pd.read_parquet(path) if path.is_file() else None


def _distance_map(frame: pd.DataFrame | None) -> dict[tuple[str, str], float] | None:
    """The defined label-pair distances of one DirectProbe part (None when it is missing)."""
    if frame is None:
        return None
    rows = frame[frame["defined"].astype(bool) & np.isfinite(frame["distance"])]
    return {
        (str(a), str(b)): float(d)
        for a, b, d in zip(rows["label_a"], rows["label_b"], rows["distance"], strict=True)
    }


def _train_test_similarity(
    train: pd.DataFrame | None, test: pd.DataFrame | None
) -> dict[str, object]:
    """The train-test spatial similarity columns of one representation."""
    a, b = _distance_map(train), _distance_map(test)
    if a is None or b is None:
        missing = "training" if a is None else "test"
        return {
            "train_test_similarity": float("nan"),
            "train_test_similarity_pairs": 0,
            "train_test_similarity_reason": f"no DirectProbe result on the {missing} split",
        }
    sim = pearson_over_common_pairs(a, b)
    return {
        "train_test_similarity": sim.correlation,
        "train_test_similarity_pairs": sim.n_pairs,
        "train_test_similarity_reason": sim.reason or "",
    }


def _classifier_columns(result: dict[str, object]) -> dict[str, object]:
    """The classifier probe's columns of a representation's "train" row."""
    sizes = result.get("hidden_sizes")
    return {
        "clf_accuracy": result.get("accuracy"),
        "clf_macro_f1": result.get("macro_f1"),
        # Undefined with one restart (and absent from results of older versions): NaN.
        "clf_accuracy_sd": _number(result.get("accuracy_sd")),
        "clf_macro_f1_sd": _number(result.get("macro_f1_sd")),
        "clf_restarts": result.get("restarts", 1),
        "clf_hidden_sizes": format_sizes(sizes) if isinstance(sizes, list) else None,
        "clf_l2": _number(result.get("l2")),
        "clf_search": bool(result.get("search", False)),
    }


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else float("nan")


def collect_tables(plan: Plan, out_dir: Path) -> dict[str, pd.DataFrame]:
    """Join every finished job's parts to the plan's representation rows."""
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    reps: list[dict[str, object]] = []
    for row in plan.rows:
        keys = _keys(row)
        pairs = {
            split: _part(out_dir, key, "label_pairs.parquet")
            for split, key in (("train", row.directprobe_train), ("test", row.directprobe_test))
        }
        similarity = _train_test_similarity(pairs["train"], pairs["test"])
        clf = read_result(out_dir, row.classifier) if row.classifier else None
        for split, key in (("train", row.directprobe_train), ("test", row.directprobe_test)):
            dp = read_result(out_dir, key) if key else None
            record: dict[str, object] = {**keys, "split": split}
            if dp is not None:
                for col in ("n_examples", "n_labels", "n_labels_present", "n_clusters"):
                    record[col] = dp.get(col)
                record["dp_accuracy"] = dp.get("accuracy")
                for col in ("dist_min", "dist_mean", "dist_max"):
                    record[col] = dp.get(col)
            if split == "train" and clf is not None:
                record.update(_classifier_columns(clf))
            record.update(similarity)
            reps.append(record)
            for name, file in (
                ("labels", "labels.parquet"),
                ("label_pairs", "label_pairs.parquet"),
            ):
                frame = _part(out_dir, key, file)
                if frame is not None:
                    parts[name].append(frame.assign(**keys, split=split))
        frame = _part(out_dir, row.classifier, "per_label.parquet")
        if frame is not None:
            parts["classifier_labels"].append(frame.assign(**keys))
        frame = _part(out_dir, row.classifier, "search.parquet")
        if frame is not None:
            parts["classifier_search"].append(frame.assign(**keys))
        frame = _part(out_dir, row.curve, "curve.parquet")
        if frame is not None:
            parts["curves"].append(frame.assign(**keys))
    parts["cka"] = [_cka_table(plan, out_dir)]
    parts["controls"] = [_controls_table(plan, out_dir)]
    parts["random_init"] = [_random_init_table(plan, out_dir)]
    parts["mdl"] = [_mdl_table(plan, out_dir)]
    representations = pd.DataFrame(reps)
    # The classifier's columns exist on "train" rows only: nullable dtypes keep the others
    # missing (not NaN in a column of integers or booleans) through Parquet and back.
    for column, dtype in (("clf_restarts", "Int64"), ("clf_search", "boolean")):
        if column in representations.columns:
            representations[column] = representations[column].astype(dtype)
    tables = {"representations": representations}
    for name in TABLES[1:]:
        frames = parts[name]
        tables[name] = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if tables["classifier_search"].empty:
        # Without a search the table is empty but keeps its columns, for whoever reads it.
        tables["classifier_search"] = pd.DataFrame(columns=[*KEYS, *SEARCH_COLUMNS])
    for name, frame in tables.items():
        if not frame.empty:
            lead = [c for c in KEYS + ["split"] if c in frame.columns]
            tables[name] = frame[lead + [c for c in frame.columns if c not in lead]]
    return tables


def _accuracy(result: dict[str, object] | None) -> float | None:
    value = None if result is None else result.get("accuracy")
    return float(value) if isinstance(value, int | float) else None


def _selectivity(task: float | None, control: float | None) -> dict[str, object]:
    from ftprobe.probes.controls import selectivity

    reason = ""
    if task is None:
        reason = "no classifier probe result on the task"
    elif control is None:
        reason = "no classifier probe result on the control"
    return {"selectivity": selectivity(task, control), "selectivity_reason": reason}


def _controls_table(plan: Plan, out_dir: Path) -> pd.DataFrame:
    rows = []
    for row in plan.rows:
        if not row.controls:
            continue
        task = _accuracy(read_result(out_dir, row.classifier) if row.classifier else None)
        task_dp = read_result(out_dir, row.directprobe_train) if row.directprobe_train else None
        control_dp = (
            read_result(out_dir, row.directprobe_control) if row.directprobe_control else None
        )
        for control, key in row.controls.items():
            result = read_result(out_dir, key)
            if result is None:
                continue
            rows.append(
                {
                    **_keys(row),
                    "control": control,
                    "task_accuracy": task if task is not None else float("nan"),
                    "accuracy": _number(result.get("accuracy")),
                    "accuracy_sd": _number(result.get("accuracy_sd")),
                    "train_accuracy": _number(result.get("train_accuracy")),
                    **_selectivity(task, _accuracy(result)),
                    # Type counts belong to the control task; NaN for shuffled labels.
                    **{
                        col: _number(result.get(col))
                        for col in ("n_train_types", "n_test_types", "n_test_unseen")
                    },
                    **_control_directprobe(
                        task_dp, control_dp if control == CONTROL_TASK else None
                    ),
                }
            )
    return pd.DataFrame(rows, columns=[*KEYS, *CONTROL_COLUMNS])


def _control_directprobe(
    task: dict[str, object] | None, control: dict[str, object] | None
) -> dict[str, float]:
    """DirectProbe's clusters on the control task beside the task's (NaN where not run)."""
    out = {"task_n_clusters": _number(task.get("n_clusters")) if control and task else math.nan}
    for col in ("n_clusters", "n_labels_present"):
        out[col] = _number(control.get(col)) if control else math.nan
    out["dp_accuracy"] = _number(control.get("accuracy")) if control else math.nan
    return out


def _random_init_table(plan: Plan, out_dir: Path) -> pd.DataFrame:
    rows = []
    for base in plan.baselines:
        result = read_result(out_dir, base.classifier)
        if result is None:
            continue
        control = read_result(out_dir, base.control_task) if base.control_task else None
        task = _accuracy(result)
        selectivity = _selectivity(task, _accuracy(control))
        if base.control_task is None:
            selectivity["selectivity_reason"] = "no control task in the study's controls"
        rows.append(
            {
                "seed": base.seed,
                "model": base.model,
                "task": base.task,
                "layer": base.layer,
                "accuracy": _number(task),
                "accuracy_sd": _number(result.get("accuracy_sd")),
                "control_accuracy": _number(_accuracy(control)),
                **selectivity,
            }
        )
    return pd.DataFrame(rows, columns=list(RANDOM_INIT_COLUMNS))


def _mdl_table(plan: Plan, out_dir: Path) -> pd.DataFrame:
    rows = []
    for row in plan.rows:
        for labels, key in row.mdl.items():
            result = read_result(out_dir, key)
            if result is not None:
                rows.append(
                    {**_keys(row), "labels": labels, **{c: result.get(c) for c in MDL_COLUMNS[1:]}}
                )
    return pd.DataFrame(rows, columns=[*KEYS, *MDL_COLUMNS])


def _cka_table(plan: Plan, out_dir: Path) -> pd.DataFrame:
    from ftprobe.study.execute import load_vectors

    base = {
        (r.seed, r.model, r.finetune_task, r.task, r.layer): r.extract_train
        for r in plan.rows
        if r.step == 0
    }
    cache: dict[tuple[str, int], np.ndarray] = {}

    def vectors(key: str, layer: int) -> np.ndarray | None:
        if read_result(out_dir, key) is None:
            return None
        if (key, layer) not in cache:
            cache[(key, layer)] = np.asarray(load_vectors(out_dir, key, layer)[0], dtype=np.float64)
        return cache[(key, layer)]

    rows = []
    for row in plan.rows:
        ref = base.get((row.seed, row.model, row.finetune_task, row.task, row.layer))
        if row.step == 0 or ref is None:
            continue
        before, after = vectors(ref, row.layer), vectors(row.extract_train, row.layer)
        if before is None or after is None:
            continue
        rows.append({**_keys(row), "split": "train", "cka": linear_cka(before, after)})
    return pd.DataFrame(rows)


def write_tables(tables: dict[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    """Write each table as Parquet (for analyses) and CSV (for eyes), atomically."""
    folder = out_dir / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in tables.items():
        for suffix in (".parquet", ".csv"):
            path = folder / f"{name}{suffix}"
            with atomic_path(path) as tmp:
                if suffix == ".parquet":
                    frame.to_parquet(tmp, index=False)
                else:
                    frame.to_csv(tmp, index=False)
            written.append(path)
    return written


def read_tables(out_dir: Path) -> dict[str, pd.DataFrame]:
    """Read the tables a study run wrote (missing ones come back empty)."""
    folder = Path(out_dir) / "tables"
    return {
        name: pd.read_parquet(folder / f"{name}.parquet")
        if (folder / f"{name}.parquet").is_file()
        else pd.DataFrame()
        for name in TABLES
    }
