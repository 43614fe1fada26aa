import dataclasses
import json

import pytest
import torch
from cli_checks import assert_refused, invoke, run_args
from synthetic_pairs import disc_folder, disc_pairs

from bench.config import PRESETS, ConfigError, TrainConfig, merge_options
from bench.results import find_results, load_results
from methods.base import MethodContext
from methods.xlsor import XLSor, XLSorOptions, transform_pair

STRONG = XLSorOptions(rotate_degrees=30, scale=0.3, translate=0.15, shear=0.1, elastic_magnitude=0.03)
NO_GEOMETRY_NOR_INTENSITY = XLSorOptions(
    rotate_degrees=0,
    scale=0,
    translate=0,
    shear=0,
    elastic_magnitude=0,
    gamma=0,
    contrast=0,
    brightness=0,
    noise_std=0,
    abnormality_prob=1.0,
    opacity_strength=1.0,
)


def _ctx(workdir, seed=0) -> MethodContext:
    train = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"])
    return MethodContext(workdir=workdir, seed=seed, device=torch.device("cpu"), train=train, preset="smoke")


def _expand(workdir, n=6, seed=0, variant="full", options=None):
    method = XLSor(variant, options)
    method.fit(disc_pairs(4), _ctx(workdir, seed))
    return method, method.expand(n, _ctx(workdir, seed))


def test_geometry_moves_image_and_mask_together():
    """The disc is the mask: after a strong warp the warped mask still covers the bright disc, and only it."""
    pairs = disc_pairs(4)
    moved = 0
    for seed in range(8):
        image, mask, params = transform_pair(
            pairs.images[seed % 4], pairs.masks[seed % 4], STRONG, seed, abnormal=False
        )
        assert set(mask.unique().tolist()) <= {0, 1} and mask.sum() > 0
        moved += int(not torch.equal(mask, pairs.masks[seed % 4]))
        disagree = ((image[0] > 0.5).long() != mask).float().mean()
        assert disagree < 0.03, (seed, params)
        assert image[0][mask == 1].mean() > 0.7 and image[0][mask == 0].mean() < 0.3
    assert moved == 8


def test_opacities_change_the_image_inside_the_foreground_only_and_never_the_mask():
    pairs = disc_pairs(4)
    for seed in range(4):
        source_image, source_mask = pairs.images[seed], pairs.masks[seed]
        warped, _, _ = transform_pair(source_image, source_mask, NO_GEOMETRY_NOR_INTENSITY, seed, abnormal=False)
        image, mask, params = transform_pair(source_image, source_mask, NO_GEOMETRY_NOR_INTENSITY, seed)
        assert torch.equal(mask, source_mask)
        assert params["opacities"] == len(json.loads(params["opacity_params"])) >= 1
        inside = source_mask == 1
        assert torch.allclose(image[0][~inside], warped[0][~inside], atol=1e-6)
        # the foreground is blended towards the darker surrounding tissue
        assert (warped[0][inside] - image[0][inside]).max() > 0.2
        assert image[0][inside].mean() < warped[0][inside].mean()


def test_recorded_shift_and_zoom_describe_the_content():
    mask = torch.zeros(64, 64, dtype=torch.long)
    mask[24:40, 24:40] = 1
    o = XLSorOptions(rotate_degrees=0, shear=0, elastic_magnitude=0, scale=0.2, translate=0.1)
    for seed in range(3):
        _, moved, p = transform_pair(mask[None].float(), mask, o, seed, abnormal=False)
        ys, xs = moved.nonzero(as_tuple=True)
        assert (
            abs(ys.float().mean() - 31.5 - p["shift_y"] * 64) <= 1
            and abs(xs.float().mean() - 31.5 - p["shift_x"] * 64) <= 1
        )
        assert abs(moved.sum() ** 0.5 / 16 - p["zoom"]) < 0.1


def test_multi_class_masks_keep_their_labels():
    pairs = disc_pairs(2)
    labels = pairs.masks[0] + (torch.arange(32)[None, :] > 16).long() * pairs.masks[0]
    _, mask, _ = transform_pair(pairs.images[0], labels, STRONG, seed=3)
    assert set(mask.unique().tolist()) == {0, 1, 2}


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


def test_options_are_checked():
    with pytest.raises(ConfigError, match="scale"):
        XLSorOptions(scale=1.5)
    with pytest.raises(ConfigError, match="max_opacities"):
        XLSorOptions(max_opacities=0)


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
