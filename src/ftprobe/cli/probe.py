"""``ftprobe probe``: DirectProbe on pre-packed files, writing the published outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ftprobe.cli.console import console
from ftprobe.errors import ConfigError
from ftprobe.geometry.settings import MIN_CLUSTER_SIZE

_out = console(stderr=True)


def probe(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A published DirectProbe config.ini ([run] output_path, [data] paths, "
            "[clustering] mode...). The other input options are then not allowed.",
        ),
    ] = None,
    train_embeddings: Annotated[
        Path | None, typer.Option(help="Training vectors: one per line, space-separated floats.")
    ] = None,
    train_entities: Annotated[
        Path | None, typer.Option(help="Training examples: text<TAB>label per line.")
    ] = None,
    labels: Annotated[
        Path | None, typer.Option(help="The label set (tags.txt), one label per line.")
    ] = None,
    test_embeddings: Annotated[
        Path | None, typer.Option(help="Test vectors (with --test-entities): predictions.")
    ] = None,
    test_entities: Annotated[Path | None, typer.Option(help="Test examples.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (empty or absent).")] = None,
    mode: Annotated[
        str,
        typer.Option(
            help="'probing' clusters the training set; 'prediction' uses --clusters instead."
        ),
    ] = "probing",
    clusters: Annotated[
        Path | None, typer.Option(help="clusters.txt to use in prediction mode.")
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            help="Replace an earlier run in the output folder: its output files are removed "
            "first (other files stay)."
        ),
    ] = False,
    resume: Annotated[
        bool, typer.Option(help="Continue an interrupted clustering from its saved state.")
    ] = False,
    device: Annotated[
        str | None,
        typer.Option(
            help="auto (GPU when present), cpu or cuda. Default: auto, or cpu when "
            "a config.ini says enable_cuda = False."
        ),
    ] = None,
    min_cluster_size: Annotated[
        int,
        typer.Option(help="Label statistics ignore clusters with at most this many points."),
    ] = MIN_CLUSTER_SIZE,
    save_every: Annotated[
        float,
        typer.Option(
            help="Seconds between saves of the clustering's resume state (what --resume "
            "continues from after a crash or kill); 0 saves after every merge decision."
        ),
    ] = 30.0,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Run DirectProbe: cluster, hull distances, predictions, and the published files.

    Writes clusters.txt, dis.txt, prediction.txt (with a test set), vec.txt,
    outside_min.txt, inside_max.txt, inside_mean.txt and log.txt into the output folder.
    """
    # Imported here: the engine pulls in torch, which `ftprobe --help` should not wait for.
    from ftprobe.geometry.runner import ProbeJob, job_from_config, run_probe

    flags = [train_embeddings, train_entities, labels, test_embeddings, test_entities, out]
    if config is not None:
        if any(f is not None for f in flags) or clusters is not None or mode != "probing":
            raise ConfigError("--config names the inputs, the output and the mode: give no others")
        job = job_from_config(
            config,
            overwrite=overwrite,
            resume=resume,
            device=device,
            min_cluster_size=min_cluster_size,
            save_every=save_every,
        )
    else:
        missing = [
            name
            for name, value in (
                ("--train-embeddings", train_embeddings),
                ("--train-entities", train_entities),
                ("--labels", labels),
                ("--out", out),
            )
            if value is None
        ]
        if missing:
            raise ConfigError(f"give --config, or {', '.join(missing)}")
        if mode not in ("probing", "prediction"):
            raise ConfigError(f"--mode must be 'probing' or 'prediction', not {mode!r}")
        assert train_embeddings and train_entities and labels and out
        job = ProbeJob(
            train_embeddings=train_embeddings,
            train_entities=train_entities,
            labels=labels,
            out=out,
            test_embeddings=test_embeddings,
            test_entities=test_entities,
            mode=mode,  # type: ignore[arg-type]
            clusters=clusters,
            overwrite=overwrite,
            resume=resume,
            device=device or "auto",
            min_cluster_size=min_cluster_size,
            save_every=save_every,
        )
    result = run_probe(job, progress=not quiet)
    line = f"{result.clustering.n_clusters} clusters"
    if result.accuracy is not None:
        line += f", nearest-cluster accuracy {result.accuracy:.4f}"
    c = result.clustering
    if c.conflicts:
        line += (
            f"; {c.n_conflicting_vectors} vectors carry several labels ({c.n_conflicting_points}"
            f" points, {c.n_forced_clusters} forced clusters, the source of the zero "
            f"distances; the other points form {c.n_other_clusters} clusters)"
        )
    if result.ties is not None and result.ties.n_tied:
        t = result.ties
        line += (
            f"; {t.n_tied} test points tie across labels at the nearest distance (lowest "
            f"cluster id wins; accuracy {t.accuracy_low:.4f} to {t.accuracy_high:.4f})"
        )
    _out.print(f"{line}; files in {result.out} ({result.seconds:.1f} s)", highlight=False)
