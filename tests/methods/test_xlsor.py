import dataclasses

import pytest
import torch
from cli_checks import assert_refused, invoke, run_args
from synthetic_pairs import disc_folder, disc_pairs

from bench.config import PRESETS, TrainConfig, merge_options
from bench.results import find_results, load_results
from bench.segmentation.xlsor import XLSorOptions, transform_pair
from methods.base import MethodContext
from methods.xlsor import XLSor

pytestmark = pytest.mark.heavy(27)


def _ctx(workdir, seed=0) -> MethodContext:
    train = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"])
    return MethodContext(workdir=workdir, seed=seed, device=torch.device("cpu"), train=train, preset="smoke")


def _expand(workdir, n=6, seed=0, variant="full", options=None):
    method = XLSor(variant, options)
    method.fit(disc_pairs(4), _ctx(workdir, seed))
    return method, method.expand(n, _ctx(workdir, seed))


def test_same_seed_same_pairs_and_records_written(tmp_path):
    method, a = _expand(tmp_path / "a")
    _, b = _expand(tmp_path / "b")
    _, c = _expand(tmp_path / "c", seed=1)
    assert torch.equal(a.pairs.images, b.pairs.images) and torch.equal(a.pairs.masks, b.pairs.masks)
    assert [dataclasses.astuple(r) for r in a.records] == [dataclasses.astuple(r) for r in b.records]
    assert not torch.equal(a.pairs.images, c.pairs.images)
    assert [r.info["source"] for r in a.records] == ["d00", "d01", "d02", "d03", "d00", "d01"]
    assert len({r.seed for r in a.records}) == 6 and {r.decision for r in a.records} == {"kept"}
    for key in ("rotate", "zoom", "shift_x", "elastic", "opacities", "gamma", "noise_std"):
        assert len({r.info[key] for r in a.records}) > 1, key
    # a pair is reproduced from its record alone
    first = a.records[4]
    image, mask, params = transform_pair(disc_pairs(4).images[0], disc_pairs(4).masks[0], XLSorOptions(), first.seed)
    assert params == {k: v for k, v in first.info.items() if k != "source"}
    assert torch.equal(mask, a.pairs.masks[4])
    assert torch.allclose((image * 255).round() / 255, a.pairs.images[4], atol=1 / 255)
    folder = next((tmp_path / "a" / "samples").iterdir())
    assert (folder / "records.csv").read_text().startswith("id,seed,decision,")
    assert (folder / "gallery.png").is_file() and (folder / "done.json").is_file()
    assert method.stats["counts"] == {"kept": 6, "relabelled": 0, "dropped": 0} and method.stats["cached"] == []

    again, reused = _expand(tmp_path / "a")
    assert again.stats["cached"] == ["samples"]
    assert [dataclasses.astuple(r) for r in reused.records] == [dataclasses.astuple(r) for r in a.records]


def test_geometric_variant_draws_no_abnormality(tmp_path):
    method, exp = _expand(tmp_path, variant="geometric")
    assert all("opacities" not in r.info and "gamma" not in r.info for r in exp.records)
    assert method.stats["abnormal_fraction"] == 0


@pytest.mark.parametrize("train_on", ["real+synthetic", "synthetic"])
def test_bench_run_smoke(tmp_path, train_on):
    data = disc_folder(tmp_path / "discs")
    res = invoke(*run_args(data, tmp_path / "runs", "--train-on", train_on, method="xlsor"))
    assert res.exit_code == 0, res.output
    results = {r["run"]["method"]: r for r in map(load_results, find_results(tmp_path / "runs"))}
    assert set(results) == {"xlsor", "origin"}  # origin ran beside it for the paired Δ
    r = results["xlsor"]
    assert r["counts"]["synthetic_kept"] == 8
    assert r["counts"]["train_total"] == 8 + (r["counts"]["real_train"] if train_on != "synthetic" else 0)
    assert set(r["method_stats"]["seconds"]) == {"samples"} and 0 <= r["metrics"]["dice"] <= 1


def test_bench_run_refuses_a_bad_option_in_one_line(discs, tmp_path):
    out = tmp_path / "runs"
    res = invoke(*run_args(discs, out, "--option", "opacity_strength=2", method="xlsor"))
    assert_refused(res, "opacity_strength must be in [0, 1], got 2", out=out)
