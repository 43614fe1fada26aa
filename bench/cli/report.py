"""``bench report``: the flat results table (:func:`bench.report.build`) or one of the paper's artifacts
(:func:`bench.artifacts.build_artifact`) from stored results.json files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bench.artifacts import ARTIFACTS
from bench.cli.console import console, fail, os_error

EPILOG = """Examples:

  bench report --runs runs/ --out reports/                  # every run, one row per setting

  bench report table1 --runs runs/ --out reports/table1     # the paper's Table 1 (Markdown, CSV, LaTeX)

  bench report fewshot --runs runs/ --out reports/fewshot   # Dice vs train ratio (PNG, CSV, Markdown)
"""

REPORT_KINDS = ("results", *ARTIFACTS)


def report(
    kind: Annotated[str, typer.Argument(help=f"results (all runs) | {' | '.join(ARTIFACTS)}.")] = "results",
    runs: Annotated[Path, typer.Option(help="Folder searched for results.json files.")] = Path("runs"),
    out: Annotated[Path, typer.Option(help="Where the tables and figures are written.")] = Path("reports"),
    wandb: Annotated[
        str, typer.Option(help="Also log the tables and figures to W&B: disabled | auto | online | offline.")
    ] = ("disabled"),
    group: Annotated[str, typer.Option(help="W&B group of the report run (e.g. a sweep's group).")] = "reports",
) -> None:
    """Build tables and figures from stored results.json files: the flat results table or one of the paper's
    artifacts. Missing runs show as "–" with a note, never as numbers."""
    from bench import tracking

    if kind not in REPORT_KINDS:
        hint = f"; to read runs from {kind}, use --runs {kind}" if Path(kind).is_dir() else ""
        fail(f"unknown report '{kind}'; available: {', '.join(REPORT_KINDS)}{hint}")
    if wandb not in tracking.MODES:
        fail(f"unknown --wandb mode '{wandb}'; available: {', '.join(tracking.MODES)}")
    files = build_report(kind, runs, out, tracking.resolve_mode(wandb), group)
    if kind != "results" and files and files[0].suffix == ".md":
        from rich.markdown import Markdown

        # rendered to the terminal's width (table cells wrap); the file keeps every character, the figures their path
        shown = [line for line in files[0].read_text().splitlines() if not line.startswith("![")]
        console.print(Markdown("\n".join(shown)), soft_wrap=False)
    for f in files:
        console.print(f"written: {f.resolve()}", highlight=False)


def build_report(kind: str, runs: Path, out: Path, mode: str, group: str) -> list[Path]:
    """Write a report (``results`` or a paper artifact), log an artifact to W&B unless ``mode`` is disabled."""
    from bench import artifacts, tracking
    from bench import report as rep
    from bench.cli.tables import print_results

    try:
        if kind == "results":
            rows = rep.collect(runs)
            files = rep.write(rows, out)
            print_results(rows, console)  # the columns that fit 80 characters; every column is in results.md
            return files
        artifact = artifacts.build_artifact(kind, runs, out)
    except OSError as e:  # no results.json under --runs, one that cannot be read, a full or read-only --out
        fail(os_error(e))
    except ValueError as e:
        fail(str(e))
    for note in artifact.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    where = tracking.log_artifact(artifact, mode, group, out)
    if where["mode"] != "disabled":
        console.print(f"W&B report run ({where['mode']}): {where['url'] or where['dir']}", highlight=False)
    return artifact.files
