"""The published DirectProbe's pre-packed task folders and their ``config.ini``.

A pre-packed folder (the layout users of the published code already have)::

    entities/train.txt, entities/test.txt   one example per line: text<TAB>label
    labels/tags.txt                          the label set, one per line
    embeddings/layers/{train,test}/L.txt     one vector per line, floats separated by spaces
    config.ini                               [run] / [data] / [clustering] naming these paths

Line ``i`` of an embedding file belongs to line ``i`` of the matching entity
file. Label indices follow the sorted order of ``tags.txt``, as in the
published code. Everything here is read strictly: a bad line is an
:class:`~ftprobe.errors.InputError` naming the file and the line, never a
silent truncation (the published code cut the embeddings to the number of
entities and asserted).
"""

from __future__ import annotations

import configparser
import io
import math
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ftprobe.data.atomic import atomic_open
from ftprobe.data.task import Example, LabelSet, Task, Unit
from ftprobe.data.textfile import decode_utf8, read_bytes, read_lines
from ftprobe.errors import ConfigError, InputError, InputWarning

__all__ = [
    "PrepackedConfig",
    "PrepackedPaths",
    "entities_to_task",
    "layer_embedding_paths",
    "PrepackedData",
    "load_prepacked",
    "load_prepacked_task",
    "prepacked_paths",
    "read_config",
    "read_embeddings",
    "read_entities",
    "read_label_set",
    "write_embeddings",
    "write_entities",
    "write_label_set",
]

PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------- entities and labels


def read_entities(path: PathLike) -> list[tuple[str, str]]:
    """Read an entities file: one ``(text, label)`` per line, ``text<TAB>label``.

    Surrounding whitespace of text and label is dropped (as the published code
    does). Blank lines at the end of the file are ignored; a blank line before
    the end, a line without exactly one tab, or an empty text or label is an
    :class:`InputError` naming the line.
    """
    lines = read_lines(path)
    while lines and not lines[-1].strip():
        lines.pop()
    rows: list[tuple[str, str]] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            raise InputError(path, lineno, "blank line (expected text<TAB>label)")
        parts = line.split("\t")
        if len(parts) != 2:
            raise InputError(
                path, lineno, f"expected text<TAB>label (one tab), found {len(parts) - 1} tabs"
            )
        text, label = parts[0].strip(), parts[1].strip()
        if not text:
            raise InputError(path, lineno, "empty entity text")
        if not label:
            raise InputError(path, lineno, "empty label")
        rows.append((text, label))
    return rows


def read_label_set(path: PathLike) -> LabelSet:
    """Read ``tags.txt``: one label per line; the index order is the sorted order.

    Blank lines are ignored and a label listed twice counts once (the published
    code read the file into a set).
    """
    labels = [line.strip() for line in read_lines(path)]
    return LabelSet.from_labels(label for label in labels if label)


def write_entities(path: PathLike, rows: Iterable[tuple[str, str]]) -> None:
    """Write ``text<TAB>label`` lines atomically; text or label with a tab or newline is refused."""
    rows = list(rows)
    for i, (text, label) in enumerate(rows, start=1):
        for field, value in (("text", text), ("label", label)):
            if not value.strip() or any(c in value for c in "\t\n\r"):
                raise ValueError(f"row {i}: {field} {value!r} is empty or has a tab/newline")
    with atomic_open(path) as f:
        f.writelines(f"{text}\t{label}\n" for text, label in rows)


def write_label_set(path: PathLike, labels: LabelSet | Iterable[str]) -> None:
    """Write a label set atomically, one label per line, in its index order."""
    names = labels.names if isinstance(labels, LabelSet) else tuple(labels)
    with atomic_open(path) as f:
        f.writelines(f"{name}\n" for name in names)


# --------------------------------------------------------------------------- embeddings


def read_embeddings(
    path: PathLike, expected_rows: int | None = None, dtype: np.typing.DTypeLike = np.float32
) -> np.ndarray:
    """Read an embedding text file: one vector per line, floats separated by whitespace.

    Returns an ``(n, d)`` array of ``dtype``. A fast C parser (pandas) reads
    well-formed files; when anything looks wrong, a line-by-line pass finds the
    first bad line and raises an :class:`InputError` naming it: a value that is
    not a number, NaN or infinity, a line with a different number of values
    than line 1, a blank line, bytes that are not UTF-8, or (with
    ``expected_rows``) a number of vectors different from the number expected.
    """
    data = read_bytes(path)
    if not data.strip():
        raise InputError(path, None, "the file is empty (expected one vector per line)")
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    array = _parse_fast(data, dtype)
    if array is None or array.shape[0] != n_lines or not np.isfinite(array).all():
        array = _parse_checked(path, data, dtype)
    if expected_rows is not None and array.shape[0] != expected_rows:
        n = array.shape[0]
        if n > expected_rows:
            raise InputError(
                path,
                expected_rows + 1,
                f"{n} vectors but {expected_rows} examples: vectors from this line on "
                "have no example",
            )
        raise InputError(
            path, None, f"{n} vectors but {expected_rows} examples: the file ends after line {n}"
        )
    return array


def _parse_fast(data: bytes, dtype: np.typing.DTypeLike) -> np.ndarray | None:
    """Parse with numpy's C reader; ``None`` when it fails (the checked pass explains why).

    Any whitespace separates values, as in the checked pass. numpy's reader is as fast as
    pandas' on these files and needs no pandas import, which cost ``ftprobe probe`` more
    than a third of a second before any work.
    """
    try:
        array = np.loadtxt(io.BytesIO(data), dtype=np.float64, comments=None, ndmin=2)
    except ValueError:
        return None
    if array.shape[1] == 0:
        return None
    return array.astype(dtype, copy=False)


def _parse_checked(path: PathLike, data: bytes, dtype: np.typing.DTypeLike) -> np.ndarray:
    """Slow, exact pass: the first bad line raises an InputError naming it."""
    text = decode_utf8(path, data)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    rows: list[list[float]] = []
    width: int | None = None
    for lineno, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            raise InputError(path, lineno, "blank line (expected a vector of numbers)")
        values: list[float] = []
        for col, field in enumerate(fields, start=1):
            try:
                value = float(field)
            except ValueError:
                raise InputError(
                    path, lineno, f"value {col} is {field!r}, which is not a number"
                ) from None
            if not math.isfinite(value):
                raise InputError(path, lineno, f"value {col} is {field!r} (NaN or infinite)")
            values.append(value)
        if width is None:
            width = len(values)
        elif len(values) != width:
            raise InputError(
                path, lineno, f"{len(values)} values, but line 1 has {width} (ragged rows)"
            )
        rows.append(values)
    return np.asarray(rows, dtype=np.float64).astype(dtype, copy=False)


def write_embeddings(path: PathLike, array: np.ndarray, decimals: int = 6) -> None:
    """Write one vector per line, values separated by spaces with ``decimals`` decimals.

    Written atomically. NaN or infinite values are refused (they could not be
    read back).
    """
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-d array (one vector per row), got shape {array.shape}")
    if not np.isfinite(array).all():
        row = int(np.argwhere(~np.isfinite(array))[0][0])
        raise ValueError(f"row {row} has NaN or infinite values")
    with atomic_open(path, "w") as f:
        np.savetxt(f, array, fmt=f"%.{int(decimals)}f", delimiter=" ", newline="\n")


# --------------------------------------------------------------------------- config.ini

Mode = Literal["probing", "prediction"]
RelativeTo = Literal["auto", "cwd", "config"]

_KNOWN_KEYS: dict[str, set[str]] = {
    "run": {"output_path"},
    "data": {
        "common",
        "label_set_path",
        "entities_path",
        "embeddings_path",
        "test_entities_path",
        "test_embeddings_path",
    },
    "clustering": {"enable_cuda", "rate", "mode", "probing_cluster_path"},
}
_DATA_KEYS = (
    "label_set_path",
    "entities_path",
    "embeddings_path",
    "test_entities_path",
    "test_embeddings_path",
)


@dataclass(frozen=True)
class PrepackedConfig:
    """A published-style ``config.ini``, with every path resolved (see :func:`read_config`)."""

    path: Path
    base_dir: Path
    output_path: Path
    label_set_path: Path
    entities_path: Path
    embeddings_path: Path
    test_entities_path: Path
    test_embeddings_path: Path
    enable_cuda: bool = False
    rate: float = 0.01
    mode: Mode = "probing"
    probing_cluster_path: Path | None = None


def _config_line(text: str, section: str, key: str | None = None) -> int | None:
    """The line of ``[section]`` (or of ``key`` in it) in a config.ini's text, for warnings.

    configparser keeps no line numbers; keys are matched as it stores them (lower case).
    """
    current = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            if key is None and current == section:
                return lineno
        elif key is not None and current == section and not line.startswith(("#", ";")):
            name = re.split(r"[=:]", line, maxsplit=1)[0].strip().lower()
            if name == key:
                return lineno
    return None


def read_config(path: PathLike, relative_to: RelativeTo = "auto") -> PrepackedConfig:
    """Read a published DirectProbe ``config.ini``.

    ``${common}``-style references are expanded (``ExtendedInterpolation``, as
    in the published code). Required: ``[run] output_path`` and the five
    ``[data]`` paths; a missing one is a :class:`ConfigError` naming the file,
    section and key. ``[clustering]`` is optional: ``enable_cuda`` (a real
    boolean: ``True``/``False``/``yes``/``no``/``1``/``0``; the published code
    took any non-empty string, so ``False`` meant on), ``rate`` (default 0.01),
    ``mode`` (``probing`` or ``prediction``) and ``probing_cluster_path``
    (needed in prediction mode; a folder means its ``clusters.txt``). Unknown
    sections or keys give a warning.

    Relative paths: the published code opens them relative to the current
    working directory, which is the config file's folder when it is run as
    documented (``python main.py`` beside ``config.ini``). ``relative_to``
    picks one base for all paths of the file: ``"cwd"``, ``"config"`` (the
    config file's folder), or ``"auto"`` (the default): the working directory
    if every relative ``[data]`` path exists there, else the config file's
    folder if every one exists there, else the working directory.
    """
    cfg_path = Path(path)
    if not cfg_path.is_file():
        raise ConfigError(f"{cfg_path}: no such config file")
    parser = configparser.ConfigParser(interpolation=configparser.ExtendedInterpolation())
    text = decode_utf8(cfg_path, read_bytes(cfg_path))
    try:
        parser.read_string(text, source=str(cfg_path))
    except configparser.Error as exc:
        raise ConfigError(f"{cfg_path}: not a valid config.ini: {exc}") from None

    for section in parser.sections():
        if section not in _KNOWN_KEYS:
            line = _config_line(text, section)
            warnings.warn(
                InputWarning(cfg_path, line, f"unknown section [{section}] ignored"), stacklevel=2
            )
            continue
        for key in parser[section]:
            if key not in _KNOWN_KEYS[section] and key not in parser.defaults():
                line = _config_line(text, section, key)
                warnings.warn(
                    InputWarning(cfg_path, line, f"unknown key {key!r} in [{section}] ignored"),
                    stacklevel=2,
                )

    def get(section: str, key: str, required: bool = True) -> str | None:
        if not parser.has_section(section) or not parser.has_option(section, key):
            if required:
                raise ConfigError(f"{cfg_path}: section [{section}] has no key {key!r}")
            return None
        try:
            return parser.get(section, key).strip()
        except configparser.InterpolationError as exc:
            raise ConfigError(f"{cfg_path}: [{section}] {key}: {exc}") from None

    raw_data = {key: get("data", key) or "" for key in _DATA_KEYS}
    for key, value in raw_data.items():
        if not value:
            raise ConfigError(f"{cfg_path}: [data] {key} is empty")
    output_raw = get("run", "output_path") or ""
    if not output_raw:
        raise ConfigError(f"{cfg_path}: [run] output_path is empty")

    base = _choose_base(cfg_path, [raw_data[k] for k in _DATA_KEYS], relative_to)

    def resolve(value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p

    enable_raw = get("clustering", "enable_cuda", required=False)
    enable_cuda = _parse_bool(cfg_path, enable_raw) if enable_raw else False
    rate_raw = get("clustering", "rate", required=False)
    try:
        rate = float(rate_raw) if rate_raw else 0.01
    except ValueError:
        raise ConfigError(f"{cfg_path}: [clustering] rate {rate_raw!r} is not a number") from None
    if not 0.0 < rate <= 1.0:
        raise ConfigError(f"{cfg_path}: [clustering] rate {rate} must be in (0, 1]")
    mode = (get("clustering", "mode", required=False) or "probing").lower()
    if mode not in ("probing", "prediction"):
        raise ConfigError(
            f"{cfg_path}: [clustering] mode {mode!r} must be 'probing' or 'prediction'"
        )
    cluster_raw = get("clustering", "probing_cluster_path", required=False)
    cluster_path = resolve(cluster_raw) if cluster_raw else None
    if cluster_path is not None and (cluster_path.is_dir() or cluster_raw.endswith(("/", "\\"))):
        cluster_path = cluster_path / "clusters.txt"
    if mode == "prediction" and cluster_path is None:
        raise ConfigError(
            f"{cfg_path}: section [clustering] has no key 'probing_cluster_path' "
            "(needed in prediction mode)"
        )

    return PrepackedConfig(
        path=cfg_path,
        base_dir=base,
        output_path=resolve(output_raw),
        enable_cuda=enable_cuda,
        rate=rate,
        mode=mode,  # type: ignore[arg-type]
        probing_cluster_path=cluster_path,
        **{key: resolve(value) for key, value in raw_data.items()},
    )


def _parse_bool(cfg_path: Path, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", "none"):
        return False
    raise ConfigError(f"{cfg_path}: [clustering] enable_cuda {raw!r} is not true or false")


def _choose_base(cfg_path: Path, values: Sequence[str], relative_to: RelativeTo) -> Path:
    cwd = Path.cwd()
    here = cfg_path.resolve().parent
    if relative_to == "cwd":
        return cwd
    if relative_to == "config":
        return here
    if relative_to != "auto":
        raise ConfigError(f"relative_to must be 'auto', 'cwd' or 'config', not {relative_to!r}")
    relative = [Path(v).expanduser() for v in values if not Path(v).expanduser().is_absolute()]
    if all((cwd / p).exists() for p in relative):
        return cwd
    if all((here / p).exists() for p in relative):
        return here
    return cwd


# --------------------------------------------------------------------------- folders to tasks


@dataclass(frozen=True)
class PrepackedPaths:
    """The files of one pre-packed task; embeddings are ``None`` when not named."""

    label_set: Path
    train_entities: Path
    test_entities: Path
    train_embeddings: Path | None = None
    test_embeddings: Path | None = None


def prepacked_paths(source: PathLike | PrepackedConfig | PrepackedPaths) -> PrepackedPaths:
    """Find a pre-packed task's files.

    ``source`` is explicit :class:`PrepackedPaths` (returned as they are), a
    ``config.ini`` file (or a parsed one), a folder holding a
    ``config.ini``, or a folder in the published layout without one
    (``entities/{train,test}.txt`` and ``labels/tags.txt``; the embeddings are
    then left for the caller to pick, see :func:`layer_embedding_paths`).
    """
    if isinstance(source, PrepackedPaths):
        return source
    if isinstance(source, PrepackedConfig):
        cfg = source
    else:
        p = Path(source)
        if p.is_dir() and (p / "config.ini").is_file():
            cfg = read_config(p / "config.ini")
        elif p.is_file():
            cfg = read_config(p)
        elif p.is_dir():
            paths = PrepackedPaths(
                label_set=p / "labels" / "tags.txt",
                train_entities=p / "entities" / "train.txt",
                test_entities=p / "entities" / "test.txt",
            )
            missing = [str(f) for f in (paths.label_set, paths.train_entities) if not f.is_file()]
            if missing:
                raise ConfigError(
                    f"{p} is not a pre-packed folder: no config.ini and missing "
                    + ", ".join(missing)
                )
            return paths
        else:
            raise ConfigError(f"{p}: no such pre-packed folder or config file")
    return PrepackedPaths(
        label_set=cfg.label_set_path,
        train_entities=cfg.entities_path,
        test_entities=cfg.test_entities_path,
        train_embeddings=cfg.embeddings_path,
        test_embeddings=cfg.test_embeddings_path,
    )


def layer_embedding_paths(folder: PathLike, split: str) -> dict[int, Path]:
    """The per-layer embedding files ``embeddings/layers/{split}/{L}.txt`` of a folder, by layer."""
    layer_dir = Path(folder) / "embeddings" / "layers" / split
    if not layer_dir.is_dir():
        return {}
    return {
        int(f.stem): f
        for f in sorted(layer_dir.glob("*.txt"), key=lambda f: (len(f.stem), f.stem))
        if f.stem.isdigit()
    }


def entities_to_task(
    path: PathLike, labels: LabelSet, name: str, split: str, labels_path: PathLike | None = None
) -> Task:
    """Read an entities file into a task, checking every label against ``labels``.

    Each entity becomes an example whose words are the entity text split on
    whitespace and whose unit is a span over all of them, so ``example.text``
    is the entity text (the folder carries no sentence context). A label
    absent from the label set is an :class:`InputError` naming the line.
    """
    examples: list[Example] = []
    where = f" ({labels_path})" if labels_path is not None else ""
    for lineno, (text, label) in enumerate(read_entities(path), start=1):
        if label not in labels:
            raise InputError(path, lineno, f"label {label!r} is not in the label set{where}")
        words = tuple(text.split())
        examples.append(
            Example(
                tokens=words,
                unit=Unit.span(range(len(words))),
                label=label,
                source=f"{path}:{lineno}",
            )
        )
    return Task(name=name, split=split, examples=examples, labels=labels, unit_kind="span")


def load_prepacked_task(
    source: PathLike | PrepackedConfig | PrepackedPaths, name: str | None = None
) -> tuple[Task, Task]:
    """Load a pre-packed folder (or its ``config.ini``, or explicit paths) as ``(train, test)``.

    Both share the label set of ``tags.txt``. ``name`` defaults to the name of
    the folder holding ``config.ini`` (or ``entities/``). The embeddings are
    not read here: see :func:`load_prepacked`, or :func:`read_embeddings` with
    ``expected_rows=len(task)``.
    """
    paths = prepacked_paths(source)
    if name is None:
        if isinstance(source, PrepackedConfig):
            name = source.path.resolve().parent.name
        elif isinstance(source, PrepackedPaths):
            name = source.train_entities.resolve().parent.parent.name
        else:
            p = Path(source)
            name = (p if p.is_dir() else p.parent).resolve().name
    labels = read_label_set(paths.label_set)
    train = entities_to_task(paths.train_entities, labels, name, "train", paths.label_set)
    test = entities_to_task(paths.test_entities, labels, name, "test", paths.label_set)
    return train, test


@dataclass(frozen=True)
class PrepackedData:
    """A pre-packed task with its vectors: row ``i`` of a matrix is example ``i`` of its task."""

    train: Task
    test: Task
    train_vectors: np.ndarray
    test_vectors: np.ndarray
    paths: PrepackedPaths


def load_prepacked(
    source: PathLike | PrepackedConfig | PrepackedPaths,
    layer: int | None = None,
    dtype: np.typing.DTypeLike = np.float32,
    name: str | None = None,
) -> PrepackedData:
    """Load a pre-packed task and its embeddings, checking that the counts agree.

    The embedding files are those named by ``config.ini``; for a folder
    without one, ``embeddings/layers/{train,test}/{layer}.txt`` (``layer`` may
    be left out when the folder has a single layer). A different number of
    vectors than examples is an :class:`InputError` naming the embedding file.
    """
    paths = prepacked_paths(source)
    if paths.train_embeddings is not None and paths.test_embeddings is not None:
        if layer is not None:
            raise ConfigError("config.ini's embedding paths fix the layer; do not pass one")
        train_file, test_file = paths.train_embeddings, paths.test_embeddings
    else:
        folder = paths.train_entities.parent.parent
        layers = sorted(
            set(layer_embedding_paths(folder, "train")) & set(layer_embedding_paths(folder, "test"))
        )
        found = ", ".join(map(str, layers)) or "none"
        if layer is None and len(layers) != 1:
            raise ConfigError(
                f"{folder}: choose a layer (embeddings/layers/{{train,test}}/L.txt; "
                f"layers found: {found})"
            )
        layer = layers[0] if layer is None else layer
        if layer not in layers:
            raise ConfigError(
                f"{folder}: no embeddings/layers/{{train,test}}/{layer}.txt (layers found: {found})"
            )
        train_file = folder / "embeddings" / "layers" / "train" / f"{layer}.txt"
        test_file = folder / "embeddings" / "layers" / "test" / f"{layer}.txt"
        paths = PrepackedPaths(
            paths.label_set, paths.train_entities, paths.test_entities, train_file, test_file
        )
    train, test = load_prepacked_task(source, name=name)
    return PrepackedData(
        train=train,
        test=test,
        train_vectors=read_embeddings(train_file, len(train), dtype),
        test_vectors=read_embeddings(test_file, len(test), dtype),
        paths=paths,
    )
