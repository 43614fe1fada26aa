"""`bench speed --compare`: sampling configurations priced per kept pair on the networks of a finished smoke run."""

import json
import math
import shutil
from dataclasses import replace

import pytest
import torch
from cli_checks import assert_refused, run_args
from synthetic_pairs import disc_folder
from typer.testing import CliRunner

import bench.compare
from bench.cli import app
from bench.compare import compare, load_run, sampling_config, sampling_configs
from bench.config import ConfigError
from methods.diffuseexpand.cost import RELEASED, SamplingConfig, flops_per_pair, network_costs, nfe

pytestmark = pytest.mark.heavy(45)

RUN_NAME = "diffuseexpand__cf+cg+cs__unet__none__real+synthetic"
CONFIGS = ("released", "preset", "every2")


def invoke(*args, columns=250):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns)})


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """A finished `bench run --method diffuseexpand --ablation cf+cg+cs` at the smoke preset: its run folder."""
    root = tmp_path_factory.mktemp("compare")
    data, out = disc_folder(root / "discs"), root / "out"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = invoke(*run_args(data, out, "--ablation", "cf+cg+cs", "--no-baseline", method="diffuseexpand"))
    finally:
        torch.set_num_threads(threads)
    assert res.exit_code == 0, res.output
    folder = out / "discs" / RUN_NAME / "ratio_0.9" / "seed_0"
    assert (folder / "results.json").is_file()
    return folder


def _stage_folders(out):
    return sorted(p.relative_to(out) for p in out.rglob("*"))


def test_table_prices_a_kept_pair_against_the_released_sampler(smoke_run, monkeypatch):
    rows = []  # the rows the command printed, as bench.compare computed them

    def recorded(*args, **kwargs):
        rows.extend(compare(*args, **kwargs))
        return rows

    monkeypatch.setattr(bench.compare, "compare", recorded)
    res = invoke("speed", "--compare", ",".join(CONFIGS), "--run", smoke_run, "--n", 4, "--device", "cpu", columns=80)
    assert res.exit_code == 0, res.output
    printed = res.output.splitlines()
    (heading,) = [i for i, line in enumerate(printed) if line.startswith(f"{smoke_run}: 4 pairs per configuration")]
    assert max(len(line) for line in printed[heading + 1 :]) <= 80, "tables and legend fit an 80-column log"
    loaded = load_run(smoke_run, "cpu")
    own = SamplingConfig.from_options(loaded.method.options)
    assert [r["configuration"] for r in rows] == list(CONFIGS)
    per_call = {f"{k}_flops": v for k, v in network_costs(loaded.method.options, 32).items()}
    expected = {"released": RELEASED, "preset": own, "every2": replace(own, guidance_every=2)}
    for r in rows:
        config = expected[r["configuration"]]
        assert r["options"] == config.name and r["options"] in res.output
        assert r["nfe"] == nfe(config)["total"]
        calls = r["nfe"]
        assert f"{calls['denoiser']}/{calls['segmenter_fwd']}/{calls['segmenter_bwd']}" in res.output
        assert r["gflop_per_pair"] == pytest.approx(flops_per_pair(config, **per_call) / 1e9)
        assert sum(r["counts"].values()) == len(r["filter_dice"]) == 4
        assert r["pass_rate"] == (r["counts"]["kept"] + r["counts"]["relabelled"]) / 4
        assert r["kept_share"] == r["counts"]["kept"] / 4
        assert r["mean_dice"] == pytest.approx(sum(r["filter_dice"]) / 4, abs=1e-4)
        if r["pass_rate"] > 0:
            assert r["gflop_per_kept"] == pytest.approx(r["gflop_per_pair"] / r["pass_rate"])
            assert f"{r['gflop_per_kept']:,.4g}" in res.output
        else:
            assert r["gflop_per_kept"] == math.inf
        assert r["seconds_per_pair"] > 0
    released = rows[0]
    assert released["pass_rate"] > 0, "the smoke run's filter passes the released sampler's pairs (η = 0.3)"
    assert released["vs_released"] == 1
    for r in rows[1:]:
        assert r["vs_released"] == pytest.approx(r["gflop_per_kept"] / released["gflop_per_kept"])
    assert released["gflop_per_pair"] > rows[1]["gflop_per_pair"] > rows[2]["gflop_per_pair"]


def test_the_same_seeds_give_the_same_pairs(smoke_run):
    loaded = load_run(smoke_run, "cpu")
    own = SamplingConfig.from_options(loaded.method.options)
    every2 = sampling_config("every2", own)
    twice = compare(loaded, [("every2", every2), ("every2", every2)], n=4)
    assert twice[0]["pass_rate"] == twice[1]["pass_rate"]
    assert twice[0]["filter_dice"] == twice[1]["filter_dice"]
    # `preset` samples the run's own seeds with the run's own options: the run's pairs, the run's filter decisions
    results = json.loads((smoke_run / "results.json").read_text())
    n = results["counts"]["synthetic_generated"]
    (preset,) = compare(loaded, sampling_configs(["preset"], own), n=n)
    assert preset["filter_dice"] == results["method_stats"]["filter_dice"]
    assert preset["pass_rate"] == results["method_stats"]["pass_rate"]


def test_json_rows_carry_the_guidance_strength_and_the_fid_of_each_configuration(smoke_run):
    names = "guidance_scale=0,preset,guidance_reduction=sum+tau=0.5"
    res = invoke("speed", "--compare", names, "--run", smoke_run, "--n", 4, "--device", "cpu", "--json", "--fid")
    assert res.exit_code == 0, res.output
    unguided, preset, summed = json.loads(res.output)
    assert unguided["guidance_ratio_mask"] == unguided["guidance_ratio_image"] == 0
    assert preset["guidance_ratio_image"] > 0 and "-tau0.5-sum-" in summed["options"]
    assert summed["guidance_ratio_image"] > preset["guidance_ratio_image"]  # the sum is H·W times the mean term
    for r in (unguided, preset, summed):
        assert r["fid"] is not None and r["fid"] > 0 and r["fid_unet"] is not None
        assert r["fid_kept"] is not None or "fid_kept" in r["unavailable"]  # never a gap without its reason
        assert 0 <= r["memorised"] <= 1
    assert_refused(invoke("speed", "--fid"), "--fid")


def test_configuration_names():
    own = SamplingConfig(solver_order=2, steps=4)
    assert sampling_config("released", own) == RELEASED
    assert sampling_config("preset", own) == own
    assert sampling_config("order3-15", own) == SamplingConfig(solver_order=3, steps=15)
    assert sampling_config("every3", own) == SamplingConfig(solver_order=2, steps=4, guidance_every=3)
    assert sampling_config("until0.5", own) == SamplingConfig(solver_order=2, steps=4, guidance_until=0.5)
    assert sampling_config("imageonly", own) == SamplingConfig(solver_order=2, steps=4, guide_mask_phase=False)
    assert sampling_config("maskonly", own) == SamplingConfig(solver_order=2, steps=4, guide_image_phase=False)
    plain = SamplingConfig(solver_order=2, steps=4, dynamic_thresholding=False)
    assert sampling_config("dynamic_thresholding=false", own) == plain
    assert sampling_config("released", plain) == replace(RELEASED, dynamic_thresholding=False), "the run's own"
    spelled = sampling_config("solver_order=1+steps=10+guidance_every=2+guide_mask_phase=false", own)
    assert spelled == SamplingConfig(solver_order=1, steps=10, guidance_every=2, guide_mask_phase=False)
    for bad, needle in (
        ("fast", "unknown configuration"),
        ("order4-10", "solver_order"),
        ("steps=many", "whole number"),
        ("temperature=2", "unknown field 'temperature'"),
        ("until1.5", "guidance_until"),
    ):
        with pytest.raises(ConfigError, match=needle):
            sampling_config(bad, own)


def test_a_folder_that_is_not_a_finished_diffuseexpand_run_is_refused(smoke_run, tmp_path):
    # no results.json
    res = invoke("speed", "--compare", "released", "--run", smoke_run.parent)
    assert_refused(res, str(smoke_run.parent), "no results.json")
    # a run of another method
    data = disc_folder(tmp_path / "discs")
    assert invoke(*run_args(data, tmp_path / "out")).exit_code == 0
    origin = tmp_path / "out" / "discs" / "origin__none__unet__none__real" / "ratio_0.9" / "seed_0"
    res = invoke("speed", "--compare", "released", "--run", origin)
    assert_refused(res, str(origin), "a run of origin (none)", "diffuseexpand (cf+cg+cs)")
    # another variant of DiffuseExpand (no stage-IV filter)
    other = tmp_path / "cfcg" / "discs" / "run" / "ratio_0.9" / "seed_0"
    shutil.copytree(smoke_run, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "ablation": "cf+cg"}))
    assert_refused(invoke("speed", "--compare", "released", "--run", other), str(other), "diffuseexpand (cf+cg);")
    # options of the other mode
    assert_refused(invoke("speed", "--compare", "released"), "--compare and --run")
    assert_refused(invoke("speed", "--compare", "released", "--run", smoke_run, "--preset", "smoke"), "--preset")
    assert_refused(invoke("speed", "--compare", "fast", "--run", smoke_run), "'fast'", "unknown configuration")


def test_a_run_without_its_cache_is_refused_without_training(smoke_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(smoke_run.parents[3], out)
    run = out / smoke_run.relative_to(smoke_run.parents[3])
    shutil.rmtree(out / "discs" / "_cache" / "diffuseexpand")
    before = _stage_folders(out)
    res = invoke("speed", "--compare", "released,preset", "--run", run, "--n", 2)
    assert_refused(res, str(run), "denoiser is not in the cache", "never trains")
    assert _stage_folders(out) == before  # no stage folder, lock or key file appeared
