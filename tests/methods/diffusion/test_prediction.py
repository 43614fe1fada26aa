"""v-prediction and EDM preconditioning: x₀ ↔ ε ↔ v ↔ F round trips, their losses, and that guidance still works
in ε."""

import pytest
import torch

from methods.diffuseexpand.guidance import SegmenterGuidance, make_guided_eps_fn
from methods.diffuseexpand.networks import MODE_IMAGE, build_denoiser, build_segmenter
from methods.diffuseexpand.options import DiffuseExpandOptions
from methods.diffuseexpand.sampler import PairSampler
from methods.diffuseexpand.sampling_config import SamplingConfig
from methods.diffusion.schedule import (
    NOISE_SCHEDULE,
    edm_coefficients,
    model_input,
    noise_scheduler,
    to_epsilon,
    training_schedule,
)
from methods.diffusion.training import denoising_loss, draw_batch, epsilon_loss, noised_input

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


def _guided_setup(prediction):
    """A tiny denoiser and segmenter in a sampler for ``prediction``, image mode and a square mask for 2 samples."""
    o = DiffuseExpandOptions(**TINY, **TINY_SEGMENTER)
    denoiser, segmenter = build_denoiser(o, 16, 1, seed=1).eval(), build_segmenter(o, 16, 1, seed=2).eval()
    sampler = PairSampler(
        denoiser,
        segmenter,
        scheduler_config=training_schedule(prediction),
        mixed_precision=False,
    )
    cond = torch.zeros(2, 1, 16, 16)
    cond[:, :, 4:12, 4:12] = 1
    return sampler, torch.full((2,), MODE_IMAGE), cond


def test_a_v_denoisers_output_is_turned_into_epsilon_before_guidance():
    v_sampler, mode, cond = _guided_setup("v_prediction")
    denoiser, segmenter = v_sampler.denoiser, v_sampler.segmenter
    x, t = torch.randn(2, 1, 16, 16), torch.tensor(600)
    with torch.no_grad():
        out = denoiser(x, t, mode, cond)
        null = denoiser(x, t, mode, torch.zeros_like(cond))
    weighted = null + 3.0 * (out - null)
    a = noise_scheduler().alphas_cumprod[600]
    expected = a.sqrt() * weighted + (1 - a).sqrt() * x
    with torch.no_grad():
        got = v_sampler._eps_fn(mode, cond, 3.0)(x, t)
    assert torch.allclose(got, expected, atol=1e-5)
    eps_sampler = PairSampler(denoiser, segmenter, mixed_precision=False)
    with torch.no_grad():
        assert torch.allclose(eps_sampler._eps_fn(mode, cond, 3.0)(x, t), weighted, atol=1e-5)  # batched with null
    assert v_sampler.make_scheduler(2, True).config.prediction_type == "epsilon"  # the solver is given ε either way

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


def test_edm_round_trips_x0_epsilon_and_its_denoiser_output():
    scheduler = noise_scheduler(training_schedule("edm"))
    g = torch.Generator().manual_seed(2)
    x0, eps = torch.rand(5, 2, 8, 8, generator=g) * 2 - 1, torch.randn(5, 2, 8, 8, generator=g)
    t = torch.tensor([0, 1, 250, 700, 999])
    x_t = scheduler.add_noise(x0, eps, t)
    a = scheduler.alphas_cumprod[t].reshape(-1, 1, 1, 1)
    sigma = ((1 - a) / a).sqrt()  # EDM's σ: x = x_t / α = x₀ + σ ε
    c_skip, c_out, c_in, c_noise = edm_coefficients(sigma)
    assert torch.allclose(c_skip, 0.25 / (sigma**2 + 0.25)) and torch.allclose(c_in, 1 / (sigma**2 + 0.25).sqrt())
    ideal = (x0 - c_skip * (x_t / a.sqrt())) / c_out  # the F whose D(x; σ) is x₀
    back = to_epsilon(ideal, x_t, t, scheduler.alphas_cumprod, "edm")
    assert torch.allclose(back, eps, atol=1e-5)
    assert torch.allclose((x_t - (1 - a).sqrt() * back) / a.sqrt(), x0, atol=1e-4)
    # v of the same x₀, ε and t, and back through ε to x₀
    v = scheduler.get_velocity(x0, eps, t)
    assert torch.allclose(to_epsilon(v, x_t, t, scheduler.alphas_cumprod, "v_prediction"), back, atol=1e-5)
    # what the network sees at sampling is what it saw in training at the same σ
    x_in, t_in = model_input(x_t, t, scheduler.alphas_cumprod, "edm")
    train_in, train_t = noised_input(x0, eps, sigma.flatten(), scheduler, "edm")
    assert torch.allclose(x_in, train_in, atol=1e-5) and torch.allclose(t_in, train_t, atol=1e-6)
    assert torch.allclose(t_in, sigma.flatten().log() / 4)
    assert model_input(x_t, t, scheduler.alphas_cumprod, "v_prediction") == (x_t, t)  # ε and v: untouched


def test_the_edm_loss_is_lambda_weighted_denoising_error_at_log_normal_sigma():
    scheduler = noise_scheduler(training_schedule("edm"))
    x0 = torch.rand(4096, 1, 2, 2) * 2 - 1
    _, sigma, noise = draw_batch(x0, 4096, scheduler, torch.Generator().manual_seed(3), "edm")
    assert (
        sigma.dtype == torch.float32 and abs(sigma.log().mean() + 1.2) < 0.06 and abs(sigma.log().std() - 1.2) < 0.06
    )
    x0, sigma, noise = x0[:6], sigma[:6], noise[:6]
    out = torch.randn_like(x0)
    s = sigma.reshape(-1, 1, 1, 1)
    x = x0 + s * noise
    denoised = 0.25 / (s**2 + 0.25) * x + s * 0.5 / (s**2 + 0.25).sqrt() * out  # D = c_skip x + c_out F
    weight = (s**2 + 0.25) / (s * 0.5) ** 2  # EDM's λ(σ)
    expected = (weight * (denoised - x0) ** 2).mean()
    got = denoising_loss(out, x0, noise, sigma, scheduler, 5.0, "edm")  # snr_gamma does not apply
    assert torch.allclose(got, expected, rtol=1e-4)


def test_an_edm_denoisers_guided_epsilon_matches_a_hand_computation():
    sampler, mode, cond = _guided_setup("edm")
    denoiser, segmenter = sampler.denoiser, sampler.segmenter
    x, t = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(4)), torch.tensor(600)
    guidance = SegmenterGuidance(segmenter, "image", mask=cond, scale=0.1, reduction="sum")
    guided = make_guided_eps_fn(sampler._eps_fn(mode, cond, 3.0), guidance, sampler.alphas_cumprod)
    with torch.no_grad():
        got = guided(x, t)
    # by hand: EDM inputs at σ = σ_t / α_t, classifier-free weighting of F, ε = (x − D) / σ, then − s σ_t ∇ log p
    a = noise_scheduler().alphas_cumprod[600]
    sigma = ((1 - a) / a).sqrt()
    x_edm = x / a.sqrt()
    c_in = 1 / (sigma**2 + 0.25).sqrt()
    with torch.no_grad():
        f_c = denoiser(c_in * x_edm, sigma.log() / 4, mode, cond)
        f_u = denoiser(c_in * x_edm, sigma.log() / 4, mode, torch.zeros_like(cond))
    f = f_u + 3.0 * (f_c - f_u)
    d = 0.25 / (sigma**2 + 0.25) * x_edm + sigma * 0.5 / (sigma**2 + 0.25).sqrt() * f
    eps = (x_edm - d) / sigma
    with torch.enable_grad():
        xg = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(guidance.log_prob(xg, t).sum(), xg)
    expected = eps - 0.1 * (1 - a).sqrt() * grad
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(got, eps, atol=1e-3)  # the guidance term is not negligible here

    config = SamplingConfig(solver_order=2, steps=3, guidance_scale=0.1, guidance_reduction="sum")
    pairs = sampler(seeds=[1, 2], config=config, batch_size=2)
    assert torch.isfinite(pairs.images).all() and 0 <= pairs.images.min() <= pairs.images.max() <= 1
