"""`bench speed --method genseg`: a row for stage I's GAN step, the end2end search step and a generated pair."""

import pytest
from typer.testing import CliRunner

from bench.cli import app
from methods.genseg.speed import benchmark

pytestmark = pytest.mark.heavy(15)


def test_bench_speed_times_the_gan_step_the_search_step_and_a_pair():
    args = ["speed", "--method", "genseg", "--preset", "smoke", "--steps", "1", "--device", "cpu"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in res.output.splitlines() if "│" in line]
    rows = {c[0]: c for c in cells if c[0]}
    assert list(rows) == ["image_gan", "search", "sampler"], res.output
    assert [rows[s][3] for s in rows] == ["s/step", "s/step", "s/pair"]
    assert all(float(row[2]) > 0 for row in rows.values())


def test_steps_below_one_are_refused_before_any_work():
    with pytest.raises(ValueError, match="steps must be >= 1"):
        benchmark("smoke", "cpu", steps=0)
