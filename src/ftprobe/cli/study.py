"""``ftprobe run`` and ``ftprobe status``: run a study file, see what is done."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ftprobe.cli.console import console as new_console
from ftprobe.errors import ConfigError

console = new_console()


def run(
    study_file: Path = typer.Argument(..., help="The study's TOML file (see studies/)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder; rerun to resume."),
    executor: str = typer.Option(
        "local", help="Where jobs run: 'local' (one by one), 'process' (a local pool), 'ray'."
    ),
    workers: int = typer.Option(2, help="Worker processes for --executor process."),
    address: str = typer.Option(
        None, help="Ray cluster address for --executor ray (default: start a local one)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan and list jobs; run nothing."),
) -> None:
    """Plan every job of a study, run what is missing, and write the tables."""
    from ftprobe.study.executors import make_executor
    from ftprobe.study.session import StudySession

    session = StudySession.open(study_file, out)
    counts = session.plan.count()
    todo = session.pending()
    console.print(session.study.name, style="bold", end="")
    console.print(
        f": {len(session.plan.jobs)} jobs "
        f"({', '.join(f'{n} {k}' for k, n in sorted(counts.items()))}); "
        f"{len(todo)} to run, {len(session.plan.jobs) - len(todo)} done"
    )
    if dry_run:
        for job in todo:
            console.print(f"  {job.key}  {job.describe()}")
        return
    report = session.run(make_executor(executor, workers=workers, address=address))
    console.print(
        f"ran {len(report.ran)} jobs, reused {len(report.reused)}, "
        f"failed {len(report.failed)}, skipped {len(report.skipped)}; tables in {out / 'tables'}"
    )
    if report.failed:
        for key, error in report.failed.items():
            console.print("failed", style="red", end="")
            console.print(f" {session.plan.jobs[key].describe()}: {error}")
        raise typer.Exit(1)


def status(out: Path = typer.Argument(..., help="A study's output folder.")) -> None:
    """Show which jobs of a study are done and which remain."""
    import json

    from ftprobe.study.runner import read_result

    if not (out / "study.toml").is_file():
        raise ConfigError(f"{out}: not a study output folder (no study.toml)")
    plan_file = out / "plan.json"
    if plan_file.is_file():
        # The folder alone says it: the last run's plan and which of its jobs finished,
        # without the corpora or the models (which may be elsewhere by now).
        try:
            recorded = json.loads(plan_file.read_text(encoding="utf-8"))["jobs"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{plan_file}: damaged ({exc}); run the study again to rewrite it"
            ) from None
        jobs = [(key, str(job["kind"]), str(job["label"])) for key, job in recorded.items()]
        name = str(out.name)
        try:
            from ftprobe.study.spec import load_study

            name = load_study(out / "study.toml").name
        except ConfigError:
            pass
    else:
        from ftprobe.study.session import StudySession

        session = StudySession.open(out / "study.toml", out)
        name = session.study.name
        jobs = [(key, job.kind, job.describe()) for key, job in session.plan.jobs.items()]
    left = [(key, kind, label) for key, kind, label in jobs if read_result(out, key) is None]
    pending = {key for key, _, _ in left}
    table = Table(title=f"{name} in {out}")
    for col in ("kind", "done", "to do"):
        table.add_column(col, justify="right" if col != "kind" else "left")
    kinds: dict[str, list[int]] = {}
    for key, kind, _ in jobs:
        kinds.setdefault(kind, [0, 0])[key in pending] += 1
    for kind, (done, todo) in kinds.items():
        table.add_row(kind, str(done), str(todo))
    console.print(table)
    for _, _, label in left[:20]:
        console.print(f"  to do: {label}")
    if len(left) > 20:
        console.print(f"  ... and {len(left) - 20} more")
