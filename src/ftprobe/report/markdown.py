"""The study's findings beside the paper's as Markdown (``DIR/findings.md``).

The same comparison the HTML report shows, as text a README, a paper draft or
a pull request can quote: for each analysis the paper's finding, then one row
per (model, task) with the paper's numbers, ours and the verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ftprobe.analyses import AnalysisResult
from ftprobe.analyses.paper import paper_data, verdict_counts
from ftprobe.data.atomic import atomic_open


def _cell(text: str) -> str:
    # A pipe would end the cell; a newline would end the row.
    return text.replace("|", "\\|").replace("\n", " ")


def render_findings(results: Sequence[AnalysisResult], title: str) -> str:
    """Markdown: every analysis' comparison with the paper, with verdict totals on top."""
    totals = verdict_counts(r.comparison for r in results)
    told = ", ".join(f"{n} {v}" for v, n in totals.items() if n) or "nothing compared yet"
    lines = [
        f"# {title}",
        "",
        f"Findings beside the paper: {told}. Verdicts compare directions (does accuracy rise, "
        "does the similarity fall, ...), never magnitudes; the reason says what differs.",
        "",
        f"Source of the paper's numbers: {paper_data()['citation']}",
    ]
    for result in results:
        lines += ["", f"## {result.number}. {result.title}", "", f"Ours: {result.headline}"]
        comparison = result.comparison
        if comparison is None:
            continue
        lines += ["", f"Paper: {comparison.claim}"]
        if not comparison.findings:
            lines += ["", "Nothing of this study to set beside it yet."]
            continue
        lines += ["", "| scope | paper | ours | verdict | reason |", "|---|---|---|---|---|"]
        lines += [
            "| "
            + " | ".join(_cell(v) for v in (f.scope, f.paper, f.ours, f.verdict, f.reason))
            + " |"
            for f in comparison.findings
        ]
    return "\n".join(lines) + "\n"


def write_findings(
    out_dir: Path, results: Sequence[AnalysisResult], path: Path | None = None
) -> Path:
    """Write ``DIR/findings.md`` (or ``path``) atomically; returns where it went."""
    path = Path(path) if path is not None else Path(out_dir) / "findings.md"
    with atomic_open(path) as handle:
        handle.write(render_findings(results, f"Findings of {Path(out_dir).resolve().name}"))
    return path


__all__ = ["render_findings", "write_findings"]
