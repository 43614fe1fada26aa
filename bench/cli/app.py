"""The ``bench`` app: the verbs registered in the order ``bench --help`` lists them, and ``main``, the console
script. Importing it imports no verb's API module (and no torch): each verb imports what it needs when it runs,
so ``--help`` and the refusal of a bad value answer at once."""

from __future__ import annotations

import inspect
import sys

import typer
from rich.markup import escape

from bench import interrupts
from bench.cli import datasets, expand, export, methods, metrics, pretrain, report, run, speed, sweep, weights
from bench.cli.console import console
from bench.files import storage_error

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="DiffuseExpand bench: expand small 2D medical segmentation datasets and measure whether it helps.",
)
app.add_typer(datasets.app, name="datasets")
app.add_typer(export.app, name="export")
app.add_typer(weights.app, name="weights")
app.command(epilog=run.EPILOG)(run.run)
app.command(epilog=expand.EPILOG)(expand.expand)
app.command(epilog=pretrain.EPILOG)(pretrain.pretrain)
app.command()(methods.methods)
app.command(epilog=report.EPILOG)(report.report)
app.command(epilog=sweep.EPILOG)(sweep.sweep)
app.command(epilog=metrics.EPILOG)(metrics.metrics)
app.command(epilog=speed.EPILOG)(speed.speed)


def _one_line_paragraphs(typer_app: typer.Typer) -> None:
    """Each help paragraph as one line, for the terminal to wrap: Typer's rich help keeps a docstring's line
    breaks, which cut sentences in the middle of `bench --help`'s command list."""
    for info in typer_app.registered_commands:
        text = info.help or inspect.getdoc(info.callback) or ""
        info.help = "\n\n".join(" ".join(p.split()) for p in text.split("\n\n"))
    for group in typer_app.registered_groups:
        _one_line_paragraphs(group.typer_instance)


_one_line_paragraphs(app)


def main() -> None:
    """The ``bench`` console script: the app, with command-line usage errors (a value of the wrong type, an
    unknown flag) printed as one ``error:`` line with exit code 2, like every other user error.

    Click's exceptions are matched by their interface (``format_message``, ``exit_code``) because Typer may
    bring its own copy of Click. Ctrl-C and SIGTERM end in one line saying what stopped and what was kept (exit
    130 / 143; said by the main process of a multi-process run alone); a disk that fills in a writer no verb
    expected ends in one ``error:`` line too.
    """
    interrupts.raise_on_signals()
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        console.print("aborted")
        code = 1
    except interrupts.Interrupted as e:
        if interrupts.main_process():  # every process of a multi-process run gets the signal; one line is said
            console.print(interrupts.stopped_line(e), highlight=False, markup=False)
        code = e.exit_code
    except Exception as e:
        full = storage_error(e, getattr(e, "filename", None), in_writer=False)
        if full is not None:
            console.print(f"[bold red]error:[/] {escape(full.strerror)}", highlight=False)
            sys.exit(2)
        if not (hasattr(e, "format_message") and isinstance(getattr(e, "exit_code", None), int)):
            raise
        if type(e).__name__ == "NoArgsIsHelpError":
            e.show()
            sys.exit(0)
        context = getattr(e, "ctx", None)
        where = f" (see `{context.command_path} --help`)" if context is not None else ""
        console.print(f"[bold red]error:[/] {e.format_message()}{where}", highlight=False)
        code = 2
    sys.exit(code if isinstance(code, int) else 0)
