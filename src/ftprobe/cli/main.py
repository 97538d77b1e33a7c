"""Entry point of the ``ftprobe`` command.

Each command group lives in its own module and is registered here. Every
failure ends in one line on stderr: errors the user can fix
(:class:`ftprobe.errors.FtprobeError`) and file-system failures (a read-only
folder, a full disk, a path under a file) exit with status 2; anything else is
an internal error, exit status 1. ``ftprobe --debug COMMAND`` also prints the
traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings

import typer

from ftprobe import __version__
from ftprobe.cli import data as data_cli
from ftprobe.cli import probe as probe_cli
from ftprobe.cli.console import command_group, console
from ftprobe.errors import FtprobeError, os_error_message, show_warning_line

app = command_group(
    name="ftprobe",
    help="See how fine-tuning changes a transformer's representation space.",
    no_args_is_help=True,
)

# Set by --debug before the command runs; read by main() when it fails.
_debug = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ftprobe {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version, is_eager=True
    ),
    debug: bool = typer.Option(
        False, "--debug", help="On an error, also print the Python traceback and warnings' sources."
    ),
) -> None:
    """See how fine-tuning changes a transformer's representation space."""
    global _debug
    _debug = debug
    if not debug:
        warnings.showwarning = show_warning_line


from ftprobe.cli import analyze as _analyze  # noqa: E402
from ftprobe.cli import embed as _embed  # noqa: E402
from ftprobe.cli import finetune as _finetune  # noqa: E402
from ftprobe.cli import report as _report  # noqa: E402
from ftprobe.cli import study as _study  # noqa: E402

app.add_typer(data_cli.app, name="data")
app.command("embed")(_embed.embed)
app.command("finetune")(_finetune.finetune)
app.command("probe")(probe_cli.probe)
app.command("run")(_study.run)
app.command("status")(_study.status)
app.command("analyze")(_analyze.analyze)
app.command("report")(_report.report)


def main() -> None:
    """Run the CLI; every failure ends in one line on stderr (see the module docstring)."""
    # ftprobe shows its own progress; transformers' per-load bars would bury it.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        app()
    except FtprobeError as exc:
        _fail(str(exc), 2)
    except OSError as exc:
        _fail(os_error_message(exc), 2)
    except Exception as exc:
        detail = " ".join(str(exc).split()) or "no message"
        hint = "" if _debug else "; run it again as `ftprobe --debug ...` to see the traceback"
        _fail(f"internal error ({type(exc).__name__}: {detail}){hint}", 1)


def _fail(message: str, status: int) -> None:
    from rich.text import Text

    if _debug:
        traceback.print_exc()
    console(stderr=True).print(Text.assemble(("error:", "bold red"), " ", message))
    sys.exit(status)
