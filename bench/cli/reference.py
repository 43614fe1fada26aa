"""The ``bench`` app as a Click command tree, for the docs site's CLI reference (mkdocs-click reads a module
attribute): ``command`` is the whole app and ``bench.cli.reference.<verb>`` each verb, so the reference pages are
generated from the same app ``bench --help`` shows and never drift from it."""

from __future__ import annotations

import click
import typer

from bench.cli.app import app

command: click.Group = typer.main.get_command(app)  # type: ignore[assignment]


def __getattr__(verb: str) -> click.Command:
    """``bench.cli.reference.run`` is the ``bench run`` command (module attributes resolved by name)."""
    try:
        return command.commands[verb]
    except KeyError:
        raise AttributeError(verb) from None
