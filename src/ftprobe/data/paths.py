"""Where the corpora are: the data folder setting and its layout.

The data folder is, in order of precedence:

1. an explicit argument (``--data-dir`` on the command line);
2. the environment variable ``FTPROBE_DATA``;
3. the download cache: ``$XDG_CACHE_HOME/ftprobe/data``, or
   ``~/.cache/ftprobe/data`` when ``XDG_CACHE_HOME`` is unset
   (``ftprobe data fetch`` fills it).

Inside it the layout is that of the shared data folder::

    ud-ewt/en_ewt-ud-{train,dev,test}.conllu
    streusle/streusle.ud_{train,dev,test}.conllulex
    trec/train_5500.label, trec/TREC_10.label

The list of files, with their canonical URLs and pinned SHA-256, is package
data (``corpora.json``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from ftprobe.errors import FtprobeError

__all__ = [
    "ENV_VAR",
    "CorpusFile",
    "DataNotFoundError",
    "corpus_file",
    "corpus_files",
    "data_dir",
    "default_cache_dir",
    "present_splits",
]

ENV_VAR = "FTPROBE_DATA"


class DataNotFoundError(FtprobeError):
    """A corpus file is not in the data folder."""


@dataclass(frozen=True)
class CorpusFile:
    """One file of a corpus: its place in the data folder and where it comes from."""

    path: str
    corpus: str
    split: str
    url: str
    sha256: str | None
    default: bool


@cache
def corpus_files() -> tuple[CorpusFile, ...]:
    """Every corpus file ftprobe knows, from the packaged ``corpora.json``."""
    text = resources.files("ftprobe.data").joinpath("corpora.json").read_text(encoding="utf-8")
    return tuple(CorpusFile(**entry) for entry in json.loads(text)["files"])


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/ftprobe/data``, or ``~/.cache/ftprobe/data``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ftprobe" / "data"


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``explicit`` if given, else ``$FTPROBE_DATA``, else the cache."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return default_cache_dir()


def _where(explicit: str | os.PathLike[str] | None) -> str:
    if explicit is not None and str(explicit) != "":
        return "given explicitly"
    if os.environ.get(ENV_VAR):
        return f"from ${ENV_VAR}"
    return f"the default cache; set ${ENV_VAR} or pass --data-dir to use another folder"


def corpus_file(corpus: str, split: str, data_dir_: str | os.PathLike[str] | None = None) -> Path:
    """The path of ``corpus``'s ``split`` file in the data folder.

    A file that is not there is a :class:`DataNotFoundError` saying which file,
    where it looked and how to get it.
    """
    entry = next((f for f in corpus_files() if (f.corpus, f.split) == (corpus, split)), None)
    if entry is None:
        known = sorted({f"{f.corpus}/{f.split}" for f in corpus_files()})
        raise FtprobeError(f"no corpus file {corpus}/{split}; known: {', '.join(known)}")
    root = data_dir(data_dir_)
    path = root / entry.path
    if not path.is_file():
        extra = "" if entry.default else " --with-train"
        raise DataNotFoundError(
            f"missing corpus file {entry.path}: looked for {path} (data folder {root}, "
            f"{_where(data_dir_)}); run `ftprobe data fetch --only {corpus}{extra}` to get it"
        )
    return path


def present_splits(corpus: str, data_dir_: str | os.PathLike[str] | None = None) -> list[str]:
    """The splits of ``corpus`` whose files are in the data folder, in train/dev/test order."""
    root = data_dir(data_dir_)
    return [f.split for f in corpus_files() if f.corpus == corpus and (root / f.path).is_file()]
