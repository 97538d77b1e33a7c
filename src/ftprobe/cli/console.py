"""How the command line prints: what a message quotes comes out as it is.

Messages quote user text: paths (``run[bold]x``), labels (``[bold]B-LOC``),
study and config sections (``[[task]]``, ``[probes]``). Rich would read the
brackets as console markup and eat them, so every console and every command
group of ftprobe is made here with markup off; a style is given as a
``style=`` argument or a :class:`rich.text.Text` part, never inside the text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console


def console(*, stderr: bool = False) -> Console:
    """A rich console that prints strings (and table cells and titles) literally."""
    # Imported here: rich costs import time that `ftprobe --help` should not pay.
    from rich.console import Console

    return Console(stderr=stderr, markup=False, highlight=False, soft_wrap=True)


def command_group(**kwargs: Any) -> typer.Typer:
    """A Typer app whose help and usage errors print option help text literally.

    Help strings quote config sections (``[run] output_path``); Typer's rich
    markup mode would eat them, so help is plain.
    """
    return typer.Typer(
        rich_markup_mode=None, pretty_exceptions_enable=False, add_completion=False, **kwargs
    )
