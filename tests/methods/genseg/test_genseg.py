"""GenSeg as a method: validation pairs, what each variant does to the architecture, `bench run` end to end, and
the refusals."""

import json

import numpy as np
import pytest
import torch
from cli_checks import assert_refused, invoke, run_args
from synthetic_pairs import disc_pairs

from bench.config import PRESETS, ConfigError, TrainConfig, merge_options
from bench.results import find_results, load_results
from methods.base import MethodContext
from methods.diffusion.unet import load_model
from methods.genseg import GenSeg
from methods.genseg.augment import draw_affine, warp_masks
from methods.genseg.networks import MaskToImageGAN
from methods.genseg.options import GenSegOptions
from methods.genseg.validation import hold_out, validation_ids

pytestmark = pytest.mark.heavy(40)

TINY = merge_options(GenSegOptions, {}, GenSeg.presets["smoke"])


def _ctx(workdir, seed=0) -> MethodContext:
    train = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"])
    return MethodContext(workdir=workdir, seed=seed, device=torch.device("cpu"), train=train, preset="smoke")


def test_validation_pairs_follow_the_seed_and_leave_the_fitting_pairs():
    train = disc_pairs(9)
    fit, val = hold_out(train, 2, seed=0)
    assert len(val) == 2 and len(fit) == 7 and not set(fit.ids) & set(val.ids)
    assert sorted(fit.ids + val.ids) == sorted(train.ids)
    assert validation_ids(list(reversed(train.ids)), 2, 0) == list(val.ids), "independent of the ids' order"
    assert {tuple(validation_ids(train.ids, 2, s)) for s in range(6)} != {tuple(val.ids)}, "the seed chooses"


@pytest.mark.parametrize("variant", ["separate", "end2end"])
def test_fit_expand_holds_back_validation_and_treats_the_architecture_by_variant(tmp_path, variant):
    train = disc_pairs(9)
    method = GenSeg(variant, TINY)
    method.fit(train, _ctx(tmp_path))
    expansion = method.expand(6, _ctx(tmp_path))
    held = method.stats["validation"]
    _, val = hold_out(train, 2, 0)
    assert held == list(val.ids)
    assert not {r.info["source"] for r in expansion.records} & set(held), "new masks come from fitting pairs only"
    (gan_folder,) = (tmp_path / "image_gan").iterdir()
    assert json.loads((gan_folder / "key.json").read_text())["data"]["pairs"] == 7
    trained = load_model(MaskToImageGAN, gan_folder).arch
    assert torch.equal(trained, torch.zeros_like(trained)), "stage I leaves the architecture where it started"
    arch = method._fitted["model"].arch
    if variant == "separate":
        assert torch.equal(arch, trained) and "search" not in method.stats
    else:
        assert (arch - trained).abs().max() > 1e-4, "the search moved the architecture weights"
        (search_folder,) = (tmp_path / "search").iterdir()
        assert torch.equal(load_model(MaskToImageGAN, search_folder).arch, arch)
        assert len(method.history["search/loss"]) == TINY.search_steps
    assert expansion.pairs.images.shape == (6, 1, 32, 32) and 0 <= expansion.pairs.images.min()
    source = train.masks[train.ids.index(expansion.records[0].info["source"])]
    rng = np.random.default_rng(expansion.records[0].seed)
    rng.integers(7)
    assert torch.equal(expansion.pairs.masks[0], warp_masks(source[None], [draw_affine(rng)[0]])[0])


def test_augmentation_keeps_labels_and_the_identity_keeps_the_mask():
    mask = disc_pairs(1).masks
    assert torch.equal(warp_masks(mask, [np.eye(3)]), mask)
    out = warp_masks(mask.repeat(8, 1, 1), [draw_affine(np.random.default_rng(i))[0] for i in range(8)])
    assert set(out.unique().tolist()) <= {0, 1} and not all(torch.equal(o, mask[0]) for o in out)


def test_options_refuse_bad_values_in_one_message():
    with pytest.raises(ConfigError, match="val_pairs must be >= 1"):
        GenSegOptions(val_pairs=0)
    with pytest.raises(ConfigError, match="segmenter must be one of"):
        GenSegOptions(segmenter="vgg")
    with pytest.raises(ConfigError, match="val_pairs=2 leaves 1 of 3"):
        GenSegOptions().check_pairs(3)
    GenSegOptions().check_pairs(4)


@pytest.mark.parametrize(
    "extra, needles",
    [
        (("--option", "val_pairs=0"), ("val_pairs",)),
        (("--option", "val_pairs=13"), ("val_pairs=13", "leaves")),
        (("--ablation", "joint"), ("ablation", "genseg", "end2end")),
        (("--option", "arch_lr=-1"), ("arch_lr",)),
    ],
)
def test_bench_run_refuses_bad_requests_before_any_work(discs, tmp_path, extra, needles):
    out = tmp_path / "runs"
    assert_refused(invoke(*run_args(discs, out, *extra, method="genseg")), *needles, out=out)


def test_bench_run_smoke_both_variants_record_their_validation_pairs(discs, tmp_path):
    out = tmp_path / "runs"
    for variant in ("separate", "end2end"):
        res = invoke(*run_args(discs, out, "--ablation", variant, "--no-baseline", method="genseg"))
        assert res.exit_code == 0, res.output
    results = {r["run"]["ablation"]: (r, p) for p in find_results(out) for r in [load_results(p)]}
    assert set(results) == {"separate", "end2end"}
    for record, path in results.values():
        splits = json.loads((path.parent / "splits.json").read_text())
        assert len(splits["validation"]) == 2 and set(splits["validation"]) <= set(splits["train"])
        assert not set(splits["validation"]) & set(splits["test"])
        assert record["method_stats"]["validation"] == splits["validation"]
        assert record["counts"]["real_train"] == len(splits["train"]), "the scored model trains on every pair"
        assert 0 <= record["metrics"]["dice"] <= 1
    assert results["end2end"][0]["method_stats"]["cached"] == ["image_gan"], "end2end reuses separate's GAN"
