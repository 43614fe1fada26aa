"""Helpers for the CLI failure tests: run ``bench`` in-process and check that a refusal is one clean line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bench.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def run_args(dataset: Path, out: Path, *extra: str, method: str = "origin") -> list[str]:
    """``bench run`` at the smoke preset without W&B (unless ``extra`` names a ``--wandb`` mode)."""
    quiet = [] if "--wandb" in extra else ["--no-wandb"]
    return [
        "run",
        "--method",
        method,
        "--dataset",
        str(dataset),
        "--preset",
        "smoke",
        "--out",
        str(out),
        *quiet,
        *extra,
    ]


def assert_refused(res, *needles: str, out: Path | None = None) -> str:
    """Exit 2, and the output ends in exactly one ``error:`` line that names every needle; nothing is written."""
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and errors[0] == lines[-1], res.output
    assert "Traceback" not in res.output
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    if out is not None:
        assert not out.exists(), sorted(out.rglob("*"))
    return errors[0]
