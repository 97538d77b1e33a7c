"""Planning: from a validated study to the full list of jobs and the rows they fill.

Planning does no heavy work. It needs two facts that the study file does not
hold: how many training examples each fine-tuned task has (to know which
checkpoint steps fine-tuning will save) and how many layers each model has (to
expand "all layers" and to reject a layer out of range). :func:`plan_study`
takes them as arguments; the runner reads them cheaply beforehand.

The representation before fine-tuning (checkpoint step 0) is the base model's,
so it is planned once per (model, task) and shared by every seed and
fine-tuning task: the same work always has the same job key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from ftprobe.errors import ConfigError
from ftprobe.probes.controls import CONTROL_TASK, LABEL_CONTROLS, RANDOM_INIT
from ftprobe.study.jobs_model import Job, Resources
from ftprobe.study.spec import ProbeSpec, Study


def checkpoint_steps(
    n_sentences: int, epochs: int, batch_size: int, save_every: int, max_steps: int = 0
) -> list[int]:
    """The update steps at which fine-tuning will save the encoder.

    Fine-tuning batches whole sentences, so a run makes ``ceil(n_sentences /
    batch_size)`` updates an epoch; the saving rule itself is fine-tuning's own.
    """
    from ftprobe.encode.finetune import checkpoint_steps as saved_steps

    total = epochs * math.ceil(n_sentences / batch_size)
    if max_steps:
        total = min(total, max_steps)
    return saved_steps(total, save_every)


DIRECTPROBE_RESULTS = 2
"""What a DirectProbe job's parts mean, part of its key: 2 since undefined label statistics are
NaN (not 0) and identical same-label vectors start as one cluster, so folders of older results
are recomputed rather than mixed with new ones."""


@dataclass(frozen=True)
class RepresentationRow:
    """One representation of the study and the jobs whose results describe it.

    ``finetune_task`` is None for rows of the untouched base model that belong to
    no fine-tuning run (never produced: step 0 of every run stands for them).
    """

    seed: int
    model: str
    finetune_task: str
    step: int
    is_last_step: bool
    task: str
    layer: int
    extract_train: str
    directprobe_train: str | None
    directprobe_test: str | None
    classifier: str | None
    curve: str | None
    controls: dict[str, str] = field(default_factory=dict)
    mdl: dict[str, str] = field(default_factory=dict)
    directprobe_control: str | None = None


@dataclass(frozen=True)
class BaselineRow:
    """The probes of one layer of a randomly initialised encoder (``controls = ["random-init"]``).

    The encoder has the model's architecture and random weights drawn with
    ``seed``; ``classifier`` is the probe on the task's labels and
    ``control_task`` (with "control-task" also on) the probe on its control task.
    """

    seed: int
    model: str
    task: str
    layer: int
    classifier: str
    control_task: str | None


@dataclass
class Plan:
    """Every job of a study, in an order where each job comes after the jobs it needs."""

    jobs: dict[str, Job] = field(default_factory=dict)
    rows: list[RepresentationRow] = field(default_factory=list)
    baselines: list[BaselineRow] = field(default_factory=list)

    def add(self, job: Job) -> str:
        """Add ``job`` unless the same work is planned already; return its key."""
        key = job.key
        if key not in self.jobs:
            missing = [d for d in job.deps if d not in self.jobs]
            if missing:
                raise ValueError(f"job {job.describe()} planned before its dependencies {missing}")
            self.jobs[key] = job
        return key

    def count(self) -> dict[str, int]:
        """Number of planned jobs of each kind."""
        out: dict[str, int] = {}
        for job in self.jobs.values():
            out[job.kind] = out.get(job.kind, 0) + 1
        return out


def classifier_settings(probes: ProbeSpec) -> dict[str, object]:
    """The classifier probe's settings as job parameters (so they are part of the job key).

    Classifier and curve jobs both carry them, so changing any setting recomputes
    both; the search's grid is included only when it is used.
    """
    settings: dict[str, object] = {
        "hidden_sizes": [int(h) for h in probes.hidden_sizes],
        "l2": float(probes.l2),
        "search": bool(probes.search),
        "restarts": int(probes.restarts),
    }
    if probes.search:
        settings["search_sizes"] = [int(h) for h in probes.search_sizes]
        settings["search_l2"] = [float(w) for w in probes.search_l2]
        settings["search_fraction"] = float(probes.search_fraction)
    return settings


def _layer_index(value: str, n_layers: int, where: str) -> int:
    if value == "first":
        return 0
    if value == "last":
        return n_layers
    layer = int(value)
    if layer < 0:
        layer += n_layers + 1
    if not 0 <= layer <= n_layers:
        raise ConfigError(
            f"{where}: layer {value} is out of range: the model has layers 0..{n_layers}"
        )
    return layer


def _steps_with_all_layers(
    spec: tuple[str, ...], steps: list[int], where: str, task: str
) -> set[int]:
    chosen = set()
    for at in spec:
        if at == "first":
            chosen.add(steps[0])
        elif at == "last":
            chosen.add(steps[-1])
        elif int(at) in steps:
            chosen.add(int(at))
        else:
            # A step no checkpoint has would silently drop every layer the user asked for.
            raise ConfigError(
                f"{where}: [representations] all_layers_at names step {at}, which fine-tuning "
                f"on {task} never saves (its checkpoints: {', '.join(map(str, steps))})"
            )
    return chosen


def plan_study(
    study: Study, train_sizes: Mapping[str, int], model_layers: Mapping[str, int]
) -> Plan:
    """Plan every job of ``study``.

    ``train_sizes`` maps each fine-tuned task to its number of distinct training
    sentences (after ``max_train``), which fixes the number of updates;
    ``model_layers`` maps each model name to its number of transformer layers
    (layer 0 is the embedding layer, so layers run 0..n).
    """
    plan = Plan()
    where = str(study.path)
    reps = study.representations
    ft = study.finetune
    probes = study.probes

    for model in study.models:
        n_layers = model_layers[model.name]
        every = sorted({_layer_index(str(v), n_layers, where) for v in reps.every_checkpoint})
        for seed in study.seeds:
            for ft_task in study.finetune_tasks:
                steps = checkpoint_steps(
                    train_sizes[ft_task], ft.epochs, ft.batch_size, ft.save_every, ft.max_steps
                )
                ft_spec = study.task(ft_task)
                ft_key = plan.add(
                    Job(
                        "finetune",
                        {
                            "model": model.path,
                            "task": ft_task,
                            "split": ft_spec.train_split,
                            "max_train": ft_spec.max_train,
                            "eval_split": ft_spec.test_split,
                            "max_eval": ft_spec.max_test,
                            "options": dict(ft_spec.options),
                            "seed": seed,
                            "epochs": ft.epochs,
                            "batch_size": ft.batch_size,
                            "learning_rate": ft.learning_rate,
                            "warmup_ratio": ft.warmup_ratio,
                            "weight_decay": ft.weight_decay,
                            "save_every": ft.save_every,
                            "max_steps": ft.max_steps,
                            "subtrain_fraction": probes.subtrain_fraction,
                            "pooling": reps.pooling,
                            **_data_params(study, ft_task),
                        },
                        resources=Resources(cpus=2, gpus=1),
                        label=f"fine-tune {model.name} on {ft_task} (seed {seed})",
                    )
                )
                probed = [ft_task] + [c.probe for c in study.cross if c.finetune == ft_task]
                all_layer_steps = _steps_with_all_layers(reps.all_layers_at, steps, where, ft_task)
                for task_name in dict.fromkeys(probed):
                    for step in steps:
                        layers = list(range(n_layers + 1)) if step in all_layer_steps else every
                        if not layers:
                            continue  # nothing represented at this checkpoint
                        _plan_representation(
                            plan,
                            study,
                            model.name,
                            model.path,
                            seed,
                            ft_task,
                            ft_key,
                            step,
                            step == steps[-1],
                            task_name,
                            layers,
                        )
    if not probes.directprobe and not probes.classifier:
        raise ConfigError(f"{where}: [probes] enables neither directprobe nor classifier")
    if RANDOM_INIT in probes.controls:
        _plan_random_init(plan, study)
    return plan


def _data_params(study: Study, task_name: str) -> dict[str, str | None]:
    """Where a job reads its task's data, and a digest of that data's content (the key's part
    that keeps one corpus's results from being reused for another)."""
    return {
        "data_dir": str(study.data_dir) if study.data_dir else None,
        "corpus": study.corpus.get(task_name),
    }


def _extract_params(
    study: Study, task_name: str, role: str, layers: list[int]
) -> dict[str, object]:
    """An extraction's parameters, less its encoder: one task split, its layers and pooling."""
    task = study.task(task_name)
    split, limit = (
        (task.train_split, task.max_train) if role == "train" else (task.test_split, task.max_test)
    )
    return {
        "task": task_name,
        "split": split,
        "max_examples": limit,
        "options": dict(task.options),
        "layers": layers,
        "pooling": study.representations.pooling,
        **_data_params(study, task_name),
    }


def _plan_random_init(plan: Plan, study: Study) -> None:
    """The random-init baseline: every task and layer represented before fine-tuning, again
    on an encoder of the same architecture with random weights (one per model and seed)."""
    paths = {m.name: m.path for m in study.models}
    layers: dict[tuple[int, str, str], set[int]] = {}
    for row in plan.rows:
        if row.step == 0 and row.classifier is not None:
            layers.setdefault((row.seed, row.model, row.task), set()).add(row.layer)
    for (seed, model, task_name), chosen in layers.items():
        init = plan.add(
            Job(
                "randominit",
                {"model": paths[model], "seed": seed},
                label=f"random-init {model} (seed {seed})",
            )
        )
        encoder = {"model": paths[model], "finetune": None, "step": 0, "random_init": init}
        extract = {
            role: plan.add(
                Job(
                    "extract",
                    {**encoder, **_extract_params(study, task_name, role, sorted(chosen))},
                    deps=(init,),
                    resources=Resources(cpus=2, gpus=1),
                    label=f"extract {model}@random-init {task_name}/{role}",
                )
            )
            for role in ("train", "test")
        }
        for layer in sorted(chosen):
            where = f"{model}@random-init {task_name} L{layer}"
            clf = plan.add(_classifier_job(study, extract, layer, seed, where))
            control = None
            if CONTROL_TASK in study.probes.controls:
                control = plan.add(_control_job(study, extract, layer, seed, CONTROL_TASK, where))
            plan.baselines.append(BaselineRow(seed, model, task_name, layer, clf, control))


def _probe_params(
    study: Study, extract: Mapping[str, str], layer: int, seed: int
) -> dict[str, object]:
    """What a classifier probe trained on train and scored on test is keyed on."""
    return {
        "train": extract["train"],
        "test": extract["test"],
        "layer": layer,
        **classifier_settings(study.probes),
        "seed": seed,
    }


def _classifier_job(
    study: Study, extract: Mapping[str, str], layer: int, seed: int, where: str
) -> Job:
    return Job(
        "classifier",
        _probe_params(study, extract, layer, seed),
        deps=(extract["train"], extract["test"]),
        label=f"classifier probe {where}",
    )


def _control_job(
    study: Study, extract: Mapping[str, str], layer: int, seed: int, control: str, where: str
) -> Job:
    """The classifier probe trained on a label control ("control-task" or "shuffled")."""
    return Job(
        "control",
        {**_probe_params(study, extract, layer, seed), "control": control},
        deps=(extract["train"], extract["test"]),
        label=f"classifier probe on {control} {where}",
    )


def _mdl_job(
    study: Study, extract: Mapping[str, str], layer: int, seed: int, labels: str, where: str
) -> Job:
    """Online code length of the training split's labels (or its control task's)."""
    return Job(
        "mdl",
        {
            "train": extract["train"],
            "layer": layer,
            **classifier_settings(study.probes),
            "seed": seed,
            "fractions": [float(f) for f in study.probes.fractions],
            "labels": labels,
        },
        deps=(extract["train"],),
        label=f"MDL code length ({labels}) {where}",
    )


def _plan_representation(
    plan: Plan,
    study: Study,
    model_name: str,
    model_path: str,
    seed: int,
    ft_task: str,
    ft_key: str,
    step: int,
    is_last: bool,
    task_name: str,
    layers: list[int],
) -> None:
    probes = study.probes
    task = study.task(task_name)
    # Step 0 is the base model itself: share its extraction across runs and seeds.
    encoder = {"model": model_path, "finetune": None if step == 0 else ft_key, "step": step}
    deps = () if step == 0 else (ft_key,)
    extract = {}
    for role in ("train", "test"):
        params = _extract_params(study, task_name, role, layers)
        extract[role] = plan.add(
            Job(
                "extract",
                {**encoder, **params},
                deps=deps,
                resources=Resources(cpus=2, gpus=1),
                label=f"extract {model_name}@{step} {task_name}/{params['split']}",
            )
        )
    both = (extract["train"], extract["test"])
    for layer in layers:
        where = f"{model_name}@{step} {task_name} L{layer}"
        dp_train = dp_test = dp_control = clf = curve = None
        if probes.directprobe:
            dp_train = plan.add(
                Job(
                    "directprobe",
                    {
                        "train": extract["train"],
                        "test": extract["test"],
                        "layer": layer,
                        "min_cluster_size": probes.min_cluster_size,
                        "results": DIRECTPROBE_RESULTS,
                    },
                    deps=both,
                    label=f"DirectProbe {where} (train, predict test)",
                )
            )
            dp_test = plan.add(
                Job(
                    "directprobe",
                    {
                        "train": extract["test"],
                        "test": None,
                        "layer": layer,
                        "min_cluster_size": probes.min_cluster_size,
                        "results": DIRECTPROBE_RESULTS,
                    },
                    deps=(extract["test"],),
                    label=f"DirectProbe {where} (test split's own space)",
                )
            )
            if CONTROL_TASK in probes.controls:
                # The same clustering of the same training vectors under the control task's
                # labels: does a type-level random labelling look linear too?
                dp_control = plan.add(
                    Job(
                        "directprobe",
                        {
                            "train": extract["train"],
                            "test": extract["test"],
                            "layer": layer,
                            "min_cluster_size": probes.min_cluster_size,
                            "results": DIRECTPROBE_RESULTS,
                            "control": CONTROL_TASK,
                            "seed": seed,
                        },
                        deps=both,
                        label=f"DirectProbe on the control task {where}",
                    )
                )
        controls: dict[str, str] = {}
        mdl: dict[str, str] = {}
        if probes.classifier:
            clf = plan.add(_classifier_job(study, extract, layer, seed, where))
            for control in (c for c in LABEL_CONTROLS if c in probes.controls):
                controls[control] = plan.add(
                    _control_job(study, extract, layer, seed, control, where)
                )
            if probes.mdl:
                for labels in ("task", CONTROL_TASK):
                    if labels == "task" or CONTROL_TASK in probes.controls:
                        mdl[labels] = plan.add(_mdl_job(study, extract, layer, seed, labels, where))
        own_task = task_name == ft_task
        ends = step == 0 or is_last
        if probes.memorization and own_task and ends and layer == max(layers):
            curve = plan.add(
                Job(
                    "curve",
                    {
                        **_probe_params(study, extract, layer, seed),
                        "subtrain_fraction": probes.subtrain_fraction,
                        "fractions": list(probes.fractions),
                        "task": task_name,
                        "split": task.train_split,
                        "max_examples": task.max_train,
                        "options": dict(task.options),
                        **_data_params(study, task_name),
                    },
                    deps=both,
                    label=f"memorization curve {where}",
                )
            )
        plan.rows.append(
            RepresentationRow(
                seed=seed,
                model=model_name,
                finetune_task=ft_task,
                step=step,
                is_last_step=is_last,
                task=task_name,
                layer=layer,
                extract_train=extract["train"],
                directprobe_train=dp_train,
                directprobe_test=dp_test,
                classifier=clf,
                curve=curve,
                controls=controls,
                mdl=mdl,
                directprobe_control=dp_control,
            )
        )
