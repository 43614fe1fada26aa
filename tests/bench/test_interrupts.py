"""The line a stopped command prints names the step that ran when the signal came and the last thing kept."""

from __future__ import annotations

import os
import signal
import time

import pytest

from bench import interrupts


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
