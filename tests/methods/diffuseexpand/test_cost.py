"""Sampling cost: FLOP counts against hand counts, network calls against a real sampler run, the meta device."""

import dataclasses

import pytest
import torch
from diffusers.utils.torch_utils import randn_tensor
from torch import nn
from typer.testing import CliRunner

from bench.cli import app
from methods.diffuseexpand.cost import (
    RELEASED,
    SamplingConfig,
    flops_per_pair,
    guidance_flops,
    meta_networks,
    network_costs,
    network_flops,
    nfe,
)
from methods.diffuseexpand.guidance import SegmenterGuidance
from methods.diffuseexpand.networks import MODE_IMAGE, MODE_MASK, SegmenterOutput
from methods.diffuseexpand.options import DiffuseExpandOptions
from methods.diffuseexpand.sampler import PairSampler

# FlopCounterMode's convention: 2 FLOPs per multiply-add; biases and element-wise operations are not counted.
CONV = 2 * (8 * 8) * (3 * 3)  # Conv2d(1 -> 1, 3x3, padding 1) on 8x8: 9 multiply-adds per output pixel
LINEAR = 2 * 64 * 2  # Linear(64 -> 2)


class ToySegmenter(nn.Module):
    """Pixel logits from one convolution, mode logits from one linear layer on the flattened input."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.linear = nn.Linear(64, 2)

    def forward(self, x, t):
        return SegmenterOutput(self.conv(x), self.linear(x.flatten(1)))


def test_forward_flops_match_a_hand_count():
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    assert network_flops(net, torch.zeros(1, 1, 8, 8)) == 2 * (4 * 8 * 8) * 9 + 2 * (4 * 8 * 8) * 10


def test_guidance_flops_count_the_backward_to_the_input_only():
    seg, x, t = ToySegmenter(), torch.zeros(1, 1, 8, 8), torch.tensor(10)
    # mask phase: only g (the linear layer) is differentiated; its backward to the input costs its forward
    assert guidance_flops(seg, x, t) == CONV + LINEAR + LINEAR
    # image phase: the pixel logits too; no weight gradient is taken
    assert guidance_flops(seg, x, t, phase="image", mask=torch.ones(1, 1, 8, 8)) == 2 * (CONV + LINEAR)


def test_flops_per_pair_weighs_each_call():
    calls = nfe(RELEASED)["total"]
    assert calls == {"denoiser": 90, "segmenter_fwd": 60, "segmenter_bwd": 60}
    assert flops_per_pair(RELEASED, 10.0, 2.0, 3.0) == 90 * 10 + 60 * 2 + 60 * 3
    assert RELEASED.name == "o3-30s-g1-every1-cfg1x2" and RELEASED.cf_weight == 1  # released pairs, doubled cost
    assert SamplingConfig.from_options(DiffuseExpandOptions()) == SamplingConfig()


def _sample(nets, config: SamplingConfig, seeds: list[int]):
    sampler = PairSampler(*nets, mixed_precision=True)
    return sampler(seeds=seeds, config=config, batch_size=2)


CALLS = [  # configuration, (denoiser evaluations, segmenter forwards) per pair
    (SamplingConfig(steps=5, cf_weight=2.0), (15, 10)),  # released-like: the image phase's batch doubled
    (SamplingConfig(steps=5), (10, 10)),
    (SamplingConfig(steps=5, cf_double=True), (15, 10)),  # the released sampler: weight 1, both halves computed
    (SamplingConfig(steps=5, guidance_scale=0.0, cf_weight=2.0), (15, 0)),
    (SamplingConfig(steps=7, guidance_every=2), (14, 8)),  # fresh at steps 0, 2, 4, 6
    (SamplingConfig(steps=7, guidance_every=3, cf_weight=2.0), (21, 6)),  # 0, 3, 6
    (SamplingConfig(steps=7, guidance_until=0.5), (14, 8)),  # t = 999, 856, 714, 571
    (SamplingConfig(steps=7, guidance_every=2, guidance_until=0.5), (14, 4)),  # 999, 714
    (SamplingConfig(steps=5, guide_mask_phase=False), (10, 5)),
    (SamplingConfig(steps=5, guide_image_phase=False), (10, 5)),
    (SamplingConfig(solver_order=2, steps=7), (14, 14)),
]


@pytest.mark.parametrize("config,totals", CALLS, ids=[c.name for c, _ in CALLS])
def test_nfe_counts_the_calls_a_sampler_makes(nets, config, totals):
    denoiser, segmenter = nets
    counts = {p: {"denoiser": 0, "segmenter_fwd": 0, "segmenter_bwd": 0} for p in ("mask", "image")}
    phase = []

    def on_denoiser(module, args):
        phase[:] = ["mask" if bool((args[2] == MODE_MASK).all()) else "image"]
        counts[phase[0]]["denoiser"] += len(args[0])

    def on_backward(grad):
        counts[phase[0]]["segmenter_bwd"] += len(grad)

    def on_segmenter(module, args):
        counts[phase[0]]["segmenter_fwd"] += len(args[0])
        args[0].register_hook(on_backward)  # fires when a backward pass reaches the segmenter's input

    hooks = [denoiser.register_forward_pre_hook(on_denoiser), segmenter.register_forward_pre_hook(on_segmenter)]
    try:
        _sample(nets, config, [3, 4])
    finally:
        for hook in hooks:
            hook.remove()
    expected = nfe(config)
    for p in ("mask", "image"):
        assert {k: v / 2 for k, v in counts[p].items()} == expected[p], p  # samples counted, two pairs
    assert expected["total"] == {k: expected["mask"][k] + expected["image"][k] for k in expected["total"]}
    assert (expected["total"]["denoiser"], expected["total"]["segmenter_fwd"]) == totals


def test_default_options_reproduce_the_unthinned_sampler_bit_for_bit(nets):
    thinning = {"guidance_every": 1, "guidance_until": 0.0, "guide_mask_phase": True, "guide_image_phase": True}
    explicit = _sample(nets, SamplingConfig(steps=4, tau=0.5, guidance_reduction="mean", **thinning), [5, 6])
    implicit = _sample(
        nets, SamplingConfig(solver_order=3, steps=4, tau=0.5, guidance_scale=1.0, cf_weight=1.0), [5, 6]
    )
    images, masks = _reference(nets, [5, 6], steps=4, tau=0.5)
    for out in (explicit, implicit):
        assert torch.equal(out.images, images) and torch.equal(out.masks, masks)


def _reference(nets, seeds, steps, tau):
    """The two-phase loop as it was before guidance could be thinned: a fresh gradient at every step."""
    denoiser, segmenter = nets
    sampler = PairSampler(denoiser, segmenter, mixed_precision=True)
    alphas = sampler.make_scheduler(3, True).alphas_cumprod
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    noise = [randn_tensor((len(seeds), 1, 16, 16), generator=generators) for _ in range(2)]

    def loop(x, mode, cond, guidance):
        scheduler = sampler.make_scheduler(3, True)
        scheduler.set_timesteps(steps)
        modes = torch.full((len(seeds),), mode)
        for t in scheduler.timesteps:
            eps = denoiser(x, t, modes, cond).float() - (1 - alphas[t]).sqrt() * guidance.gradient(x, t)
            x = scheduler.step(eps, t, x).prev_sample
        return x

    mask = (loop(noise[0], MODE_MASK, None, SegmenterGuidance(segmenter, "mask", tau=tau)) > 0).float()
    image = loop(noise[1], MODE_IMAGE, mask, SegmenterGuidance(segmenter, "image", mask=mask, tau=tau))
    return (image / 2 + 0.5).clamp(0, 1), mask[:, 0].long()


def test_paper_preset_is_counted_on_the_meta_device():
    o = DiffuseExpandOptions()
    denoiser, segmenter = meta_networks(o, 256)
    x, t = torch.zeros(1, 1, 256, 256, device="meta"), torch.tensor(999, device="meta")
    flops = network_flops(denoiser, x, t, torch.zeros(1, dtype=torch.long, device="meta"), x)
    assert flops > 1e11 and guidance_flops(segmenter, x, t) > network_flops(segmenter, x, t) > 0
    assert all(p.is_meta for net in (denoiser, segmenter) for p in net.parameters())
    assert sum(p.numel() for p in denoiser.parameters()) > 5e8
    assert network_costs(o, 256)["denoiser"] == flops


def test_bench_speed_flops_only_prints_each_configuration_and_its_ratio():
    res = CliRunner().invoke(app, ["speed", "--preset", "smoke", "--flops-only"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    for text in ("released", "o3-30s-g1-every1-cfg1x2", "o2-4s-g1-every1-cfg1", "until0.5", "imageonly", "x released"):
        assert text in res.output
    assert "s/pair" not in res.output  # nothing timed
    res = CliRunner().invoke(app, ["speed", "--method", "synthmed", "--preset", "smoke", "--flops-only"])
    assert res.exit_code == 2 and "no FLOP accounting" in res.output


def test_doubling_the_classifier_free_batch_at_weight_1_costs_twice_and_changes_nothing(nets):
    config = SamplingConfig(steps=4, tau=0.5, guidance_scale=1.0, cf_weight=1.0)
    single = _sample(nets, config, [5, 6])
    doubled = _sample(nets, dataclasses.replace(config, cf_double=True), [5, 6])
    assert torch.equal(single.masks, doubled.masks)
    assert torch.allclose(single.images, doubled.images, atol=1e-4)
