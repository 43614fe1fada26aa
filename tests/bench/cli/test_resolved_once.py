"""`bench run` and `bench expand` resolve a request's options once: the early checks' resolution is what planning
uses, never made again (origin's paired request has its own). synthmed, because its options resolve without its
code: the early checks resolve them (those of origin and xlsor are resolved by planning alone)."""

from __future__ import annotations

import pytest
from cli_checks import invoke, run_args

pytestmark = pytest.mark.heavy(50)


def test_bench_run_resolves_each_request_once(discs, tmp_path, resolutions):
    res = invoke(*run_args(discs, tmp_path / "runs", method="synthmed"))
    assert res.exit_code == 0, res.output
    assert "results:" in res.output
    assert resolutions == ["synthmed", "origin"]  # the method's request, then its paired origin request


def test_bench_expand_resolves_its_request_once(discs, tmp_path, resolutions):
    args = ["expand", "--method", "synthmed", "--dataset", discs, "--n", "4", "--preset", "smoke"]
    res = invoke(*args, "--out", tmp_path / "out", "--cache", tmp_path / "runs")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "expansion.json").is_file()
    assert resolutions == ["synthmed"]
