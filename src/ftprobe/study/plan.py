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

from collections.abc import Mapping
from dataclasses import dataclass, field

from ftprobe.encode.settings import FinetuneSettings
from ftprobe.errors import ConfigError
from ftprobe.probes.controls import CONTROL_TASK, LABEL_CONTROLS, RANDOM_INIT
from ftprobe.study.job_specs import (
    ClassifierJob,
    ControlJob,
    CurveJob,
    DirectProbeJob,
    EncoderRef,
    ExtractJob,
    FinetuneJob,
    MdlJob,
    RandomInitJob,
)
from ftprobe.study.jobs_model import Job, Resources
from ftprobe.study.spec import Study


def checkpoint_steps(n_sentences: int, settings: FinetuneSettings) -> list[int]:
    """The update steps at which fine-tuning on ``n_sentences`` distinct sentences will save.

    Both the number of updates and the saving rule are fine-tuning's own, so the
    plan and the run cannot disagree about which checkpoints exist.
    """
    from ftprobe.encode.finetune import checkpoint_steps as saved_steps

    return saved_steps(settings.total_updates(n_sentences), settings.save_every)


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
            settings = ft.settings(seed, reps.pooling)
            for ft_task in study.finetune_tasks:
                steps = checkpoint_steps(train_sizes[ft_task], settings)
                ft_key = plan.add(
                    Job.of(
                        FinetuneJob(
                            model=model.path,
                            train=study.task_ref(ft_task, "train"),
                            dev=study.task_ref(ft_task, "test"),
                            settings=settings,
                            subtrain_fraction=probes.subtrain_fraction,
                        ),
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


def _extract_job(
    study: Study, encoder: EncoderRef, task_name: str, role: str, layers: list[int]
) -> ExtractJob:
    """The extraction of one task split's ``layers`` with ``encoder``."""
    return ExtractJob(
        encoder=encoder,
        task=study.task_ref(task_name, role),
        layers=tuple(layers),
        pooling=study.representations.pooling,
    )


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
            Job.of(
                RandomInitJob(model=paths[model], seed=seed),
                label=f"random-init {model} (seed {seed})",
            )
        )
        encoder = EncoderRef(model=paths[model], random_init=init)
        extract = {
            role: plan.add(
                Job.of(
                    _extract_job(study, encoder, task_name, role, sorted(chosen)),
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


def _classifier_job(
    study: Study, extract: Mapping[str, str], layer: int, seed: int, where: str
) -> Job:
    spec = ClassifierJob(
        extract["train"], extract["test"], layer, study.probes.classifier_params(), seed
    )
    return Job.of(spec, deps=(extract["train"], extract["test"]), label=f"classifier probe {where}")


def _control_job(
    study: Study, extract: Mapping[str, str], layer: int, seed: int, control: str, where: str
) -> Job:
    """The classifier probe trained on a label control ("control-task" or "shuffled")."""
    spec = ControlJob(
        extract["train"], extract["test"], layer, study.probes.classifier_params(), seed, control
    )
    return Job.of(
        spec,
        deps=(extract["train"], extract["test"]),
        label=f"classifier probe on {control} {where}",
    )


def _mdl_job(
    study: Study, extract: Mapping[str, str], layer: int, seed: int, labels: str, where: str
) -> Job:
    """Online code length of the training split's labels (or its control task's)."""
    probes = study.probes
    spec = MdlJob(
        extract["train"], layer, probes.classifier_params(), seed, probes.fractions, labels
    )
    return Job.of(spec, deps=(extract["train"],), label=f"MDL code length ({labels}) {where}")


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
    # Step 0 is the base model itself: share its extraction across runs and seeds.
    encoder = EncoderRef(model=model_path, finetune=None if step == 0 else ft_key, step=step)
    deps = () if step == 0 else (ft_key,)
    extract = {}
    for role in ("train", "test"):
        spec = _extract_job(study, encoder, task_name, role, layers)
        extract[role] = plan.add(
            Job.of(
                spec,
                deps=deps,
                resources=Resources(cpus=2, gpus=1),
                label=f"extract {model_name}@{step} {task_name}/{spec.task.split}",
            )
        )
    both = (extract["train"], extract["test"])
    for layer in layers:
        where = f"{model_name}@{step} {task_name} L{layer}"
        dp_train = dp_test = dp_control = clf = curve = None
        if probes.directprobe:
            dp = probes.directprobe_params()
            dp_train = plan.add(
                Job.of(
                    DirectProbeJob(extract["train"], extract["test"], layer, dp),
                    deps=both,
                    label=f"DirectProbe {where} (train, predict test)",
                )
            )
            dp_test = plan.add(
                Job.of(
                    DirectProbeJob(extract["test"], None, layer, dp),
                    deps=(extract["test"],),
                    label=f"DirectProbe {where} (test split's own space)",
                )
            )
            if CONTROL_TASK in probes.controls:
                # The same clustering of the same training vectors under the control task's
                # labels: does a type-level random labelling look linear too?
                dp_control = plan.add(
                    Job.of(
                        DirectProbeJob(
                            extract["train"], extract["test"], layer, dp, CONTROL_TASK, seed
                        ),
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
            curve_job = CurveJob(
                extract["train"],
                extract["test"],
                layer,
                probes.classifier_params(),
                seed,
                subtrain_fraction=probes.subtrain_fraction,
                fractions=probes.fractions,
                task=study.task_ref(task_name, "train"),
                split_from=ft_key,
            )
            # It reads the split that fine-tuning saved, so it waits for the run too.
            curve = plan.add(
                Job.of(curve_job, deps=(*both, ft_key), label=f"memorization curve {where}")
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
