"""The line a stopped command prints names the step that ran when the signal came and the last thing kept; of a
multi-process run, only the main process prints it."""

from __future__ import annotations

import importlib
import os
import signal
import time

import pytest

from bench import interrupts

app = importlib.import_module("bench.cli.app")  # the module: the package's ``app`` attribute is the Typer app


@pytest.fixture
def handlers():
    """Install the bench's handlers for the test; restore Python's afterwards."""
    before = {s: signal.getsignal(s) for s in interrupts.SIGNALS}
    interrupts.raise_on_signals()
    yield
    for s, handler in before.items():
        signal.signal(s, handler)


def test_sigterm_raises_interrupted_with_the_steps_running_then(handlers, tmp_path):
    interrupts.kept(tmp_path / "checkpoints" / "step_00000010")
    with pytest.raises(interrupts.Interrupted) as info:
        with interrupts.step("fitting m (a, seed 0)"), interrupts.step(f"stage denoiser ({tmp_path})"):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises here, inside both steps
    stop = info.value
    assert stop.exit_code == 143 and not isinstance(stop, Exception)
    assert interrupts.stopped_line(stop) == (
        f"interrupted (SIGTERM): fitting m (a, seed 0), stage denoiser ({tmp_path}) stopped; last checkpoint kept: "
        f"{tmp_path / 'checkpoints' / 'step_00000010'}; the same command resumes from there"
    )


def test_ctrl_c_before_any_step_says_so(handlers):
    with pytest.raises(interrupts.Interrupted) as info:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
    assert info.value.exit_code == 130
    assert interrupts.stopped_line(info.value).startswith("interrupted (SIGINT): stopped before its first step; ")


RANKS = [(None, True), ("0", True), ("1", False), ("3", False), ("", True), ("x", True)]  # not a number: the only one


@pytest.mark.parametrize(("rank", "main"), RANKS)
def test_only_the_main_process_of_a_multi_process_run_says_where_it_stopped(handlers, monkeypatch, capsys, rank, main):
    """Every process that ``torchrun`` / ``accelerate launch`` started gets the signal; rank 0 alone says the line,
    the others end with the same exit code and nothing on the console."""
    if rank is None:
        monkeypatch.delenv("RANK", raising=False)
    else:
        monkeypatch.setenv("RANK", rank)
    assert interrupts.main_process() is main

    def stopped(**_):
        with interrupts.step("fitting m (a, seed 0)"):
            raise interrupts.Interrupted(signal.SIGINT)

    monkeypatch.setattr(app, "app", stopped)
    with pytest.raises(SystemExit) as ended:
        app.main()
    assert ended.value.code == 130
    said = capsys.readouterr()
    if main:
        assert said.out.startswith("interrupted (SIGINT): fitting m (a, seed 0) stopped; "), said.out
    else:
        assert said.out == said.err == ""
