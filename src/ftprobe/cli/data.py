"""``ftprobe data``: get the corpora (``fetch``) and look at a task (``show``)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ftprobe.cli.console import command_group, console
from ftprobe.cli.options import OnBadLineOption, ReaderOptionList, reader_options
from ftprobe.data.paths import ENV_VAR, data_dir
from ftprobe.data.registry import TASK_NAMES, load_splits, load_task
from ftprobe.data.task import Task
from ftprobe.data.textfile import SkippedLineWarning
from ftprobe.errors import ConfigError

app = command_group(
    help="Get the corpora and look at the tasks built from them.", no_args_is_help=True
)

_UNIT_NOUN = {"word": "words", "pair": "dependencies", "span": "units", "sentence": "sentences"}


@app.command("fetch")
def fetch(
    to: Annotated[
        Path | None,
        typer.Option(
            "--to", help=f"Data folder to fill (default: ${ENV_VAR}, else ~/.cache/ftprobe/data)."
        ),
    ] = None,
    from_dir: Annotated[
        Path | None,
        typer.Option(
            "--from", help="Import local copies from this folder (same layout); no download."
        ),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            help="Only these corpora (ud-ewt, streusle, trec) or the corpora of these tasks; "
            "repeatable.",
        ),
    ] = None,
    with_train: Annotated[
        bool,
        typer.Option("--with-train", help="Also fetch the UD/STREUSLE train splits (unpinned)."),
    ] = False,
    accept_changed: Annotated[
        bool,
        typer.Option(
            "--accept-changed",
            help="Keep a file whose SHA-256 differs from the pinned one (and record it).",
        ),
    ] = False,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="Download from this mirror (same layout) instead."),
    ] = None,
    retries: Annotated[int, typer.Option("--retries", min=0, help="Resumed retries per file.")] = 3,
) -> None:
    """Download the corpora (verified by SHA-256, resumable) or import local copies."""
    from ftprobe.data.fetch import fetch_corpora, select_files

    root = data_dir(to)
    out = console()
    source = "from " + str(from_dir) if from_dir else "from " + (base_url or "canonical URLs")
    out.print(f"data folder {root} ({source})")
    if from_dir is not None and not from_dir.is_dir():
        raise ConfigError(f"--from {from_dir}: no such folder")
    files = select_files(only or None, with_train)
    fetch_corpora(
        root,
        files,
        base_url=base_url,
        source_dir=from_dir,
        accept_changed=accept_changed,
        retries=retries,
        echo=out.print,
    )


@app.command("show")
def show(
    task: Annotated[
        str,
        typer.Argument(
            help=f"Task: {', '.join(TASK_NAMES)}, or jsonl:PATH, tsv:PATH, prepacked:PATH."
        ),
    ],
    data_dir_: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help=f"Data folder (default: ${ENV_VAR}, else the download cache)."
        ),
    ] = None,
    split: Annotated[str | None, typer.Option("--split", help="Only this split.")] = None,
    on_bad_line: OnBadLineOption = None,
    option: ReaderOptionList = None,
) -> None:
    """Print a task's number of examples per split and per label."""
    options = reader_options(option, on_bad_line)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SkippedLineWarning)
        if split is not None:
            tasks = {split: load_task(task, split, data_dir_, **options)}
        else:
            tasks = load_splits(task, data_dir_, **options)
    skipped = [w.message for w in caught if isinstance(w.message, SkippedLineWarning)]
    for w in caught:
        if not isinstance(w.message, SkippedLineWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    _print_counts(task, tasks, skipped)


def _print_counts(name: str, tasks: dict[str, Task], skipped: list[SkippedLineWarning]) -> None:
    out = console()
    first = next(iter(tasks.values()))
    noun = _UNIT_NOUN[first.unit_kind]
    table = Table(title=f"{name}: {len(first.labels)} labels, {first.unit_kind} units")
    table.add_column("label")
    for split in tasks:
        table.add_column(split, justify="right")
    counts = {split: t.label_counts() for split, t in tasks.items()}
    for label in first.labels:
        table.add_row(label, *(f"{counts[s][label]:,}" for s in tasks))
    table.add_section()
    table.add_row("total", *(f"{len(t):,}" for t in tasks.values()), style="bold")
    table.add_row(
        "labels present",
        *(f"{len(counts[s])} of {len(first.labels)}" for s in tasks),
    )
    out.print(table)
    for split, t in tasks.items():
        bad = [w for w in skipped if t.examples and w.path == _file_of(t)]
        extra = f" (+{len(bad)} malformed line(s) skipped)" if bad else ""
        where = ""
        if t.unit_kind != "sentence" and all(ex.sent_id for ex in t.examples):
            # The corpus's own count (its sentence ids), repeated lines included.
            where = f" in {len({ex.sent_id for ex in t.examples}):,} sentences"
        out.print(f"{split}: {len(t):,} {noun}{where}, {len(counts[split])} labels{extra}")
    for w in skipped:
        out.print(f"skipped {w.path}, line {w.line}: {w.reason}")


def _file_of(task: Task) -> str | None:
    source = task.examples[0].source
    return source.rpartition(":")[0] if source else None
