"""Stage III sampler: determinism, per-pair seeds, eval-mode enforcement, input checks."""

import pytest
import torch

from methods.base import pair_seeds
from methods.diffuseexpand.guidance import SegmenterGuidance
from methods.diffuseexpand.labels import binary_median, mode_filter
from methods.diffuseexpand.sampler import PairSampler
from methods.diffuseexpand.sampling_config import SamplingConfig


def _sample(nets, seeds, batch_size=4, **knobs):
    return _pipeline(*nets)(seeds=seeds, config=SamplingConfig(**(SAMPLING | knobs)), batch_size=batch_size)


SAMPLING = {
    "solver_order": 2,
    "steps": 3,
    "tau": 0.5,
    "guidance_scale": 1.0,
    "cf_weight": 1.0,
    "image_objective": "likelihood",
    "mask_median": 0,
}


def _pipeline(denoiser, segmenter) -> PairSampler:
    return PairSampler(denoiser, segmenter, mixed_precision=True)


def test_output_shapes_and_ranges(nets):
    out = _sample(nets, [1, 2, 3])
    assert out.images.shape == (3, 1, 16, 16) and out.masks.shape == (3, 16, 16)
    assert out.images.min() >= 0 and out.images.max() <= 1
    assert out.masks.dtype == torch.int64 and set(out.masks.unique().tolist()) <= {0, 1}
    assert out.seeds == [1, 2, 3]


def test_same_seed_same_output_and_pairs_reproduce_alone(nets):
    a = _sample(nets, [11, 12, 13])
    b = _sample(nets, [11, 12, 13])
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    alone = _sample(nets, [12], batch_size=1)
    assert torch.allclose(alone.images[0], a.images[1], atol=1e-4)
    assert torch.equal(alone.masks[0], a.masks[1])
    other = _sample(nets, [14])
    assert not torch.allclose(other.images[0], a.images[0])


def test_guidance_and_cf_weight_change_the_result(nets):
    base = _sample(nets, [5, 6])
    assert not torch.allclose(base.images, _sample(nets, [5, 6], guidance_scale=0.0).images)
    assert not torch.allclose(base.images, _sample(nets, [5, 6], cf_weight=2.0).images)


def test_dynamic_thresholding_is_a_sampling_knob_that_changes_the_pairs(nets):
    base = _sample(nets, [5, 6])
    plain = _sample(nets, [5, 6], dynamic_thresholding=False)
    assert not torch.allclose(base.images, plain.images)
    assert plain.images.min() >= 0 and plain.images.max() <= 1


def test_unguided_sampling_needs_no_segmenter(nets):
    out = _pipeline(nets[0], None)(
        seeds=[1],
        config=SamplingConfig(**(SAMPLING | {"solver_order": 1, "steps": 2, "guidance_scale": 0.0})),
        batch_size=4,
    )
    assert out.images.shape == (1, 1, 16, 16)


def test_networks_in_train_mode_are_refused(nets):
    denoiser, segmenter = nets
    try:
        denoiser.train()
        with pytest.raises(RuntimeError, match="denoiser"):
            _sample(nets, [1])
        denoiser.eval()
        segmenter.train()
        with pytest.raises(RuntimeError, match="segmenter"):
            _sample(nets, [1])
    finally:
        denoiser.eval()
        segmenter.eval()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"seeds": []}, "seeds"),
        ({"steps": 0}, "steps"),
        ({"tau": 0.0}, "tau"),
        ({"guidance_scale": -1.0}, "guidance_scale"),
        ({"image_objective": "dice"}, "image_objective"),
        ({"batch_size": 0}, "batch_size"),
        ({"mask_median": 4}, "mask_median"),
        ({"guidance_every": 0}, "guidance_every"),
        ({"guidance_until": 1.0}, "guidance_until"),
        ({"guidance_until": -0.1}, "guidance_until"),
    ],
)
def test_check_inputs(nets, kwargs, match):
    args = {"seeds": [1]} | kwargs
    with pytest.raises(ValueError, match=match):
        _sample(nets, **args)


def test_guidance_without_segmenter_is_refused(nets):
    with pytest.raises(ValueError, match="segmenter"):
        _pipeline(nets[0], None)(seeds=[1], config=SamplingConfig(**(SAMPLING | {"solver_order": 3})), batch_size=4)


def test_pair_seeds_are_stable_and_distinct():
    seeds = pair_seeds(0, 50)
    assert seeds == pair_seeds(0, 50) and len(set(seeds)) == 50
    assert pair_seeds(0, 10, start=40) == seeds[40:]
    assert pair_seeds(1, 5) != seeds[:5]


def test_mask_median_changes_only_the_masks_it_cleans(nets):
    base = _sample(nets, [7, 8], guidance_scale=0.0)
    cleaned = _sample(nets, [7, 8], guidance_scale=0.0, mask_median=3)
    assert torch.equal(cleaned.masks, binary_median(base.masks[:, None].float(), 3)[:, 0].long())


def test_multiclass_pairs_have_labels_and_image_channels(multiclass_nets):
    out = _sample(multiclass_nets, [1, 2, 3])
    assert out.images.shape == (3, 1, 16, 16) and out.masks.shape == (3, 16, 16)
    assert out.masks.dtype == torch.int64 and set(out.masks.unique().tolist()) <= {0, 1, 2}
    again = _sample(multiclass_nets, [1, 2, 3])
    assert torch.equal(out.images, again.images) and torch.equal(out.masks, again.masks)
    cleaned = _sample(multiclass_nets, [1, 2, 3], guidance_scale=0.0, mask_median=3)
    raw = _sample(multiclass_nets, [1, 2, 3], guidance_scale=0.0)
    assert torch.equal(cleaned.masks, mode_filter(raw.masks, 2, 3))


def test_wiou_wbce_is_refused_for_multiclass_masks(multiclass_nets, nets):
    with pytest.raises(ValueError, match="image_objective 'wiou-wbce'.*binary"):
        _sample(multiclass_nets, [1], image_objective="wiou-wbce")
    assert _sample(multiclass_nets, [1], image_objective="wiou-wbce", guidance_scale=0.0).masks.shape == (1, 16, 16)
    assert _sample(nets, [1], image_objective="wiou-wbce").masks.shape == (1, 16, 16)


def test_every_sample_records_the_guidance_strength_per_step_and_phase(nets):
    guided = _sample(nets, [5, 6, 7], batch_size=2)
    unguided = _sample(nets, [5, 6, 7], batch_size=2, guidance_scale=0.0)
    for out in (guided, unguided):
        assert set(out.guidance) == {"mask", "image"}
        for phase in out.guidance.values():
            assert len(phase["t"]) == len(phase["ratio"]) == SAMPLING["steps"]
            assert phase["t"] == sorted(phase["t"], reverse=True)
    assert all(r == 0 for phase in unguided.guidance.values() for r in phase["ratio"])
    assert all(r > 0 for phase in guided.guidance.values() for r in phase["ratio"])
    # the record of 3 pairs in batches of 2 is the pair-weighted mean of its batches
    first, last = _sample(nets, [5, 6], batch_size=2), _sample(nets, [7], batch_size=2)
    for phase in ("mask", "image"):
        weighted = [(2 * a + b) / 3 for a, b in zip(first.guidance[phase]["ratio"], last.guidance[phase]["ratio"])]
        assert guided.guidance[phase]["ratio"] == pytest.approx(weighted, rel=1e-6)


def test_sum_reduction_guides_the_image_phase_harder_and_keeps_the_mask_phase(nets):
    mean = _sample(nets, [5, 6])
    total = _sample(nets, [5, 6], guidance_reduction="sum")
    assert torch.equal(mean.masks, total.masks)  # the mask phase has no pixel objective
    assert mean.guidance["mask"]["ratio"] == total.guidance["mask"]["ratio"]
    assert sum(total.guidance["image"]["ratio"]) > sum(mean.guidance["image"]["ratio"])
    assert not torch.allclose(mean.images, total.images)


def test_a_large_guidance_scale_stays_finite_and_in_range(nets):
    sampler = _pipeline(*nets)
    x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    mode = torch.ones(2, dtype=torch.long)
    mask = torch.zeros(2, 1, 16, 16)
    mask[:, :, 4:12, 4:12] = 1
    guidance = SegmenterGuidance(nets[1], "image", mask=mask, tau=1 / 3, scale=300.0, reduction="sum")
    trace: dict[str, list] = {}
    with torch.no_grad():
        out = sampler._denoise(
            x, sampler._eps_fn(mode, mask, 1.0), guidance, SamplingConfig(solver_order=2, steps=6), trace=trace
        )
    assert torch.isfinite(out).all() and max(trace["ratio"]) > 1  # guidance dominates ε, yet x̂₀ stays thresholded
    assert out.abs().max() <= 1.05
