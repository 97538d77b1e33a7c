"""``ftprobe report DIR``: a self-contained HTML report of the study's analyses."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ftprobe.cli.analyze import DirArgument, NoteOption, StudyOption, show
from ftprobe.cli.console import console

_out = console()


def report(
    out_dir: DirArgument,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write the page (default: DIR/report.html)."),
    ] = None,
    study: StudyOption = None,
    note: NoteOption = None,
) -> None:
    """Run every analysis; write one self-contained report.html and findings.md (vs the paper)."""
    # Imported here: the analyses pull in matplotlib and pandas, which other commands skip.
    from ftprobe.report import write_findings, write_report
    from ftprobe.study.analyze import analyze_study, study_context

    context = study_context(out_dir, study, note or ())
    results = analyze_study(out_dir, None, context, on_result=show)
    path = write_report(out_dir, results, context, output)
    findings = write_findings(out_dir, results)
    _out.print(f"wrote {path} and {findings}")
