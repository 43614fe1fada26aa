"""The progress lines a verb prints when its output is not a terminal."""

from bench.cli import console as console_module
from bench.cli.console import LineProgress, progress_bar


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_line_per_tenth_and_one_at_the_end(capsys):
    clock = Clock()
    progress = LineProgress(every_s=1e9, get_time=clock)
    with progress:
        task = progress.add_task("stage I", total=100)
        for _ in range(100):
            clock.now += 1.0
            progress.advance(task)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("stage I: 10/100 (10 %) in 0:00:10, about 0:01:30 left")
    assert lines[-1] == "stage I: 100/100 (100 %) in 0:01:40"


def test_a_line_a_minute_while_a_slow_task_moves(capsys):
    clock = Clock()
    progress = LineProgress(every_s=60.0, get_time=clock)
    with progress:
        task = progress.add_task("pretraining", total=10_000)
        for step in range(1, 301):  # 3 % in five minutes: no tenth passed, five minutes gone
            clock.now = float(step)
            progress.update(task, completed=step, description=f"pretraining loss {1 / step:.4f}")
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["pretraining loss 0.0167"] + [
        f"pretraining loss {1 / s:.4f}" for s in (120, 180, 240, 300)
    ]


def test_a_task_of_a_few_seconds_says_only_that_it_ended(capsys):
    clock = Clock()
    with LineProgress(get_time=clock) as progress:
        task = progress.add_task("sampler", total=120)
        for _ in range(5):
            clock.now += 0.5
            progress.advance(task, 24)
        progress.update(task, description="sampler, done")
    assert capsys.readouterr().out.splitlines() == ["sampler: 120/120 (100 %) in 0:00:02"]


def test_a_terminal_gets_the_bar_and_anything_else_the_lines(monkeypatch):
    monkeypatch.setattr(type(console_module.console), "is_terminal", property(lambda self: False))
    assert isinstance(progress_bar(), LineProgress)
    monkeypatch.setattr(type(console_module.console), "is_terminal", property(lambda self: True))
    assert not isinstance(progress_bar(), LineProgress)
