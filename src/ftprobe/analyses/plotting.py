"""Figure helpers: Agg-only matplotlib figures, small multiples, atomic saving.

Figures are built with :class:`matplotlib.figure.Figure` directly (not pyplot),
so no global figure state is kept and no GUI backend is ever touched.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ftprobe.data.atomic import atomic_open

PANEL_W, PANEL_H = 4.6, 3.4
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
BEFORE_COLOR, AFTER_COLOR = "#8fa8c8", "#d9534f"


def grid(
    n: int, ncols: int = 3, panel: tuple[float, float] = (PANEL_W, PANEL_H)
) -> tuple[Figure, list[Axes]]:
    """A figure with ``n`` panels laid out ``ncols`` wide; unused cells are hidden."""
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def rows(
    nrows: int, ncols: int, panel: tuple[float, float] = (PANEL_W, PANEL_H)
) -> tuple[Figure, list[list[Axes]]]:
    """A figure with one row of ``ncols`` panels per item."""
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * max(nrows, 1)), layout="constrained")
    axes = fig.subplots(max(nrows, 1), ncols, squeeze=False)
    return fig, [list(r) for r in axes]


def message(title: str, text: str) -> Figure:
    """A small figure that says why there is nothing to plot."""
    fig = Figure(figsize=(6.0, 1.8), layout="constrained")
    ax = fig.subplots()
    ax.set_axis_off()
    ax.set_title(title, fontsize=11)
    ax.text(0.5, 0.45, text, ha="center", va="center", wrap=True, fontsize=10, color="#555555")
    return fig


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """The figure rendered as PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def svg_bytes(fig: Figure) -> bytes:
    """The figure rendered as SVG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")
    return buf.getvalue()


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary name in the same folder."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return path


def save(fig: Figure, base: Path, png: bytes | None = None) -> list[Path]:
    """Write ``base.png`` (``png`` when already rendered) and ``base.svg`` atomically."""
    return [
        write_atomic(base.with_suffix(".png"), png if png is not None else png_bytes(fig)),
        write_atomic(base.with_suffix(".svg"), svg_bytes(fig)),
    ]


def legend_outside(ax: Axes, **kwargs: object) -> None:
    """A compact legend that does not hide data."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, frameon=False, **kwargs)  # type: ignore[arg-type]
