"""``bench --help`` and every verb's ``--help`` against a stored copy, so a reorganised CLI keeps its surface:
the same commands and options, in the same order, with the same texts.

Regenerate the copy (only when the surface is meant to change): ``python tests/bench/cli/test_help.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("help.txt")
WIDTH = "100"

# Runs in a fresh interpreter: Typer reads the terminal width when it is imported.
RENDER = r"""
import typer
from typer.testing import CliRunner

from bench.cli import app


def paths(command, prefix):
    yield prefix
    for name in getattr(command, "commands", {}):  # a group: its verbs, in the order of its help
        yield from paths(command.get_command(None, name), [*prefix, name])


runner = CliRunner()
for path in paths(typer.main.get_command(app), []):
    res = runner.invoke(app, [*path, "--help"], prog_name="bench", terminal_width=%s)
    assert res.exit_code == 0, (path, res.output)
    print(f"=== bench {' '.join([*path, '--help'])}")
    print("\n".join(line.rstrip() for line in res.output.rstrip().splitlines()))
"""


def render() -> str:
    """Every help page of the ``bench`` app at a fixed width, each under a ``=== bench ... --help`` line."""
    env = {**os.environ, "COLUMNS": WIDTH, "TERMINAL_WIDTH": WIDTH, "TERM": "dumb", "NO_COLOR": "1"}
    for name in ("FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", RENDER % WIDTH], capture_output=True, text=True, env=env, check=True)
    return done.stdout


def test_help_pages_match_the_stored_copy():
    assert render() == SNAPSHOT.read_text()


def test_every_help_paragraph_is_one_line_for_the_terminal_to_wrap():
    from bench.cli.reference import command

    def helps(cmd, path):
        yield path, cmd.help or ""
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from helps(sub, f"{path} {name}")

    broken = [path for path, text in helps(command, "bench") if any("\n" in p for p in text.split("\n\n"))]
    assert not broken, f"help paragraphs broken across lines: {broken}"


if __name__ == "__main__":
    SNAPSHOT.write_text(render())
