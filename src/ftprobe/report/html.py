"""A self-contained HTML report of the analyses.

The page needs nothing outside itself: figures are embedded as base64 PNG,
styles and the few lines of table-sorting script are inline, and a
Content-Security-Policy forbids loading anything else. Every piece of text
from the study (labels, task names, captions) is HTML-escaped.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from ftprobe.analyses import AnalysisResult, StudyContext
from ftprobe.data.atomic import atomic_open, utc_now

MAX_ROWS = 300

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 1200px; margin: 0 auto; padding: 1rem 1.5rem 4rem; }
h1 { margin-bottom: .2rem; } h2 { border-top: 1px solid #ddd; padding-top: 1.2rem; }
.meta, .note { color: #666; font-size: .9rem; }
.headline { font-weight: 600; } .caption { color: #333; }
.paper { background: #f7f9fc; border-left: 3px solid #1a5fb4; padding: .4rem .8rem; }
.paper td.text { white-space: normal; min-width: 9rem; max-width: 28rem; }
.verdict-agrees { color: #26734d; } .verdict-disagrees { color: #b3261e; }
.verdict-not-comparable { color: #666; }
#findings ol li { margin: .3rem 0; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
.scroll { max-height: 28rem; overflow: auto; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: .82rem; }
th, td { padding: .2rem .5rem; border-bottom: 1px solid #eee; text-align: right;
         white-space: nowrap; }
td.text, th.text { text-align: left; }
th { position: sticky; top: 0; background: #f6f6f6; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; }
details { margin: .8rem 0; } summary { cursor: pointer; color: #1a5fb4; }
"""

# Click a header to sort its table by that column (numbers numerically, blanks last).
_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
    var asc = th.getAttribute("aria-sort") !== "ascending";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
      if (x === "" || y === "") { return (x === "") - (y === ""); }
      var nx = Number(x), ny = Number(y);
      var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
      return asc ? c : -c;
    });
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def _cell(value: object) -> tuple[str, str, bool]:
    """(shown text, sort key, is numeric) of one table cell."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–", "", True
    if isinstance(value, bool | np.bool_):
        return ("yes" if value else "no"), str(int(value)), True
    if isinstance(value, int | np.integer):
        return str(int(value)), str(int(value)), True
    if isinstance(value, float | np.floating):
        v = float(value)
        key = ("Infinity" if v > 0 else "-Infinity") if math.isinf(v) else repr(v)
        return f"{v:.4g}", key, True
    if isinstance(value, list | tuple | np.ndarray):
        text = f"[{len(value)} values]"
        return text, text, False
    text = str(value)
    return text, text, False


def render_table(frame: pd.DataFrame, max_rows: int = MAX_ROWS) -> str:
    """An escaped, sortable HTML table of ``frame`` (its first ``max_rows`` rows)."""
    if frame.empty:
        return '<p class="note">(empty table)</p>'
    shown = frame.head(max_rows)
    numeric = {c: pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns}
    head = "".join(
        f'<th scope="col"{"" if numeric[c] else " class=text"}>{escape(str(c))}</th>'
        for c in frame.columns
    )
    body = []
    for row in shown.itertuples(index=False):
        cells = []
        for value in row:
            text, key, is_num = _cell(value)
            cls = "" if is_num else ' class="text"'
            cells.append(f'<td{cls} data-v="{escape(key)}">{escape(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    note = (
        f'<p class="note">Showing the first {max_rows} of {len(frame)} rows (sorting applies to '
        "these); the CSV file holds them all.</p>"
        if len(frame) > max_rows
        else ""
    )
    return (
        f'{note}<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _verdicts(result: AnalysisResult) -> str:
    """'agrees in 3, disagrees in 1 of 4', coloured, or '' without a comparison."""
    comparison = result.comparison
    if comparison is None or not comparison.findings:
        return ""
    counts = comparison.counts()
    told = ", ".join(
        f'<span class="verdict-{v.replace(" ", "-")}">{escape(v)} in {n}</span>'
        for v, n in counts.items()
        if n
    )
    return f"{told} of {len(comparison.findings)}"


def _paper_block(result: AnalysisResult) -> str:
    """The paper's finding, each of ours beside it with its verdict, and the citation."""
    comparison = result.comparison
    if comparison is None:
        return ""
    verdicts = _verdicts(result)
    lead = f"<p><b>The paper:</b> {escape(comparison.claim)}</p>" + (
        f"<p><b>This study:</b> {verdicts}.</p>" if verdicts else ""
    )
    table = (
        render_table(comparison.frame())
        if comparison.findings
        else '<p class="note">Nothing of this study to set beside it yet.</p>'
    )
    return (
        f'<div class="paper"><h3>Beside the paper</h3>{lead}{table}'
        f'<p class="note">Source: {escape(comparison.citation)} Verdicts compare directions, not '
        f"magnitudes; the reason column says what differs between the two settings.</p></div>"
    )


def _section(result: AnalysisResult) -> str:
    png = base64.b64encode(result.png()).decode("ascii")
    title = escape(f"{result.number}. {result.title}")
    parts = [
        f'<section class="analysis" id="analysis-{result.number}">',
        f"<h2>{title}</h2>",
        f'<p class="headline">{escape(result.headline)}</p>',
        _paper_block(result),
        f'<p class="caption">{escape(result.caption)}</p>',
        f'<figure><img src="data:image/png;base64,{png}" alt="{escape("Figure: " + result.title)}">'
        f"<figcaption class=note>Figure {result.number}: {escape(result.title)} "
        f"(also {escape(result.stem)}.png / .svg)</figcaption></figure>",
    ]
    if result.summary is not None and not result.summary.empty:
        parts.append("<h3>Summary</h3>" + render_table(result.summary))
        parts.append(
            f"<details><summary>Full table ({len(result.table)} rows; "
            f"{escape(result.stem)}.csv)</summary>{render_table(result.table)}</details>"
        )
    else:
        parts.append(f"<h3>Table ({escape(result.stem)}.csv)</h3>" + render_table(result.table))
    parts.append("</section>")
    return "\n".join(parts)


def _finding_item(result: AnalysisResult) -> str:
    """One line of the findings list: the paper's claim, our verdicts, our headline."""
    link = f'<a href="#analysis-{result.number}">{escape(result.title)}</a>'
    comparison = result.comparison
    if comparison is None:
        return f"<li>{link}: {escape(result.headline)}</li>"
    verdicts = _verdicts(result) or "nothing to compare yet"
    return (
        f"<li>{link}. <i>Paper:</i> {escape(comparison.claim)} <i>Ours:</i> {verdicts}. "
        f"{escape(result.headline)}</li>"
    )


def render_report(results: Sequence[AnalysisResult], title: str, notes: Sequence[str] = ()) -> str:
    """The report page: each finding beside the paper's first, then one section per analysis."""
    findings = "".join(_finding_item(r) for r in results)
    stamp = utc_now().strftime("%Y-%m-%d %H:%M UTC")
    note_html = "".join(f'<p class="note">{escape(n)}</p>' for n in notes)
    sections = "\n".join(_section(r) for r in results)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<header><h1>{escape(title)}</h1><p class="meta">Generated by ftprobe on {stamp}. Click a table
header to sort by that column.</p>{note_html}</header>
<section id="findings"><h2>Findings beside the paper</h2><ol>{findings}</ol></section>
{sections}
<script>{_SCRIPT}</script>
</body>
</html>
"""


def write_report(
    out_dir: Path,
    results: Sequence[AnalysisResult],
    context: StudyContext,
    path: Path | None = None,
    title: str | None = None,
) -> Path:
    """Write ``DIR/report.html`` (or ``path``) for the study in ``out_dir``, atomically.

    ``results`` are the analyses to show and ``context``
    (:func:`ftprobe.study.analyze.study_context`) supplies the data note at the
    top of the page; the caller runs the analyses
    (:func:`ftprobe.study.analyze.analyze_study`), since the report, a stage,
    never reads the study itself.
    """
    out_dir = Path(out_dir)
    tasks = sorted(
        {str(t) for r in results if "task" in r.table.columns for t in r.table["task"].dropna()}
    )
    notes = [n for n in (context.data_note(tasks),) if n]
    page = render_report(results, title or f"ftprobe study report: {out_dir.resolve().name}", notes)
    path = Path(path) if path is not None else out_dir / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as handle:
        handle.write(page)
    return path
