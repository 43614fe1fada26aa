"""Where every verb prints: one rich console, the one-line ``error:`` and ``warning:`` messages, and the progress
bar. A user error ends the command here with exit code 2, so no verb prints a traceback for one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bench.files import FileError, storage_error

if TYPE_CHECKING:
    from bench.integrity import CheckReport
    from bench.masks import MaskReading
    from bench.runner.request import CheckedRequest

console = Console(soft_wrap=True)


def fail(msg: str) -> NoReturn:
    """Print ``msg`` as one ``error:`` line and end the command with exit code 2."""
    console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False)
    raise typer.Exit(2)


def warn(msg: str) -> None:
    console.print(f"[yellow]warning:[/] {escape(msg)}", highlight=False)


def os_error(e: OSError) -> str:
    """One line for a failed file operation: the file, then the cause, for a write that storage refused (disk
    full, read-only); the cause, then the file, for any other."""
    if isinstance(e, FileError):
        return e.strerror
    full = storage_error(e, e.filename, in_writer=False)
    if full is not None:
        return full.strerror
    cause = e.strerror or str(e)
    return f"{cause}: {e.filename}" if e.filename else cause


def refuse_early(
    dataset: str, checks: Callable[[], CheckedRequest], reading: MaskReading | None = None
) -> tuple[CheckedRequest, CheckReport]:
    """What a verb can refuse before it imports torch: ``checks()`` (the request's own checks, finding the size it
    trains at), then ``--dataset``'s integrity check at that size, masks read as ``reading`` says; a refusal ends
    the command (exit code 2).

    Returns:
        What the checks found and the folder check's report, for the run to take instead of making them again.
    """
    from bench.cards import resolve_dataset
    from bench.config import ConfigError
    from bench.integrity import check
    from bench.pairs import DatasetError

    try:
        checked = checks()
        report = check(resolve_dataset(dataset)[0], image_size=checked.image_size, reading=reading)
        report.raise_for_errors()
    except (ConfigError, DatasetError) as e:
        fail(str(e))
    except OSError as e:  # the demo set, generated on first use, could not be written
        fail(os_error(e))
    return checked, report


class LineProgress(Progress):
    """The progress of a verb whose output goes to a file or a pipe (``nohup``, Slurm, CI), where rich draws no bar
    until the end: one plain line per task when it ends, each time it passes another tenth (10 s or more after the
    last line, so a task of a few seconds says only that it ended) and at least once a minute while it moves, so that
    an hour-long pretraining's log shows it alive from the start."""

    def __init__(
        self, every_s: float = 60.0, min_gap_s: float = 10.0, get_time: Callable[[], float] | None = None
    ) -> None:
        super().__init__(console=console, disable=True, get_time=get_time)
        self.every_s = every_s
        self.min_gap_s = min_gap_s
        self._said: dict[TaskID, tuple[int, float]] = {}

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        super().update(task_id, **kwargs)
        self._report(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._report(task_id)

    def _report(self, task_id: TaskID) -> None:
        task = self._tasks[task_id]
        if not task.total:
            return
        tenth = int(10 * min(task.completed, task.total) / task.total)
        said_tenth, said_at = self._said.get(task_id, (0, task.start_time or 0.0))
        if said_tenth == 10:  # its last line is out
            return
        now = self.get_time()
        quiet = now - said_at
        if not (task.finished or quiet >= self.every_s or (tenth > said_tenth and quiet >= self.min_gap_s)):
            return
        self._said[task_id] = (tenth, now)
        elapsed = timedelta(seconds=round(task.elapsed or 0))
        remaining = None if task.finished else task.time_remaining
        left = "" if remaining is None else f", about {timedelta(seconds=round(remaining))} left"
        console.print(
            f"{task.description}: {task.completed:.0f}/{task.total:.0f} ({task.percentage:.0f} %) in {elapsed}{left}",
            highlight=False,
            markup=False,
        )


def progress_bar() -> Progress:
    """The progress display of the long verbs: description, bar, count, elapsed time and ETA on a terminal; plain
    lines (:class:`LineProgress`) anywhere else."""
    if not console.is_terminal:
        return LineProgress()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def log_level(verbose: bool) -> None:
    """Log details with --verbose, else warnings only."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def say_recipe(req: Any) -> None:
    """The one line saying what the recipe of a ``--option pretrained`` folder did to the run ``req`` (a
    :class:`bench.runner.request.Request` whose checks passed), if anything."""
    from bench.runner.request import pretrained_recipe

    recipe = pretrained_recipe(req)
    line = recipe.line() if recipe else None
    if line:
        console.print(escape(line), highlight=False)
