"""Entry point of the ``ftprobe`` command.

Each command group lives in its own module and is registered here; errors the
user can fix (:class:`ftprobe.errors.FtprobeError`) are printed as one line
without a traceback and exit with status 2.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from ftprobe import __version__
from ftprobe.cli import data as data_cli
from ftprobe.cli import probe as probe_cli
from ftprobe.errors import FtprobeError

app = typer.Typer(
    name="ftprobe",
    help="See how fine-tuning changes a transformer's representation space.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ftprobe {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """See how fine-tuning changes a transformer's representation space."""


app.add_typer(data_cli.app, name="data")
app.command("probe")(probe_cli.probe)


def main() -> None:
    """Run the CLI, turning user-fixable errors into a clear message and exit status 2."""
    try:
        app()
    except FtprobeError as exc:
        _err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
