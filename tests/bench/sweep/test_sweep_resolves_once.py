"""``bench sweep`` resolves each run's options once: the checks before the first run resolve them, and the dry run's
status and the local launcher plan from that resolution (a submitit job, another process, resolves its own). Origin
and xlsor, the cheapest grid, whose options are resolved only where their code is imported."""

from __future__ import annotations

import pytest
from cli_checks import invoke

pytestmark = pytest.mark.heavy(30)


def test_a_local_sweep_resolves_each_run_once(discs, tmp_path, resolutions):
    args = ("sweep", "fewshot", "--dataset", discs, "--methods", "xlsor", "--ratios", "0.5", "--seeds", "0")
    res = invoke(*args, "--preset", "smoke", "--no-wandb", "--out", tmp_path / "runs")
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "runs").rglob("results.json"))) == 2
    assert resolutions == ["origin", "xlsor"]  # the sweep's two runs, each checked, listed and run on one resolution
