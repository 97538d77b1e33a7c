"""``ftprobe analyze DIR``: run the study's analyses and write their tables and figures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ftprobe.cli.console import console

if TYPE_CHECKING:
    from ftprobe.analyses import AnalysisResult

_out = console()

StudyOption = Annotated[
    Path | None,
    typer.Option(
        "--study",
        help="The study file (TOML) the run used, so captions can say which split served as "
        "training data for each task. Default: DIR/study.toml when it exists.",
    ),
]
NoteOption = Annotated[
    list[str] | None,
    typer.Option(
        "--note", help="A sentence to add to every caption (repeatable), e.g. the data's origin."
    ),
]
DirArgument = Annotated[Path, typer.Argument(help="The study's output folder (holding tables/).")]


def parse_only(only: str | None) -> list[str] | None:
    """'1,3,linearity' -> ['1', '3', 'linearity']; None stays None (all analyses)."""
    if only is None:
        return None
    return [part.strip() for part in only.split(",") if part.strip()]


def show(result: AnalysisResult) -> None:
    """Print one analysis' headline and how it stands beside the paper, as it finishes."""
    _out.print(f"{result.number}. {result.title}", style="bold", end="")
    _out.print(f": {result.headline}")
    comparison = result.comparison
    if comparison is None:
        return
    _out.print(f"   {comparison.summary()}")
    for finding in comparison.findings:
        _out.print(
            f"   - {finding.scope}: {finding.verdict} (paper {finding.paper}; ours {finding.ours})"
        )


def analyze(
    out_dir: DirArgument,
    only: Annotated[
        str | None,
        typer.Option(
            "--only", help="Comma-separated analyses to run, by number or name (default: all)."
        ),
    ] = None,
    study: StudyOption = None,
    note: NoteOption = None,
) -> None:
    """Run the analyses (the paper's nine, then controls); write DIR/analyses/<n>_<name>.*."""
    # Imported here: the analyses pull in matplotlib and pandas, which other commands skip.
    from ftprobe.study.analyze import analyze_study, study_context

    context = study_context(out_dir, study, note or ())
    results = analyze_study(out_dir, parse_only(only), context, on_result=show)
    _out.print(f"wrote {len(results)} analyses to {out_dir / 'analyses'}")
