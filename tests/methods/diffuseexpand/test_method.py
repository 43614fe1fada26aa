"""DiffuseExpand end to end at the smoke preset: all three ablations, stage caching, options."""

import csv
import dataclasses
import json

import pytest
import torch
from PIL import Image
from synthetic_pairs import disc_pairs

from bench.config import PRESETS, ConfigError, TrainConfig, merge_options
from bench.pairs import PairSet
from methods import get_method
from methods.base import DECISIONS, MethodContext, options_dict, stored_options
from methods.diffuseexpand import DiffuseExpand
from methods.diffuseexpand import method as method_module
from methods.diffusion.options import DenoiserOptions

N = 6


def _ctx(workdir, force: bool = False) -> MethodContext:
    train = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"])
    return MethodContext(workdir=workdir, seed=0, device=torch.device("cpu"), train=train, preset="smoke", force=force)


def _smoke(**overrides) -> DiffuseExpand.Options:
    return merge_options(DiffuseExpand.Options, {}, DiffuseExpand.presets["smoke"], overrides)


def _refuse(*args, **kwargs):
    raise AssertionError("a cached stage was trained again")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Fit + expand every ablation in one work dir; the 2nd and 3rd may not train anything they share."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread avoids OpenMP overhead and contention
    workdir = tmp_path_factory.mktemp("diffuseexpand")
    real = disc_pairs()
    out = {}
    try:
        for i, variant in enumerate(DiffuseExpand.variants):
            with pytest.MonkeyPatch.context() as mp:
                if i:
                    for name in ("fit_denoiser", "fit_segmenter"):
                        mp.setattr(method_module, name, _refuse)
                    mp.setattr(method_module.MaskFilter, "fit", _refuse)
                method = DiffuseExpand(variant, _smoke())
                method.fit(real, _ctx(workdir))
                out[variant] = (method, method.expand(N, _ctx(workdir)))
    finally:
        torch.set_num_threads(threads)
    return workdir, real, out


def test_registry_finds_the_method():
    assert get_method("diffuseexpand") is DiffuseExpand
    assert DiffuseExpand.variants == ("cf+cg+cs", "cf+cg", "cf")


@pytest.mark.parametrize("variant", DiffuseExpand.variants)
def test_every_ablation_end_to_end(runs, variant):
    workdir, real, out = runs
    method, exp = out[variant]
    assert len(exp.records) == N and all(r.decision in DECISIONS for r in exp.records)
    assert [r.id for r in exp.records] == [f"syn_{i:05d}" for i in range(N)]
    used = [r.id for r in exp.records if r.decision != "dropped"]
    assert exp.pairs.ids == used and exp.pairs.synthetic
    assert exp.pairs.images.shape[1:] == real.images.shape[1:]
    if len(exp.pairs):  # at the smoke preset stage IV may drop every pair
        assert exp.pairs.images.min() >= 0 and exp.pairs.images.max() <= 1
        assert set(exp.pairs.masks.unique().tolist()) <= {0, 1}
    stats = method.stats
    assert set(stats["seconds"]) == {"denoiser", "segmenter", "sampler", "filter"}
    assert stats["seconds"]["denoiser"] > 0 and stats["seconds"]["sampler"] > 0
    assert sum(stats["counts"].values()) == N
    if variant == "cf+cg+cs":
        assert stats["pass_rate"] == len(used) / N
        assert 0 <= stats["mean_dice_all"] <= 1 and stats["seconds"]["filter"] > 0
        assert all("dice_loss" in r.info for r in exp.records)
        folder = next((workdir / "selection").iterdir())
    else:
        assert stats["pass_rate"] == 1.0 and stats["mean_dice_all"] is None
        assert (stats["seconds"]["segmenter"] is None) == (variant == "cf")
        folder = next(
            p
            for p in (workdir / "samples").iterdir()
            if json.loads((p / "key.json").read_text())["sampling"]["guidance_scale"] == (variant != "cf")
        )
    with (folder / "records.csv").open() as fh:
        assert [row["id"] for row in csv.DictReader(fh)] == [r.id for r in exp.records]
    assert Image.open(folder / "gallery.png").size[0] > 128
    assert (folder / "done.json").exists() and (folder / "key.json").exists()


def test_shared_stages_are_reused(runs):
    workdir, _, out = runs
    assert out["cf+cg"][0].stats["cached"] == ["denoiser", "segmenter", "samples"]
    assert out["cf"][0].stats["cached"] == ["denoiser"]
    assert len(list((workdir / "denoiser").iterdir())) == 1
    assert len(list((workdir / "samples").iterdir())) == 2  # guided (shared by cf+cg and cf+cg+cs) and cf
    for role in ("denoiser", "segmenter", "filter"):
        folder = next((workdir / role).iterdir())
        assert json.loads((folder / "key.json").read_text())["role"] == role
        assert (folder / "done.json").exists() and not (folder / "checkpoints").exists()


def test_cached_expansion_equals_the_fresh_one(runs):
    workdir, _, out = runs
    method, fresh = out["cf+cg+cs"]
    again = method.expand(N, _ctx(workdir))
    assert torch.equal(again.pairs.images, fresh.pairs.images)
    assert torch.equal(again.pairs.masks, fresh.pairs.masks)
    assert [dataclasses.astuple(r) for r in again.records] == [dataclasses.astuple(r) for r in fresh.records]
    # cf+cg reused the same stage-III samples: its pairs are cf+cg+cs's pairs before selection.
    guided = out["cf+cg"][1].pairs
    assert torch.equal(guided.subset(fresh.pairs.ids).images, fresh.pairs.images)


def test_force_recomputes(tmp_path):
    options = _smoke(denoiser_steps=2, sampling_steps=1)
    calls = []
    real_fit = method_module.fit_denoiser

    def counting(*args, **kwargs):
        calls.append(1)
        return real_fit(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(method_module, "fit_denoiser", counting)
        DiffuseExpand("cf", options).fit(disc_pairs(4), _ctx(tmp_path))
        DiffuseExpand("cf", options).fit(disc_pairs(4), _ctx(tmp_path))
        DiffuseExpand("cf", options).fit(disc_pairs(4), _ctx(tmp_path, force=True))
    assert len(calls) == 2


def test_every_network_option_is_part_of_the_cache_key(tmp_path):
    """A denoiser option (here the architecture flag resblock_updown) must never reuse another config's model."""
    calls = []
    real_fit = method_module.fit_denoiser

    def counting(*args, **kwargs):
        calls.append(1)
        return real_fit(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(method_module, "fit_denoiser", counting)
        for updown in (True, False):
            options = _smoke(denoiser_steps=2, sampling_steps=1, denoiser_resblock_updown=updown)
            DiffuseExpand("cf", options).fit(disc_pairs(4), _ctx(tmp_path))
    assert len(calls) == 2 and len(list((tmp_path / "denoiser").iterdir())) == 2


def test_options_are_validated_and_normalised():
    options = _smoke(denoiser_widths=[8, 16], segmenter_attention=[])
    assert options.denoiser_widths == (8, 16) and options.segmenter_attention == ()
    with pytest.raises(ConfigError, match="unknown"):
        _smoke(width=3)
    with pytest.raises(ConfigError, match="conditioning"):
        _smoke(conditioning="crossattn")
    for name, overrides in DiffuseExpand.presets.items():
        assert isinstance(merge_options(DiffuseExpand.Options, {}, overrides), DiffuseExpand.Options), name
    assert DiffuseExpand.Options().eta == 0.065 and DiffuseExpand.Options().cfg_dropout == 0.5


def test_guidance_thinning_options_are_checked_and_keyed_only_when_set():
    for bad in ({"guidance_every": 0}, {"guidance_until": 1.0}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            _smoke(**bad)
    # at their neutral values they stay out of run and samples keys, so results stored before they existed are reused
    recipe = DenoiserOptions.KEYED_ONLY_IF_NOT  # the shared stage-I recipe knobs, likewise
    assert set(DiffuseExpand.Options.KEYED_ONLY_IF_NOT) == {*method_module.GUIDANCE_KEYED, "mask_source", *recipe}
    assert not set(options_dict(_smoke())) & set(method_module.GUIDANCE_KEYED)
    # read back under a preset that sets one of them, a stored config keeps its own (neutral) value
    stored = stored_options(DiffuseExpand.Options, options_dict(_smoke()))
    assert merge_options(DiffuseExpand.Options, {}, {"guidance_every": 2}, stored).guidance_every == 1
    assert merge_options(DiffuseExpand.Options, {}, {"guidance_every": 2}, options_dict(_smoke())).guidance_every == 2
    thinned = _smoke(guidance_every=2, guidance_until=0, guide_mask_phase=False)
    assert {k: v for k, v in options_dict(thinned).items() if k in method_module.THINNING} == {
        "guidance_every": 2,
        "guide_mask_phase": False,
    }


def test_misuse_raises(tmp_path):
    method = DiffuseExpand("cf", _smoke())
    with pytest.raises(RuntimeError, match="before fit"):
        method.expand(2, _ctx(tmp_path))
    real = disc_pairs(4)
    labels = real.masks.clone()
    labels[:, :, 16:] *= 2
    multi = PairSet(real.ids, real.images, labels, "multi")
    with pytest.raises(ConfigError, match="image_objective: 'wiou-wbce' is defined for binary masks"):
        DiffuseExpand("cf+cg", _smoke(image_objective="wiou-wbce")).fit(multi, _ctx(tmp_path))
    assert not (tmp_path / "denoiser").exists()


def test_binary_stage_keys_hold_no_class_count(runs):
    """Binary stage keys are those stored before multi-class masks existed, so cached stages stay valid."""
    workdir = runs[0]
    for role in ("denoiser", "segmenter", "filter"):
        key = json.loads((next((workdir / role).iterdir()) / "key.json").read_text())
        assert set(key["data"]) == {"fingerprint", "pairs", "size", "channels"}


def test_guidance_reduction_is_checked_and_keyed_only_when_it_changes_the_pairs():
    with pytest.raises(ConfigError, match="guidance_reduction"):
        _smoke(guidance_reduction="median")
    assert "guidance_reduction" not in options_dict(_smoke())  # "mean": the pairs stored before the option existed
    assert options_dict(_smoke(guidance_reduction="sum"))["guidance_reduction"] == "sum"


def test_each_expansion_records_how_strongly_guidance_acted(runs):
    _, _, out = runs
    steps = _smoke().sampling_steps
    for variant, (method, _) in out.items():
        stats = method.stats
        assert set(stats["guidance"]) == {"mask", "image"}
        assert all(len(phase["ratio"]) == steps for phase in stats["guidance"].values())
        means = (stats["guidance_ratio_mask"], stats["guidance_ratio_image"])
        assert all(m == 0 for m in means) if variant == "cf" else all(m > 0 for m in means)
