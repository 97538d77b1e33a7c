"""The typed jobs of a study: one frozen dataclass per job kind.

The planner builds these from the validated study file and the job functions
(:mod:`ftprobe.study.execute`) run them, so each setting travels as the stage's
own object (:class:`~ftprobe.encode.finetune.FinetuneSettings`, the probes'
parameters, a :class:`TaskRef`) from the study file to the work. A job's key is
a hash of its :meth:`params`, a flat view of the same values whose names are
the ones study folders have always been keyed on: changing how a job is held
must never change its key, or every finished job of a study folder would run
again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

from ftprobe.encode.settings import FinetuneSettings
from ftprobe.geometry.settings import check_min_cluster_size
from ftprobe.probes.settings import check_probe_settings
from ftprobe.study.jobs_model import JobKind

if TYPE_CHECKING:
    from ftprobe.data.task import Task
    from ftprobe.geometry.directprobe import DirectProbe
    from ftprobe.probes.classifier import ClassifierProbe

DIRECTPROBE_RESULTS = 2
"""What a DirectProbe job's parts mean, part of its key: 2 since undefined label statistics are
NaN (not 0) and identical same-label vectors start as one cluster, so folders of older results
are recomputed rather than mixed with new ones."""


@dataclass(frozen=True)
class TaskRef:
    """One split of a task as a job reads it: its reader options, its slice and its data.

    ``limit`` keeps the first N examples (0 keeps all; the slice is named by
    :meth:`ftprobe.data.task.Task.first`); ``options`` go to the task's reader;
    ``corpus`` is a digest of the task's files, so the key changes with the data.
    """

    name: str
    split: str
    limit: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    corpus: str | None = None

    def load(self) -> Task:
        """The split's examples (named after the options that select them, see
        :mod:`ftprobe.data.registry`), sliced to ``limit``."""
        from ftprobe.data.registry import load_task

        task = load_task(self.name, self.split, data_dir=self.data_dir, **dict(self.options))
        return task.first(self.limit)

    def params(self, limit_key: str) -> dict[str, Any]:
        """The key's view; ``limit_key`` is the name the job kind has always used for the limit."""
        return {
            "task": self.name,
            "split": self.split,
            limit_key: self.limit,
            "options": dict(self.options),
            "data_dir": self.data_dir,
            "corpus": self.corpus,
        }


@dataclass(frozen=True)
class DirectProbeParams:
    """DirectProbe's settings in a study (``[probes] min_cluster_size``)."""

    min_cluster_size: int

    def __post_init__(self) -> None:
        check_min_cluster_size(self.min_cluster_size)

    def estimator(self, labels: Sequence[str]) -> DirectProbe:
        """The clustering estimator over the task's label set ``labels``."""
        from ftprobe.geometry.directprobe import DirectProbe

        return DirectProbe(labels=tuple(labels), min_cluster_size=self.min_cluster_size)


@dataclass(frozen=True)
class ClassifierParams:
    """The classifier probe's settings in a study (see :class:`ftprobe.study.spec.ProbeSpec`).

    Classifier, control, MDL and curve jobs all carry them, so changing any
    setting recomputes all of them; the search's grid is keyed only when used.
    """

    hidden_sizes: tuple[int, ...]
    l2: float
    search: bool
    restarts: int
    search_sizes: tuple[int, ...]
    search_l2: tuple[float, ...]
    search_fraction: float

    def __post_init__(self) -> None:
        # The probe's one check of its settings (``search`` is a switch, not a range).
        check_probe_settings(
            **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "search"}
        )

    def params(self) -> dict[str, Any]:
        """The key's view."""
        out: dict[str, Any] = {
            "hidden_sizes": [int(h) for h in self.hidden_sizes],
            "l2": float(self.l2),
            "search": bool(self.search),
            "restarts": int(self.restarts),
        }
        if self.search:
            out["search_sizes"] = [int(h) for h in self.search_sizes]
            out["search_l2"] = [float(w) for w in self.search_l2]
            out["search_fraction"] = float(self.search_fraction)
        return out

    def probe(self, seed: int, labels: Sequence[str], **overrides: Any) -> ClassifierProbe:
        """The probe with these settings and ``seed`` over the task's label set ``labels``
        (``overrides`` replace settings)."""
        from ftprobe.probes.classifier import ClassifierProbe

        settings: dict[str, Any] = {
            "labels": tuple(labels),
            "hidden_sizes": tuple(self.hidden_sizes),
            "l2": self.l2,
            "search": self.search,
            "restarts": self.restarts,
            "seed": seed,
            "search_sizes": tuple(self.search_sizes),
            "search_l2": tuple(self.search_l2),
            "search_fraction": self.search_fraction,
        }
        settings.update(overrides)
        return ClassifierProbe(**settings)


@dataclass(frozen=True)
class FinetuneJob:
    """Fine-tune ``model`` on ``train``, scoring checkpoints on ``dev``, saving the split."""

    kind: ClassVar[JobKind] = "finetune"
    model: str
    train: TaskRef
    dev: TaskRef
    settings: FinetuneSettings
    subtrain_fraction: float

    def params(self) -> dict[str, Any]:
        """The key's view."""
        s = self.settings
        return {
            "model": self.model,
            **self.train.params("max_train"),
            "eval_split": self.dev.split,
            "max_eval": self.dev.limit,
            "seed": s.seed,
            "epochs": s.epochs,
            "batch_size": s.batch_size,
            "learning_rate": s.learning_rate,
            "warmup_ratio": s.warmup_ratio,
            "weight_decay": s.weight_decay,
            "save_every": s.save_every,
            "max_steps": s.max_steps or 0,
            "subtrain_fraction": self.subtrain_fraction,
            "pooling": s.pooling,
        }


@dataclass(frozen=True)
class EncoderRef:
    """The encoder of an extraction: the base model, a fine-tuning checkpoint or a random init.

    ``finetune`` and ``random_init`` are the keys of the jobs that made it (None: the base model).
    """

    model: str
    finetune: str | None = None
    step: int = 0
    random_init: str | None = None

    def params(self) -> dict[str, Any]:
        """The key's view (``random_init`` only where there is one)."""
        out: dict[str, Any] = {"model": self.model, "finetune": self.finetune, "step": self.step}
        if self.random_init is not None:
            out["random_init"] = self.random_init
        return out


@dataclass(frozen=True)
class ExtractJob:
    """Extract ``layers`` of one task split with one encoder into the store."""

    kind: ClassVar[JobKind] = "extract"
    encoder: EncoderRef
    task: TaskRef
    layers: tuple[int, ...]
    pooling: str

    def params(self) -> dict[str, Any]:
        """The key's view."""
        return {
            **self.encoder.params(),
            **self.task.params("max_examples"),
            "layers": list(self.layers),
            "pooling": self.pooling,
        }


@dataclass(frozen=True)
class DirectProbeJob:
    """DirectProbe on one layer of the ``train`` extraction, predicting ``test`` (None: none).

    With ``control`` ("control-task") both splits carry the control task's labels,
    drawn with ``seed``.
    """

    kind: ClassVar[JobKind] = "directprobe"
    train: str
    test: str | None
    layer: int
    directprobe: DirectProbeParams
    control: str | None = None
    seed: int | None = None
    results: int = DIRECTPROBE_RESULTS

    def params(self) -> dict[str, Any]:
        """The key's view (``control`` and ``seed`` only for a control's clustering)."""
        out: dict[str, Any] = {
            "train": self.train,
            "test": self.test,
            "layer": self.layer,
            "min_cluster_size": self.directprobe.min_cluster_size,
            "results": self.results,
        }
        if self.control is not None:
            out["control"] = self.control
            out["seed"] = self.seed
        return out


@dataclass(frozen=True)
class ClassifierJob:
    """The classifier probe trained on one layer of ``train`` and scored on ``test``."""

    kind: ClassVar[JobKind] = "classifier"
    train: str
    test: str
    layer: int
    classifier: ClassifierParams
    seed: int

    def params(self) -> dict[str, Any]:
        """The key's view."""
        return {
            "train": self.train,
            "test": self.test,
            "layer": self.layer,
            **self.classifier.params(),
            "seed": self.seed,
        }


@dataclass(frozen=True)
class ControlJob(ClassifierJob):
    """The classifier probe trained on a label control ("control-task" or "shuffled")."""

    kind: ClassVar[JobKind] = "control"
    control: str

    def params(self) -> dict[str, Any]:
        """The key's view."""
        return {**super().params(), "control": self.control}


@dataclass(frozen=True)
class MdlJob:
    """Online code length of the training split's labels (``labels``: "task" or a control)."""

    kind: ClassVar[JobKind] = "mdl"
    train: str
    layer: int
    classifier: ClassifierParams
    seed: int
    fractions: tuple[float, ...]
    labels: str

    def params(self) -> dict[str, Any]:
        """The key's view."""
        return {
            "train": self.train,
            "layer": self.layer,
            **self.classifier.params(),
            "seed": self.seed,
            "fractions": [float(f) for f in self.fractions],
            "labels": self.labels,
        }


@dataclass(frozen=True)
class CurveJob(ClassifierJob):
    """Learning curves of the classifier probe on growing fractions of subtrain.

    ``task`` is the training split the vectors of ``train`` come from, and
    ``split_from`` the fine-tuning job that saved its subtrain/subtest split. The
    split is drawn from ``task``, ``subtrain_fraction`` and ``seed`` alone, all in
    the key, so which of the runs that saved it is read is no part of the key.
    """

    kind: ClassVar[JobKind] = "curve"
    subtrain_fraction: float
    fractions: tuple[float, ...]
    task: TaskRef
    split_from: str

    def params(self) -> dict[str, Any]:
        """The key's view."""
        return {
            **super().params(),
            "subtrain_fraction": self.subtrain_fraction,
            "fractions": list(self.fractions),
            **self.task.params("max_examples"),
        }


@dataclass(frozen=True)
class RandomInitJob:
    """Save an encoder of ``model``'s architecture with random weights drawn with ``seed``."""

    kind: ClassVar[JobKind] = "randominit"
    model: str
    seed: int

    def params(self) -> dict[str, Any]:
        """The key's view."""
        return {"model": self.model, "seed": self.seed}
