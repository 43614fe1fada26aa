"""What a command was doing when Ctrl-C or SIGTERM stopped it, so that it can say what it kept.

Long steps (fitting a method, one of its stages, a downstream training) say here which step runs and where; the
training loop and the stages say what they have kept for good (a checkpoint, a finished stage folder). When a
signal stops the command, :func:`stopped_line` words the step that stopped, the last thing kept and that the same
command resumes from it; of the processes of a multi-process run, which all get the signal, only the main one says
it (:func:`main_process`).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """The command was stopped by a signal; not an ``Exception``, so no handler of a failed step catches it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.steps = tuple(_steps)  # the steps that ran when the signal came (they end as it unwinds them)

    @property
    def exit_code(self) -> int:
        """``128 + signal``, as a shell reports a command a signal ended: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


_steps: list[str] = []
_kept: list[Path] = []


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def raise_on_signals() -> None:
    """Make SIGINT and SIGTERM raise :class:`Interrupted` in the main thread (a SIGTERM would otherwise end the
    process without a word)."""
    for signum in SIGNALS:
        signal.signal(signum, _raise)


@contextmanager
def step(what: str) -> Iterator[None]:
    """Name the step that runs within the block (nested steps are worded outermost first)."""
    _steps.append(what)
    try:
        yield
    finally:
        _steps.pop()


def kept(path: str | Path) -> None:
    """Record ``path`` (a checkpoint, a finished stage or run folder) as the last thing kept for good."""
    _kept[:] = [Path(path)]


def main_process() -> bool:
    """Whether this process speaks for the command: it is the only one, or rank 0 of those that ``torchrun`` or
    ``accelerate launch`` started (they number them in ``RANK``). Read without torch, so that it holds before the
    process group exists and after it is gone. A ``RANK`` that is not a number is taken as the only process."""
    rank = os.environ.get("RANK", "0").strip()
    return not rank.isdigit() or int(rank) == 0


def stopped_line(stop: Interrupted) -> str:
    """The one line a stopped command prints: which step stopped, the last thing kept, and how to resume."""
    name = signal.Signals(stop.signum).name
    where = f"{', '.join(stop.steps)} stopped" if stop.steps else "stopped before its first step"
    last = f"last checkpoint kept: {_kept[0]}" if _kept else "nothing kept yet"
    return f"interrupted ({name}): {where}; {last}; the same command resumes from there"
