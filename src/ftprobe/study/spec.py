"""The study file: one TOML document describing a whole study.

A study names models, tasks, fine-tuning settings, which layers to represent at
which checkpoints, cross-task pairs and probes. :func:`load_study` validates it
completely before any work starts, so that a typo fails in a second instead of
after an hour of fine-tuning.

Example::

    name = "quickstart"
    seeds = [13]

    [[model]]
    name = "minilm"
    path = "minilm-l6"

    [[task]]
    name = "ps-role"
    train_split = "dev"
    test_split = "test"

    [finetune]
    epochs = 2
    save_every = 20

    [representations]
    all_layers_at = ["first", "last"]
    every_checkpoint = ["last"]

    [[cross]]
    finetune = "ps-role"
    probe = "ps-fxn"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from ftprobe.encode.settings import FinetuneSettings
from ftprobe.errors import ConfigError
from ftprobe.geometry.settings import MIN_CLUSTER_SIZE
from ftprobe.probes.controls import check_controls
from ftprobe.probes.settings import (
    DEFAULT_HIDDEN_SIZES,
    DEFAULT_L2,
    DEFAULT_SEARCH_FRACTION,
    DEFAULT_SEARCH_L2,
    PAPER_SEARCH_SIZES,
)
from ftprobe.study.job_specs import ClassifierParams, DirectProbeParams, TaskRef


@dataclass(frozen=True)
class ModelSpec:
    """An encoder to study: a short name used in tables, and what to load."""

    name: str
    path: str


@dataclass(frozen=True)
class TaskSpec:
    """A task of the study and which of its splits train and test the probes.

    ``max_train``/``max_test`` keep only the first N examples (0 keeps all); they
    make slices such as "POS on the first 3,000 EWT words" for quick studies.
    ``options`` go to the task's reader (e.g. ``{on_bad_line = "skip"}`` for TREC).
    """

    name: str
    train_split: str
    test_split: str
    max_train: int = 0
    max_test: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.name, self.train_split, self.test_split, self.max_train, self.max_test))


@dataclass(frozen=True)
class FinetuneSpec:
    """Fine-tuning settings shared by every fine-tuning job of the study."""

    # fine-tuning's own defaults, so that a study and `ftprobe finetune` agree
    epochs: int = FinetuneSettings.epochs
    batch_size: int = FinetuneSettings.batch_size
    learning_rate: float = FinetuneSettings.learning_rate
    warmup_ratio: float = FinetuneSettings.warmup_ratio
    weight_decay: float = FinetuneSettings.weight_decay
    save_every: int = 50
    max_steps: int = 0
    tasks: tuple[str, ...] = ()

    def settings(self, seed: int, pooling: str) -> FinetuneSettings:
        """Fine-tuning's own settings for a run with ``seed`` (``max_steps`` 0: no limit).

        Every key of ``[finetune]`` but ``tasks`` is a setting of the same name.
        """
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "tasks"}
        values["max_steps"] = self.max_steps or None
        return FinetuneSettings(**values, seed=seed, pooling=pooling)


@dataclass(frozen=True)
class RepresentationSpec:
    """Which layers are represented at which checkpoints, and how units are pooled.

    ``pooling`` is "first" (a word's first piece; a sentence's [CLS]) or "mean"
    (the mean of the pieces).

    ``all_layers_at`` lists checkpoints ("first", "last" or a step number) at which
    every layer is taken; ``every_checkpoint`` lists layers ("last", "first" or a
    number) taken at every saved checkpoint.
    """

    pooling: str = "first"
    all_layers_at: tuple[str, ...] = ("first", "last")
    every_checkpoint: tuple[str, ...] = ("last",)


@dataclass(frozen=True)
class ProbeSpec:
    """Which probes run on every representation, with their settings.

    The classifier probe (:class:`ftprobe.probes.ClassifierProbe`) has
    ``hidden_sizes`` (one width per hidden layer; two, as in the paper) and L2
    weight ``l2``, unless ``search`` chooses both as the paper did (every pair
    of ``search_sizes`` times every ``search_l2``, scored on a held-out
    ``search_fraction`` of the training split); ``restarts`` networks are
    trained and the tables report their mean and standard deviation. The
    memorization curves use the same probe.

    ``controls`` (none by default) adds the probe's controls
    (:mod:`ftprobe.probes.controls`): "control-task" (Hewitt and Liang's
    type-level random labels, and the selectivity it gives), "shuffled"
    (permuted training labels) and "random-init" (the same probes on an
    encoder of the same architecture with random weights). ``mdl`` adds the
    online code length of Voita and Titov (2020) over ``fractions``.
    """

    directprobe: bool = True
    classifier: bool = True
    min_cluster_size: int = MIN_CLUSTER_SIZE
    hidden_sizes: tuple[int, ...] = DEFAULT_HIDDEN_SIZES
    l2: float = DEFAULT_L2
    search: bool = False
    search_sizes: tuple[int, ...] = PAPER_SEARCH_SIZES
    search_l2: tuple[float, ...] = DEFAULT_SEARCH_L2
    search_fraction: float = DEFAULT_SEARCH_FRACTION
    restarts: int = 1
    memorization: bool = True
    subtrain_fraction: float = 0.8
    fractions: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    controls: tuple[str, ...] = ()
    mdl: bool = False

    def classifier_params(self) -> ClassifierParams:
        """The classifier probe's settings (checked as they are built).

        ``[probes]`` names each of them as the probe does, so they are copied by name.
        """
        return ClassifierParams(**{f.name: getattr(self, f.name) for f in fields(ClassifierParams)})

    def directprobe_params(self) -> DirectProbeParams:
        """DirectProbe's settings (checked as they are built)."""
        return DirectProbeParams(min_cluster_size=self.min_cluster_size)


@dataclass(frozen=True)
class CrossSpec:
    """Fine-tune on ``finetune``, then represent and probe ``probe``."""

    finetune: str
    probe: str


@dataclass(frozen=True)
class Study:
    """A validated study file."""

    name: str
    path: Path
    models: tuple[ModelSpec, ...]
    tasks: tuple[TaskSpec, ...]
    seeds: tuple[int, ...] = (13,)
    finetune: FinetuneSpec = field(default_factory=FinetuneSpec)
    representations: RepresentationSpec = field(default_factory=RepresentationSpec)
    probes: ProbeSpec = field(default_factory=ProbeSpec)
    cross: tuple[CrossSpec, ...] = ()
    data_dir: Path | None = None
    # Filled in when the study is inspected (ftprobe.study.session): a digest of the
    # content of each task's files, so that job keys change when the data does.
    corpus: Mapping[str, str] = field(default_factory=dict)

    def task(self, name: str) -> TaskSpec:
        """The task called ``name``."""
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(name)

    def task_ref(self, name: str, role: str) -> TaskRef:
        """The ``role`` ("train" or "test") split of task ``name`` as its jobs read it."""
        task = self.task(name)
        split, limit = (
            (task.train_split, task.max_train)
            if role == "train"
            else (task.test_split, task.max_test)
        )
        return TaskRef(
            name=name,
            split=split,
            limit=limit,
            options=dict(task.options),
            data_dir=str(self.data_dir) if self.data_dir else None,
            corpus=self.corpus.get(name),
        )

    @property
    def finetune_tasks(self) -> tuple[str, ...]:
        """Tasks fine-tuned on: those listed, else every task, plus every cross pair's source."""
        chosen = list(self.finetune.tasks or [t.name for t in self.tasks])
        for pair in self.cross:
            if pair.finetune not in chosen:
                chosen.append(pair.finetune)
        return tuple(chosen)


def _section(raw: Mapping[str, Any], key: str, cls: type, where: str) -> Any:
    table = raw.get(key, {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: [{key}] must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) in [{key}]: {', '.join(unknown)}")
    values = {}
    for name, value in table.items():
        default = getattr(cls(), name) if _all_defaulted(cls) else None
        if isinstance(default, tuple):
            if not isinstance(value, list):
                raise ConfigError(f"{where}: [{key}] {name} must be a list")
            kind = _LIST_ITEMS.get((key, name))
            if kind is not None and not all(_is(v, kind) for v in value):
                words = _PLURAL_WORDS[kind]
                raise ConfigError(
                    f"{where}: [{key}] {name} must be a list of {words}, got {value!r}"
                )
            value = tuple(float(v) if kind is float else v for v in value)
        elif default is not None and not _is(value, type(default)):
            words = _KIND_WORDS.get(type(default), type(default).__name__)
            raise ConfigError(f"{where}: [{key}] {name} must be {words}, got {value!r}")
        elif isinstance(default, float):
            value = float(value)
        values[name] = value
    return cls(**values)


# What the items of each list setting must be (a step list may mix names and numbers).
_LIST_ITEMS: dict[tuple[str, str], type] = {
    ("finetune", "tasks"): str,
    ("representations", "all_layers_at"): str | int,  # type: ignore[dict-item]
    ("representations", "every_checkpoint"): str | int,  # type: ignore[dict-item]
    ("probes", "hidden_sizes"): int,
    ("probes", "search_sizes"): int,
    ("probes", "search_l2"): float,
    ("probes", "fractions"): float,
}
_KIND_WORDS: dict[object, str] = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    str | int: "names or numbers",
}


_PLURAL_WORDS: dict[object, str] = {
    int: "integers",
    float: "numbers",
    str: "strings",
    str | int: "names or numbers",
}


def _is(value: object, kind: object) -> bool:
    """TOML's type check: a boolean is never a number, an integer may stand for a float."""
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)  # type: ignore[arg-type]


def _all_defaulted(cls: type) -> bool:
    try:
        cls()
    except TypeError:
        return False
    return True


def _records(raw: Mapping[str, Any], key: str, cls: type, where: str) -> tuple[Any, ...]:
    items = raw.get(key, [])
    if not isinstance(items, list):
        raise ConfigError(f"{where}: [[{key}]] must be an array of tables")
    known = {f.name for f in fields(cls)}
    required = {
        f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
    }
    out = []
    types = {f.name: f.type for f in fields(cls)}
    for i, item in enumerate(items, 1):
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: [[{key}]] #{i} must be a table")
        unknown = sorted(set(item) - known)
        if unknown:
            raise ConfigError(f"{where}: [[{key}]] #{i}: unknown key(s): {', '.join(unknown)}")
        missing = sorted(required - set(item))
        if missing:
            raise ConfigError(f"{where}: [[{key}]] #{i}: missing key(s): {', '.join(missing)}")
        for name, value in item.items():
            kind = {"str": str, "int": int}.get(str(types[name]))
            if kind is not None and not _is(value, kind):
                raise ConfigError(
                    f"{where}: [[{key}]] #{i}: {name} must be {_KIND_WORDS[kind]}, got {value!r}"
                )
            if kind is int and value < 0:
                raise ConfigError(
                    f"{where}: [[{key}]] #{i}: {name} must be >= 0 (0 keeps every example), "
                    f"got {value}"
                )
            if name == "options" and not isinstance(value, Mapping):
                raise ConfigError(
                    f"{where}: [[{key}]] #{i}: options must be a table, e.g. "
                    f'options = {{ on_bad_line = "skip" }}, got {value!r}'
                )
        out.append(cls(**item))
    return tuple(out)


def parse_study(raw: Mapping[str, Any], path: Path) -> Study:
    """Build a :class:`Study` from a parsed TOML mapping; structural checks only."""
    where = str(path)
    top = {"name", "seeds", "data_dir", "model", "task", "finetune", "representations"}
    top |= {"probes", "cross"}
    unknown = sorted(set(raw) - top)
    if unknown:
        raise ConfigError(f"{where}: unknown top-level key(s): {', '.join(unknown)}")
    models = _records(raw, "model", ModelSpec, where)
    tasks = _records(raw, "task", TaskSpec, where)
    if not models:
        raise ConfigError(f"{where}: the study names no [[model]]")
    if not tasks:
        raise ConfigError(f"{where}: the study names no [[task]]")
    for kind, names in (("model", [m.name for m in models]), ("task", [t.name for t in tasks])):
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"{where}: duplicate {kind} name(s): {', '.join(dupes)}")
    seeds = raw.get("seeds", [13])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise ConfigError(f"{where}: seeds must be a non-empty list of integers")
    data_dir = raw.get("data_dir")
    probes_raw = raw.get("probes", {})
    if isinstance(probes_raw, Mapping) and "hidden_size" in probes_raw:
        raise ConfigError(
            f"{where}: [probes] hidden_size is now hidden_sizes, one width per hidden layer "
            f"(the paper's probe has two: hidden_sizes = [{probes_raw['hidden_size']}, "
            f"{probes_raw['hidden_size']}])"
        )
    study = Study(
        name=str(raw.get("name", path.stem)),
        path=path,
        models=models,
        tasks=tasks,
        seeds=tuple(seeds),
        finetune=_section(raw, "finetune", FinetuneSpec, where),
        representations=_section(raw, "representations", RepresentationSpec, where),
        probes=_section(raw, "probes", ProbeSpec, where),
        cross=_records(raw, "cross", CrossSpec, where),
        data_dir=(path.parent / data_dir) if data_dir else None,
    )
    _check_references(study, where)
    return study


def _check_references(study: Study, where: str) -> None:
    task_names = {t.name for t in study.tasks}
    for name in study.finetune.tasks:
        if name not in task_names:
            raise ConfigError(f"{where}: [finetune] tasks names {name!r}, which is no [[task]]")
    for pair in study.cross:
        if pair.finetune == pair.probe:
            raise ConfigError(
                f"{where}: cross-task pair {pair.finetune} -> {pair.probe} names one task twice; "
                "fine-tuning on a task and probing it is already part of every study"
            )
        for role, name in (("finetune", pair.finetune), ("probe", pair.probe)):
            if name not in task_names:
                raise ConfigError(
                    f"{where}: cross-task pair {pair.finetune} -> {pair.probe}: "
                    f"its {role} task {name!r} is no [[task]] of the study"
                )
    reps = study.representations
    for at in reps.all_layers_at:
        if at not in ("first", "last") and not str(at).isdigit():
            raise ConfigError(
                f"{where}: [representations] all_layers_at entries are 'first', 'last' "
                f"or a step number, got {at!r}"
            )
    for layer in reps.every_checkpoint:
        if str(layer) not in ("first", "last") and not str(layer).lstrip("-").isdigit():
            raise ConfigError(
                f"{where}: [representations] every_checkpoint entries are 'first', 'last' "
                f"or a layer number, got {layer!r}"
            )
    if reps.pooling not in ("first", "mean"):
        raise ConfigError(f"{where}: [representations] pooling is 'first' or 'mean'")
    probes = study.probes
    # Build the stages' own settings objects now: a value they refuse fails here, not in a job.
    try:
        probes.classifier_params()
        probes.directprobe_params()
    except ConfigError as exc:
        raise ConfigError(f"{where}: [probes] {exc}") from None
    if not 0 < probes.subtrain_fraction < 1:
        raise ConfigError(f"{where}: [probes] subtrain_fraction must lie strictly between 0 and 1")
    if not probes.fractions or not all(0 < f <= 1 for f in probes.fractions):
        raise ConfigError(f"{where}: [probes] fractions must lie in (0, 1]")
    try:
        check_controls(probes.controls)
    except ConfigError as exc:
        raise ConfigError(f"{where}: [probes] {exc}") from None
    if (probes.controls or probes.mdl) and not probes.classifier:
        raise ConfigError(
            f"{where}: [probes] controls and mdl train the classifier probe; "
            "they need classifier = true"
        )
    if probes.mdl and list(probes.fractions) != sorted(set(probes.fractions)):
        raise ConfigError(
            f"{where}: [probes] mdl codes the training vectors in blocks between the fractions, "
            f"which must then rise strictly, got {list(probes.fractions)}"
        )
    ft = study.finetune
    if ft.epochs < 1 or ft.batch_size < 1 or ft.save_every < 1 or ft.max_steps < 0:
        raise ConfigError(
            f"{where}: [finetune] epochs, batch_size and save_every must be >= 1, max_steps >= 0"
        )
    try:
        ft.settings(study.seeds[0], reps.pooling)
    except ConfigError as exc:
        raise ConfigError(f"{where}: [finetune] {exc}") from None


def load_study(path: str | Path) -> Study:
    """Read and validate a study file (structure and cross-references)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such study file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_study(raw, path.resolve())
