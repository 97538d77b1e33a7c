"""``ftprobe embed``: extract representations into a store; convert to and from pre-packed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ftprobe.cli.options import OnBadLineOption, ReaderOptionList, reader_options
from ftprobe.errors import ConfigError

if TYPE_CHECKING:
    from ftprobe.encode.store import RepresentationStore


def embed(
    out: Annotated[Path, typer.Option("--out", help="The representation store (a folder).")],
    task: Annotated[
        str | None,
        typer.Option("--task", help="Task name: pos, dep, ps-role, ps-fxn, trec-50, trec-6."),
    ] = None,
    split: Annotated[
        list[str] | None,
        typer.Option(
            "--split",
            help="Split to extract; repeat for several (default: dev and test, the splits here).",
        ),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="Encoder: minilm-l6 (offline default), a local folder or checkpoint, or a hub id.",
        ),
    ] = "minilm-l6",
    model_name: Annotated[
        str | None,
        typer.Option(
            "--model-name", help="Name of the encoder in the store (default: from --model)."
        ),
    ] = None,
    layers: Annotated[
        str, typer.Option("--layers", help="'all' or a comma list such as 0,6.")
    ] = "all",
    pooling: Annotated[
        str,
        typer.Option(
            "--pooling", help="first (first word piece / [CLS]) or mean (mean of pieces)."
        ),
    ] = "first",
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Folder with ud-ewt/, streusle/ and trec/ (default: shared data)."
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Model inputs per batch.")
    ] = 64,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            help="Only the first N examples of each split (a quick look; stored as split "
            "SPLIT-firstN).",
        ),
    ] = None,
    export_prepacked: Annotated[
        Path | None,
        typer.Option(
            "--export-prepacked",
            help="Write the store's train/test entries of --task as a pre-packed folder here.",
        ),
    ] = None,
    import_prepacked: Annotated[
        Path | None,
        typer.Option(
            "--import-prepacked",
            help="Read a pre-packed folder (or its config.ini) into the store.",
        ),
    ] = None,
    train_split: Annotated[
        str | None,
        typer.Option(
            "--train-split",
            help="Store split that is the pre-packed 'train' set (export default: train if the "
            "store has it, else dev, the training set here; import default: train).",
        ),
    ] = None,
    test_split: Annotated[
        str, typer.Option("--test-split", help="Store split that is the pre-packed 'test' set.")
    ] = "test",
    on_bad_line: OnBadLineOption = None,
    option: ReaderOptionList = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
) -> None:
    """Extract every layer's representation of a task into a store (reused when present).

    With --export-prepacked or --import-prepacked, convert between the store and
    the published DirectProbe pre-packed layout instead.
    """
    # Imported here: the store pulls in torch, which `ftprobe --help` should not wait for.
    from ftprobe.encode.store import RepresentationStore

    store = RepresentationStore(out)
    if export_prepacked and import_prepacked:
        raise ConfigError("give either --export-prepacked or --import-prepacked, not both")
    if import_prepacked is not None:
        _import(store, import_prepacked, model, model_name, task, train_split, test_split, pooling)
        return
    if task is None:
        raise ConfigError("--task is required (or --import-prepacked)")
    if export_prepacked is not None:
        _export(
            store,
            export_prepacked,
            model,
            model_name,
            task,
            train_split,
            test_split,
            pooling,
            layers,
        )
        return
    options = reader_options(option, on_bad_line)
    _extract(
        store,
        task,
        options,
        split,
        model,
        model_name,
        layers,
        pooling,
        data_dir,
        batch_size,
        device,
        limit,
        progress,
    )


def _extract(
    store: RepresentationStore,
    task: str,
    options: dict[str, str],
    splits: list[str] | None,
    model: str,
    model_name: str | None,
    layers: str,
    pooling: str,
    data_dir: Path | None,
    batch_size: int,
    device: str,
    limit: int | None,
    progress: bool,
) -> None:
    from ftprobe.data.registry import load_splits, load_task
    from ftprobe.encode.alignment import check_pooling
    from ftprobe.encode.models import load_encoder, resolve_model

    check_pooling(pooling)
    ref = resolve_model(model)
    tasks = load_splits(task, data_dir=data_dir, **options)
    for name in splits or []:
        if name not in tasks:
            load_task(task, name, data_dir=data_dir, **options)  # raises the registry's reason
    loaded = None
    for name in splits or list(tasks):
        data = tasks[name]
        if limit is not None:
            data = data.first(limit)
        # One model load serves every split that needs extraction.
        if loaded is None and store.missing_layers(data, ref, layers, pooling, model_name):
            loaded = load_encoder(ref, device)
        entry = store.get_or_extract(
            data,
            ref,
            layers,
            pooling,  # type: ignore[arg-type]
            model_name=model_name,
            device=device,
            batch_size=batch_size,
            progress=progress,
            encoder=loaded,
        )
        rep = entry.report
        typer.echo(
            f"{entry.key}: {entry.n_examples} x {entry.dim}, layers {_ranges(entry.layers)} "
            f"-> {entry.path}"
        )
        if rep is not None:
            typer.echo(
                f"  {rep.windowed_units} units in {rep.windowed_sentences} sentences longer than "
                f"{rep.max_length} positions were split into overlapping windows; "
                f"{rep.unk_units} units touch {rep.unk_words} words without word pieces"
            )


def _export(
    store: RepresentationStore,
    folder: Path,
    model: str,
    model_name: str | None,
    task: str,
    train_split: str | None,
    test_split: str,
    pooling: str,
    layers: str,
) -> None:
    from ftprobe.encode.prepacked_io import export_prepacked
    from ftprobe.encode.store import EntryKey

    name = model_name or _store_model_name(model)
    if train_split is None:
        has_train = store.entry(EntryKey(name, task, "train", pooling)) is not None
        train_split = "train" if has_train else "dev"
    chosen = None
    if layers.strip().lower() != "all":
        try:
            chosen = [int(x) for x in layers.split(",") if x.strip()]
        except ValueError:
            raise ConfigError(f"--layers must be 'all' or a comma list, got {layers!r}") from None
    result = export_prepacked(
        store,
        name,
        task,
        folder,
        train_split=train_split,
        test_split=test_split,
        pooling=pooling,
        layers=chosen,
    )
    typer.echo(
        f"wrote {result.folder}: train {result.n_train}, test {result.n_test} examples, "
        f"layers {_ranges(result.layers)}"
    )


def _import(
    store: RepresentationStore,
    folder: Path,
    model: str,
    model_name: str | None,
    task: str | None,
    train_split: str | None,
    test_split: str,
    pooling: str,
) -> None:
    from ftprobe.encode.prepacked_io import import_prepacked

    name = model_name or _store_model_name(model)
    entries = import_prepacked(
        store,
        folder,
        name,
        task=task,
        train_split=train_split or "train",
        test_split=test_split,
        pooling=pooling,
    )
    for entry in entries:
        typer.echo(
            f"{entry.key}: {entry.n_examples} x {entry.dim}, layers {_ranges(entry.layers)} "
            f"-> {entry.path}"
        )


def _store_model_name(model: str) -> str:
    """The store's name for an encoder spec; a spec that resolves to nothing is used as it is."""
    from ftprobe.encode.models import resolve_model
    from ftprobe.encode.store import model_slug
    from ftprobe.errors import FtprobeError

    try:
        return model_slug(resolve_model(model))
    except FtprobeError:
        return model.replace("/", "--")


def _ranges(layers: list[int]) -> str:
    return ",".join(str(x) for x in layers)
