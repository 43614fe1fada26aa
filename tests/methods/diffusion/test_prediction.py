"""v-prediction: x₀ ↔ ε ↔ v round trips, its loss, and that guidance still works in ε."""

import pytest
import torch

from methods.diffuseexpand.networks import MODE_IMAGE, build_denoiser, build_segmenter
from methods.diffuseexpand.options import DiffuseExpandOptions
from methods.diffuseexpand.sampler import PairSampler
from methods.diffuseexpand.sampling_config import SamplingConfig
from methods.diffusion.schedule import NOISE_SCHEDULE, noise_scheduler, to_epsilon, training_schedule
from methods.diffusion.training import denoising_loss, epsilon_loss

TINY = {"denoiser_widths": (8, 16), "denoiser_layers": 1, "denoiser_attention": (), "denoiser_head_dim": 8}
TINY_SEGMENTER = {"segmenter_widths": (8, 16), "segmenter_layers": 1}


def test_x0_epsilon_and_v_round_trip():
    scheduler = noise_scheduler(training_schedule("v_prediction"))
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.rand(5, 2, 8, 8, generator=g) * 2 - 1, torch.randn(5, 2, 8, 8, generator=g)
    t = torch.tensor([0, 1, 250, 700, 999])
    x_t = scheduler.add_noise(x0, eps, t)
    v = scheduler.get_velocity(x0, eps, t)
    back = to_epsilon(v, x_t, t, scheduler.alphas_cumprod, "v_prediction")
    assert torch.allclose(back, eps, atol=1e-5)
    a = scheduler.alphas_cumprod[t].reshape(-1, 1, 1, 1)
    assert torch.allclose((x_t - (1 - a).sqrt() * back) / a.sqrt(), x0, atol=1e-4)
    assert torch.allclose(a.sqrt() * back - (1 - a).sqrt() * x0, v, atol=1e-5)
    assert to_epsilon(v, x_t, t, scheduler.alphas_cumprod, "epsilon") is v
    one = to_epsilon(v[2:3], x_t[2:3], torch.tensor(250), scheduler.alphas_cumprod, "v_prediction")
    assert torch.allclose(one, eps[2:3], atol=1e-5)  # a solver's scalar timestep


def test_the_v_loss_is_the_min_snr_weighted_error_in_v():
    scheduler = noise_scheduler(training_schedule("v_prediction"))
    g = torch.Generator().manual_seed(1)
    x0, eps, out = (torch.randn(4, 1, 6, 6, generator=g) for _ in range(3))
    t = torch.tensor([5, 100, 400, 900])
    a = scheduler.alphas_cumprod[t]
    v = a.sqrt().reshape(-1, 1, 1, 1) * eps - (1 - a).sqrt().reshape(-1, 1, 1, 1) * x0
    per = ((out - v) ** 2).flatten(1).mean(1)
    assert torch.allclose(denoising_loss(out, x0, eps, t, scheduler, 0, "v_prediction"), per.mean())
    snr = a / (1 - a)
    weighted = (snr.clamp(max=5) / (snr + 1) * per).mean()
    assert torch.allclose(denoising_loss(out, x0, eps, t, scheduler, 5, "v_prediction"), weighted)
    assert torch.equal(
        denoising_loss(out, x0, eps, t, scheduler, 5, "epsilon"), epsilon_loss(out, eps, t, scheduler, 5)
    )


def test_a_v_denoisers_output_is_turned_into_epsilon_before_guidance():
    o = DiffuseExpandOptions(**TINY, **TINY_SEGMENTER)
    denoiser, segmenter = build_denoiser(o, 16, 1, seed=1).eval(), build_segmenter(o, 16, 1, seed=2).eval()
    v_sampler = PairSampler(
        denoiser,
        segmenter,
        scheduler_config=training_schedule("v_prediction"),
        dynamic_thresholding=True,
        mixed_precision=False,
    )
    x, t = torch.randn(2, 1, 16, 16), torch.tensor(600)
    mode = torch.full((2,), MODE_IMAGE)
    cond = torch.zeros(2, 1, 16, 16)
    cond[:, :, 4:12, 4:12] = 1
    with torch.no_grad():
        out = denoiser(x, t, mode, cond)
        null = denoiser(x, t, mode, torch.zeros_like(cond))
    weighted = null + 3.0 * (out - null)
    a = noise_scheduler().alphas_cumprod[600]
    expected = a.sqrt() * weighted + (1 - a).sqrt() * x
    with torch.no_grad():
        got = v_sampler._eps_fn(mode, cond, 3.0)(x, t)
    assert torch.allclose(got, expected, atol=1e-5)
    eps_sampler = PairSampler(denoiser, segmenter, dynamic_thresholding=True, mixed_precision=False)
    with torch.no_grad():
        assert torch.allclose(eps_sampler._eps_fn(mode, cond, 3.0)(x, t), weighted, atol=1e-5)  # batched with null
    assert v_sampler.make_scheduler(2).config.prediction_type == "epsilon"  # the solver is given ε either way

    config = SamplingConfig(solver_order=2, steps=3, guidance_scale=1.0, guidance_reduction="sum")
    pairs = v_sampler(seeds=[1, 2], config=config, batch_size=2)
    assert torch.isfinite(pairs.images).all() and 0 <= pairs.images.min() <= pairs.images.max() <= 1
    assert max(pairs.guidance["image"]["ratio"]) > 0


@pytest.mark.parametrize(
    ("options", "needle"), [({"prediction": "x0"}, "prediction"), ({"denoiser_dropout": 1.0}, "denoiser_dropout")]
)
def test_bad_recipe_values_are_refused(options, needle):
    with pytest.raises(ValueError, match=needle):
        DiffuseExpandOptions(**options)


def test_the_default_schedule_is_the_papers():
    assert training_schedule("epsilon") == NOISE_SCHEDULE
