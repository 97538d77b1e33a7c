"""``ftprobe finetune``: fine-tune an encoder on a task, keeping checkpoints."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ftprobe.cli.console import console as new_console
from ftprobe.cli.options import OnBadLineOption, ReaderOptionList, reader_options
from ftprobe.errors import ConfigError


def finetune(
    task: Annotated[
        str,
        typer.Option(
            "--task", help="Task: pos, dep, ps-role, ps-fxn, trec-50, trec-6, jsonl:PATH, tsv:PATH."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", help="Run folder: checkpoints, manifest, log and subtrain split."),
    ],
    model: Annotated[
        str,
        typer.Option(
            "--model", help="Encoder: minilm-l6 (offline default), a local folder, or a hub id."
        ),
    ] = "minilm-l6",
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="Training split (default: train when the task has one, else dev, as in the "
            "shared data where EWT and STREUSLE have no train file).",
        ),
    ] = None,
    eval_split: Annotated[
        str | None,
        typer.Option("--eval-split", help="Split whose accuracy each checkpoint records."),
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Passes over the data.")] = 3,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Sentences per update (all their units).")
    ] = 16,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate of AdamW.")] = 5e-5,
    warmup_ratio: Annotated[
        float, typer.Option("--warmup-ratio", help="Share of updates with linear warm-up.")
    ] = 0.1,
    weight_decay: Annotated[
        float, typer.Option("--weight-decay", help="AdamW weight decay (not on biases/LayerNorm).")
    ] = 0.01,
    seed: Annotated[int, typer.Option("--seed", help="Seed of head, dropout and order.")] = 13,
    save_every: Annotated[
        int | None,
        typer.Option(
            "--save-every", min=1, help="Also save every N updates (step 0 and the end always)."
        ),
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", min=1, help="Stop after N updates.")
    ] = None,
    pooling: Annotated[
        str,
        typer.Option(
            "--pooling",
            help="How the head sees a unit, as extraction pools it: first (first piece/[CLS]) "
            "or mean.",
        ),
    ] = "first",
    max_length: Annotated[
        int | None,
        typer.Option("--max-length", min=3, help="Truncate inputs here (default: model limit)."),
    ] = None,
    subtrain_fraction: Annotated[
        float,
        typer.Option(
            "--subtrain-fraction",
            help="Save a seeded subtrain/subtest split of the training split with this share "
            "in subtrain (0: none).",
        ),
    ] = 0.8,
    split_seed: Annotated[
        int | None,
        typer.Option("--split-seed", help="Seed of the subtrain split (default: --seed)."),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="Only the first N examples of each split (a slice)."),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Data folder (default: $FTPROBE_DATA, else the cache)."),
    ] = None,
    on_bad_line: OnBadLineOption = None,
    option: ReaderOptionList = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="CPU threads for torch.")
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
) -> None:
    """Fine-tune an encoder with a head for the task's unit, saving checkpoints.

    Saves the encoder (a transformers folder), the head and a record at step 0,
    every --save-every updates and at the end. Rerunning with the same settings
    reuses a finished run and resumes an interrupted one.
    """
    import torch

    from ftprobe.data.registry import load_task, task_splits
    from ftprobe.encode.finetune import FinetuneSettings
    from ftprobe.encode.finetune import finetune as run_finetune

    if threads is not None:
        torch.set_num_threads(threads)
    options = reader_options(option, on_bad_line)
    if split is None:
        present = task_splits(task, data_dir)
        split = "train" if "train" in present else "dev" if "dev" in present else None
        if split is None:
            raise ConfigError(f"task {task!r} has no train or dev split: name one with --split")
    settings = FinetuneSettings(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=lr,
        warmup_ratio=warmup_ratio,
        weight_decay=weight_decay,
        seed=seed,
        save_every=save_every,
        max_steps=max_steps,
        pooling=pooling,
        max_length=max_length,
    )
    with warnings.catch_warnings():
        # Skipped malformed lines were asked for; the reader already names them.
        if options.get("on_bad_line") == "skip":
            warnings.simplefilter("ignore")
        train = load_task(task, split, data_dir, **options)
        evaluation = load_task(task, eval_split, data_dir, **options) if eval_split else None
    if limit is not None:
        train = train.subset(range(min(limit, len(train))))
        if evaluation is not None:
            evaluation = evaluation.subset(range(min(limit, len(evaluation))))
    run = run_finetune(
        train,
        out,
        model,
        settings,
        eval_task=evaluation,
        subtrain_fraction=subtrain_fraction,
        split_seed=split_seed,
        device=device,
        progress=progress,
    )
    console = new_console()
    console.print(f"run folder: {run.out}")
    if run.reused:
        console.print(f"{out}: this run is complete already; nothing to do.")
    elif run.resumed_from is not None:
        console.print(f"{out}: resumed from step {run.resumed_from}.")
    table = Table("step", "epoch", "train loss", f"{eval_split or 'dev'} accuracy", "checkpoint")
    for record in run.checkpoints:
        table.add_row(
            str(record.step),
            f"{record.epoch:.2f}",
            "-" if record.train_loss is None else f"{record.train_loss:.4f}",
            "-" if record.dev_accuracy is None else f"{record.dev_accuracy:.4f}",
            record.path.name,
        )
    console.print(table)
    if run.split_file is not None:
        console.print(f"subtrain/subtest split: {run.split_file}")
