"""The task reader options every command takes, parsed in one place.

``data show``, ``embed`` and ``finetune`` read a task with the same reader
options: ``--option KEY=VALUE`` (repeatable; ``include-root`` and
``include_root`` are the same key, as in a study file's ``[task.options]``)
and ``--on-bad-line`` for TREC. They declare them with the annotations here and
turn them into one dict with :func:`reader_options`, so that a key is spelled
the same way, and so names the same store entry, whichever command read it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ftprobe.errors import ConfigError

__all__ = ["OnBadLineOption", "ReaderOptionList", "parse_options", "reader_options"]

OnBadLineOption = Annotated[
    str | None,
    typer.Option(
        "--on-bad-line",
        help="TREC: 'error' (default) stops at a malformed line; 'skip' leaves it out.",
    ),
]
"""``--on-bad-line``: what a TREC reader does with a malformed line."""

ReaderOptionList = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        "-o",
        help="A task reader option KEY=VALUE, e.g. include_root=true for dep; repeatable.",
    ),
]
"""``--option KEY=VALUE``, repeatable: a task reader option."""


def parse_options(pairs: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings as a dict; ``-`` in a key is ``_``, spaces around either are dropped.

    A pair without ``=`` or with an empty key raises :class:`ConfigError`
    quoting it. A later pair with the same key wins.
    """
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {pair!r}: expected KEY=VALUE")
        options[key.strip().replace("-", "_")] = value.strip()
    return options


def reader_options(pairs: list[str] | None, on_bad_line: str | None) -> dict[str, str]:
    """The reader options a command was given: its ``--option`` pairs and ``--on-bad-line``."""
    options = parse_options(pairs or [])
    if on_bad_line is not None:
        options["on_bad_line"] = on_bad_line
    return options
