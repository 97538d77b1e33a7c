"""Task names and the readers behind them.

Built-in tasks (read from the data folder, see :mod:`ftprobe.data.paths`):

==========  ===========================================  ==============================
name        what                                         label set
==========  ===========================================  ==============================
pos         UD EWT, UPOS of every word                   the 17 UD tags (fixed)
dep         UD EWT, DEPREL of (head, dependent)          relations found, all splits
ps-role     STREUSLE, scene role (SS) of adpositions     roles found, all splits
ps-fxn      STREUSLE, function (SS2) of adpositions      functions found, all splits
trec-50     TREC, fine question class ``COARSE:fine``    the 50 fine classes (fixed)
trec-6      TREC, coarse question class                  the 6 coarse classes (fixed)
==========  ===========================================  ==============================

Splits follow the files present: ``dev`` and ``test`` for UD/STREUSLE (plus
``train`` when its file has been fetched), ``train`` and ``test`` for TREC.

Users' data: ``jsonl:PATH`` / ``tsv:PATH`` (a file, whose name without
suffix is the split, or a folder of ``SPLIT.jsonl`` / ``SPLIT.tsv`` files;
the label set is ``labels.txt`` beside them if present, else the labels
found in all splits), and ``prepacked:PATH`` (a published DirectProbe folder or
its ``config.ini``; splits ``train`` and ``test``, labels from ``tags.txt``).

Options (keyword arguments, also accepted as strings from the command line):
``dep``: ``include_root`` (default false), ``subtypes`` (default true);
``trec-*``: ``on_bad_line`` (``error``/``skip``), ``encoding`` (default utf-8);
``prepacked``: ``relative_to`` (``auto``/``cwd``/``config``).
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftprobe.data.conllu import UPOS_TAGS, dep_examples, pos_examples, read_sentences
from ftprobe.data.paths import corpus_file, corpus_files, present_splits
from ftprobe.data.streusle import N_COLUMNS, ps_examples
from ftprobe.data.task import Example, LabelSet, Task, UnitKind
from ftprobe.data.trec import COARSE_LABELS, FINE_LABELS, trec_examples
from ftprobe.data.userfile import user_examples
from ftprobe.errors import ConfigError, InputError

__all__ = ["TASK_NAMES", "USER_PREFIXES", "load_splits", "load_task", "task_files", "task_splits"]

PathLike = str | os.PathLike[str]
USER_PREFIXES = ("jsonl", "tsv", "prepacked")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not true or false")


def _encoding(value: Any) -> str:
    try:
        codecs.lookup(str(value))
    except LookupError:
        raise ValueError(f"{value!r} is not a text encoding Python knows (e.g. latin-1)") from None
    return str(value)


def _choice(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if str(value) not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return str(value)

    return parse


@dataclass(frozen=True)
class _Builtin:
    corpus: str
    unit_kind: UnitKind
    read: Callable[..., list[Example]]  # (path, **options) -> examples
    fixed_labels: tuple[str, ...] | None
    options: dict[str, Callable[[Any], Any]] = field(default_factory=dict)


_BUILTINS: dict[str, _Builtin] = {
    "pos": _Builtin("ud-ewt", "word", lambda p: pos_examples(read_sentences(p)), UPOS_TAGS),
    "dep": _Builtin(
        "ud-ewt",
        "pair",
        lambda p, include_root=False, subtypes=True: dep_examples(
            read_sentences(p), include_root, subtypes
        ),
        None,
        {"include_root": _bool, "subtypes": _bool},
    ),
    "ps-role": _Builtin(
        "streusle", "span", lambda p: ps_examples(read_sentences(p, N_COLUMNS), "role"), None
    ),
    "ps-fxn": _Builtin(
        "streusle", "span", lambda p: ps_examples(read_sentences(p, N_COLUMNS), "fxn"), None
    ),
    "trec-50": _Builtin(
        "trec",
        "sentence",
        lambda p, **o: trec_examples(p, "fine", **o),
        FINE_LABELS,
        {"on_bad_line": _choice("error", "skip"), "encoding": _encoding},
    ),
    "trec-6": _Builtin(
        "trec",
        "sentence",
        lambda p, **o: trec_examples(p, "coarse", **o),
        COARSE_LABELS,
        {"on_bad_line": _choice("error", "skip"), "encoding": _encoding},
    ),
}

#: The built-in task names.
TASK_NAMES: tuple[str, ...] = tuple(_BUILTINS)


def _parse_options(
    name: str, allowed: dict[str, Callable[[Any], Any]], options: dict[str, Any]
) -> dict[str, Any]:
    parsed = {}
    for key, value in options.items():
        if key not in allowed:
            valid = ", ".join(sorted(allowed)) or "none"
            raise ConfigError(f"task {name!r} has no option {key!r} (its options: {valid})")
        try:
            parsed[key] = allowed[key](value)
        except ValueError as exc:
            raise ConfigError(f"task {name!r}, option {key}: {exc}") from None
    return parsed


def _split_name(name: str) -> tuple[str, str | None]:
    prefix, sep, rest = name.partition(":")
    if sep and prefix.lower() in USER_PREFIXES:
        return prefix.lower(), rest
    return name.strip().lower(), None


def _unknown_task(name: str) -> ConfigError:
    return ConfigError(
        f"unknown task {name!r}; tasks: {', '.join(TASK_NAMES)}, "
        "or jsonl:PATH, tsv:PATH, prepacked:PATH for your own data"
    )


def _user_files(fmt: str, path: Path) -> dict[str, Path]:
    if path.is_file():
        return {path.stem: path}
    if path.is_dir():
        files = {f.stem: f for f in sorted(path.glob(f"*.{fmt}")) if f.is_file()}
        if files:
            return files
        raise ConfigError(f"{path}: no *.{fmt} files in this folder")
    raise ConfigError(f"{path}: no such file or folder")


def task_splits(name: str, data_dir: PathLike | None = None) -> list[str]:
    """The split names a task has with the files present."""
    kind, arg = _split_name(name)
    if arg is not None:
        if kind == "prepacked":
            return ["train", "test"]
        return list(_user_files(kind, Path(arg)))
    if kind not in _BUILTINS:
        raise _unknown_task(name)
    return present_splits(_BUILTINS[kind].corpus, data_dir)


def task_files(name: str, data_dir: PathLike | None = None) -> list[Path]:
    """The files a task's examples and label set are read from, sorted.

    For a built-in task, every present split of its corpus (a label set that is
    the union over splits depends on all of them); for ``jsonl:``/``tsv:`` the
    split files and a ``labels.txt`` beside them; for ``prepacked:`` every file
    of the folder (or the ``config.ini`` and the folder it names). A study keys
    its jobs on the content of these files, so other data is never reused.
    """
    kind, arg = _split_name(name)
    if kind == "prepacked" and arg is not None:
        source = Path(arg)
        folder = source.parent if source.is_file() else source
        return sorted(p for p in folder.rglob("*") if p.is_file())
    if arg is not None:
        files = list(_user_files(kind, Path(arg)).values())
        folder = Path(arg) if Path(arg).is_dir() else Path(arg).parent
        labels = folder / "labels.txt"
        return sorted(files + ([labels] if labels.is_file() else []))
    if kind not in _BUILTINS:
        raise _unknown_task(name)
    corpus = _BUILTINS[kind].corpus
    return sorted(
        corpus_file(corpus, split, data_dir) for split in present_splits(corpus, data_dir)
    )


# Reader options that change how a file is read, not which examples a task has.
READING_ONLY_OPTIONS = frozenset({"on_bad_line", "encoding"})


def _variant_name(kind: str, options: Mapping[str, Any]) -> str:
    """A built-in task's name after the (parsed) options that select its examples.

    ``dep+include_root=true``: a different selection of examples is a different task
    (its own store entry, not a mismatch with the full one); options that only change
    how a file is read (:data:`READING_ONLY_OPTIONS`) leave the name as it is.
    """

    def text(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    variant = sorted(f"{k}={text(v)}" for k, v in options.items() if k not in READING_ONLY_OPTIONS)
    return "+".join([kind, *variant])


def load_splits(name: str, data_dir: PathLike | None = None, **options: Any) -> dict[str, Task]:
    """Every split of a task, all sharing one label set (the fixed list, or the union).

    ``data_dir`` is the data folder (default: ``$FTPROBE_DATA``, else the
    cache); ``options`` are the task's reader options (see the module doc).
    A built-in task without any of its files raises
    :class:`~ftprobe.data.paths.DataNotFoundError`.
    """
    return _load(name, None, data_dir, options)


def load_task(name: str, split: str, data_dir: PathLike | None = None, **options: Any) -> Task:
    """One split of a task, with the same label set :func:`load_splits` gives it.

    For tasks whose label set is the union over splits, every split is read
    so that label indices agree however the split is loaded.
    """
    return _load(name, split, data_dir, options)[split]


def _check_split(name: str, split: str | None, valid: list[str], possible: list[str]) -> None:
    if split is not None and split not in valid:
        if split in possible:
            return  # a known split whose file is missing: corpus_file explains
        raise ConfigError(
            f"task {name!r} has no split {split!r}; its splits: {', '.join(valid) or 'none'}"
        )


def _load(
    name: str, split: str | None, data_dir: PathLike | None, options: dict[str, Any]
) -> dict[str, Task]:
    # ftprobe.data.prepacked is imported where it is used: it needs numpy and
    # pandas, which reading the corpora does not.
    kind, arg = _split_name(name)
    if kind == "prepacked" and arg is not None:
        from ftprobe.data.prepacked import load_prepacked_task, read_config

        opts = _parse_options(name, {"relative_to": _choice("auto", "cwd", "config")}, options)
        source: Any = Path(arg)
        if source.is_file() or (source / "config.ini").is_file():
            cfg_file = source if source.is_file() else source / "config.ini"
            source = read_config(cfg_file, **opts)
        train, test = load_prepacked_task(source, name=name)
        _check_split(name, split, ["train", "test"], [])
        return {"train": train, "test": test}
    if arg is not None:
        _parse_options(name, {}, options)
        files = _user_files(kind, Path(arg))
        _check_split(name, split, list(files), [])
        read: dict[str, tuple[list[Example], UnitKind]] = {
            s: user_examples(p, kind) for s, p in files.items()
        }
        kinds = {k for _, k in read.values()}
        if len(kinds) > 1:
            raise ConfigError(f"{arg}: the splits use different unit kinds {sorted(kinds)}")
        folder = Path(arg) if Path(arg).is_dir() else Path(arg).parent
        labels_file = folder / "labels.txt"
        from ftprobe.data.prepacked import read_label_set

        labels = (
            read_label_set(labels_file)
            if labels_file.is_file()
            else LabelSet.from_labels(ex.label for exs, _ in read.values() for ex in exs)
        )
        return {
            s: _task(name, s, exs, labels, k, labels_file if labels_file.is_file() else None)
            for s, (exs, k) in read.items()
        }
    if kind not in _BUILTINS:
        raise _unknown_task(name)
    spec = _BUILTINS[kind]
    opts = _parse_options(kind, spec.options, options)
    possible = [f.split for f in corpus_files() if f.corpus == spec.corpus]
    present = present_splits(spec.corpus, data_dir)
    _check_split(kind, split, present, possible)
    if split is not None and spec.fixed_labels is not None:
        wanted = [split]
    elif split is not None:
        wanted = sorted(set(present) | {split}, key=possible.index)
    else:  # nothing present: ask for the first default split, whose error explains
        defaults = [f.split for f in corpus_files() if f.corpus == spec.corpus and f.default]
        wanted = present or defaults[:1]
    examples = {s: spec.read(corpus_file(spec.corpus, s, data_dir), **opts) for s in wanted}
    if spec.fixed_labels is not None:
        labels = LabelSet(spec.fixed_labels)
    else:
        labels = LabelSet.from_labels(ex.label for exs in examples.values() for ex in exs)
    name = _variant_name(kind, opts)
    return {s: _task(name, s, exs, labels, spec.unit_kind) for s, exs in examples.items()}


def _task(
    name: str,
    split: str,
    examples: list[Example],
    labels: LabelSet,
    kind: UnitKind,
    labels_file: Path | None = None,
) -> Task:
    for ex in examples:
        if ex.label not in labels:
            path, _, line = (ex.source or "?:0").rpartition(":")
            where = f" ({labels_file})" if labels_file else ""
            raise InputError(path, int(line), f"label {ex.label!r} is not in the label set{where}")
    return Task(name, split, examples, labels, kind)
