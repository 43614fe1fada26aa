"""Stage III guidance: sign, analytic values, τ vs s (Lemma 3.3), objectives."""

import math

import pytest
import torch
from torch import nn

from methods.diffuseexpand.guidance import (
    FRESH,
    OFF,
    REUSE,
    SegmenterGuidance,
    guided_steps,
    make_guided_eps_fn,
    mask_log_likelihood,
    weighted_iou_minus_bce,
)
from methods.diffuseexpand.networks import SegmenterOutput
from methods.diffusion.schedule import noise_scheduler


class ToySegmenter(nn.Module):
    """Pixel logits 3·x; mode logits [0, a·mean(x) + b] (index 1 = mask)."""

    def __init__(self, a: float = 1.0, b: float = 0.0) -> None:
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x, t):
        y = self.a * x.flatten(1).mean(1) + self.b
        return SegmenterOutput(3 * x[:, :1], torch.stack([torch.zeros_like(y), y], 1))


ALPHAS = noise_scheduler().alphas_cumprod
MASK = torch.zeros(2, 1, 8, 8)
MASK[:, :, 2:6, 2:6] = 1


def _zero_eps(x, t):
    return torch.zeros_like(x)


@pytest.mark.parametrize("phase,objective", [("mask", "likelihood"), ("image", "likelihood"), ("image", "wiou-wbce")])
def test_guided_step_raises_log_prob(phase, objective):
    guidance = SegmenterGuidance(
        ToySegmenter(), phase, mask=MASK if phase == "image" else None, tau=0.5, scale=1.0, image_objective=objective
    )
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.tensor(400)
    guided = make_guided_eps_fn(_zero_eps, guidance, ALPHAS)
    shift = _zero_eps(x, t) - guided(x, t)  # the data prediction moves along +shift (x̂₀ = (x − σ ε̃) / α)
    grad = guidance.gradient(x, t)
    assert (shift * grad).sum() > 0
    assert torch.all(guidance.log_prob(x + 0.05 * shift, t) > guidance.log_prob(x, t))


def test_guided_eps_matches_the_closed_form():
    a, tau, scale = 2.0, 0.5, 1.5
    x = torch.full((1, 1, 4, 4), 0.1)
    t = torch.tensor(250)
    guidance = SegmenterGuidance(ToySegmenter(a), "mask", tau=tau, scale=scale)
    eps = make_guided_eps_fn(_zero_eps, guidance, ALPHAS)(x, t)
    p_mask = 1 / (1 + math.exp(-a * 0.1 / tau))
    grad = (1 / tau) * (1 - p_mask) * a / 16  # d/dx_i of log softmax([0, a·mean(x)] / τ)[1]
    sigma = math.sqrt(1 - float(ALPHAS[250]))
    assert torch.allclose(eps, torch.full_like(x, -scale * sigma * grad), atol=1e-6)


def test_zero_scale_returns_the_plain_predictor():
    guidance = SegmenterGuidance(ToySegmenter(), "mask", scale=0.0)
    assert make_guided_eps_fn(_zero_eps, guidance, ALPHAS) is _zero_eps
    assert make_guided_eps_fn(_zero_eps, None, ALPHAS) is _zero_eps


@pytest.mark.parametrize("target_logit,s_larger", [(2.0, True), (-2.0, False)])
def test_tau_and_scale_paths_follow_lemma_3_3(target_logit, s_larger):
    s = 3.0
    x = torch.zeros(1, 1, 4, 4)
    toy = ToySegmenter(a=1.0, b=target_logit)  # target (mask) logit = target_logit, other logit 0
    t = torch.tensor(100)
    by_scale = SegmenterGuidance(toy, "mask", tau=1.0, scale=s).gradient(x, t).norm()
    by_tau = SegmenterGuidance(toy, "mask", tau=1 / s, scale=1.0).gradient(x, t).norm()
    assert (by_scale > by_tau) == s_larger
    assert not torch.isclose(by_scale, by_tau)


def test_image_objectives_prefer_the_conditioning_mask():
    good = torch.where(MASK > 0, 4.0, -4.0)
    bad = -good
    for objective in (mask_log_likelihood, weighted_iou_minus_bce):
        assert torch.all(objective(good, MASK) > objective(bad, MASK))
    manual = MASK * torch.nn.functional.logsigmoid(good) + (1 - MASK) * torch.nn.functional.logsigmoid(-good)
    assert torch.allclose(mask_log_likelihood(good, MASK), manual.flatten(1).mean(1))


def test_invalid_settings_raise():
    toy = ToySegmenter()
    with pytest.raises(ValueError, match="phase"):
        SegmenterGuidance(toy, "latent")
    with pytest.raises(ValueError, match="image_objective"):
        SegmenterGuidance(toy, "image", mask=MASK, image_objective="dice")
    with pytest.raises(ValueError, match="tau"):
        SegmenterGuidance(toy, "mask", tau=0.0)
    with pytest.raises(ValueError, match="mask"):
        SegmenterGuidance(toy, "image")


def test_guided_steps_thin_out_the_gradient():
    timesteps = [999, 856, 714, 571, 428, 285, 143]  # DPM-Solver++, 7 steps
    assert guided_steps(timesteps) == [FRESH] * 7
    assert guided_steps(timesteps, every=3) == [FRESH, REUSE, REUSE, FRESH, REUSE, REUSE, FRESH]
    assert guided_steps(timesteps, every=2, until=0.5) == [FRESH, REUSE, FRESH, REUSE, OFF, OFF, OFF]


def test_a_reused_gradient_is_the_last_fresh_one_at_the_current_sigma():
    guidance = SegmenterGuidance(ToySegmenter(2.0), "mask", scale=1.5)
    x0, x1 = torch.full((1, 1, 4, 4), 0.1), torch.full((1, 1, 4, 4), -0.3)
    t0, t1, t2 = torch.tensor(800), torch.tensor(400), torch.tensor(100)
    guided = make_guided_eps_fn(_zero_eps, guidance, ALPHAS, [FRESH, REUSE, OFF])
    grad = guidance.gradient(x0, t0)
    assert not torch.allclose(guidance.gradient(x1, t1), grad)
    assert torch.allclose(guided(x0, t0), -(1 - ALPHAS[t0]).sqrt() * grad)
    assert torch.allclose(guided(x1, t1), -(1 - ALPHAS[t1]).sqrt() * grad)
    assert torch.equal(guided(x1, t2), torch.zeros_like(x1))


def test_multiclass_likelihood_is_the_binary_one_at_two_classes():
    """Softmax over logits (0, f) is sigmoid(f): the K + 1 class formula at K = 1 is today's binary one."""
    f = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 3
    for tau in (1.0, 0.5):
        two = torch.cat([torch.zeros_like(f), f], 1)
        assert torch.allclose(mask_log_likelihood(two, MASK, tau), mask_log_likelihood(f, MASK, tau), atol=1e-6)


def test_multiclass_likelihood_and_guidance():
    labels = MASK.long().clone()
    labels[:, :, :, 4:] *= 2  # labels 0, 1, 2
    logits = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    manual = torch.log_softmax(logits / 0.5, 1).gather(1, labels).flatten(1).mean(1)
    assert torch.allclose(mask_log_likelihood(logits, labels.float(), 0.5), manual)
    good = 8.0 * torch.nn.functional.one_hot(labels[:, 0], 3).permute(0, 3, 1, 2).float()
    assert torch.all(mask_log_likelihood(good, labels) > mask_log_likelihood(good.roll(1, dims=1), labels))

    class ThreeClass(nn.Module):
        def forward(self, x, t):
            return SegmenterOutput(torch.cat([torch.zeros_like(x[:, :1]), 3 * x], 1), torch.zeros(len(x), 2))

    guidance = SegmenterGuidance(ThreeClass(), "image", mask=labels.float(), tau=0.5)
    x = torch.randn(2, 2, 8, 8, generator=torch.Generator().manual_seed(2))
    t = torch.tensor(400)
    assert torch.all(guidance.log_prob(x + 0.05 * guidance.gradient(x, t), t) > guidance.log_prob(x, t))


def test_wiou_wbce_is_refused_for_class_logits():
    with pytest.raises(ValueError, match="wiou-wbce.*binary"):
        weighted_iou_minus_bce(torch.zeros(2, 3, 8, 8), MASK)


class ConstantModeSegmenter(nn.Module):
    """Pixel logits 3·x; mode logits [0, 1] whatever x is, so that only the pixel term has a gradient."""

    def forward(self, x, t):
        return SegmenterOutput(3 * x[:, :1], torch.tensor([[0.0, 1.0]]).expand(len(x), 2))


def test_sum_reduction_is_the_log_likelihood_of_the_whole_mask():
    tau = 0.5
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    t = torch.tensor(300)
    grads = {
        r: SegmenterGuidance(ConstantModeSegmenter(), "image", mask=MASK, tau=tau, reduction=r).gradient(x, t)
        for r in ("mean", "sum")
    }
    # d/dx Σ_pixels [m·log σ(3x/τ) + (1 − m)·log σ(−3x/τ)] = (3/τ)·(m − σ(3x/τ)), pixel by pixel
    by_hand = (3 / tau) * (MASK - torch.sigmoid(3 * x / tau))
    assert torch.allclose(grads["sum"], by_hand, atol=1e-6)
    assert torch.allclose(grads["sum"], 64 * grads["mean"], atol=1e-6)  # H·W = 8·8
    values = {r: mask_log_likelihood(3 * x, MASK, tau, r) for r in ("mean", "sum")}
    assert torch.allclose(values["sum"], 64 * values["mean"], atol=1e-5)


def test_sum_reduction_scales_the_released_objective_by_the_pixel_count():
    logits = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    mean, total = (weighted_iou_minus_bce(logits, MASK, 0.5, r) for r in ("mean", "sum"))
    assert torch.allclose(total, 64 * mean, atol=1e-5)


def test_the_mode_term_is_the_same_under_either_reduction():
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    t = torch.tensor(500)
    mask_phase = [SegmenterGuidance(ToySegmenter(2.0), "mask", tau=0.5, reduction=r) for r in ("mean", "sum")]
    assert torch.equal(mask_phase[0].gradient(x, t), mask_phase[1].gradient(x, t))

    class ModeOnly(nn.Module):  # pixel logits constant in x: only the mode term log p(y1 = image | x) moves
        def forward(self, x, t):
            y = 2.0 * x.flatten(1).mean(1)
            return SegmenterOutput(torch.ones_like(x[:, :1]), torch.stack([y, torch.zeros_like(y)], 1))

    image_phase = [SegmenterGuidance(ModeOnly(), "image", mask=MASK, reduction=r) for r in ("mean", "sum")]
    assert torch.equal(image_phase[0].gradient(x, t), image_phase[1].gradient(x, t))
    assert image_phase[0].gradient(x, t).abs().sum() > 0


def test_an_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match="reduction"):
        SegmenterGuidance(ToySegmenter(), "image", mask=MASK, reduction="median")


def test_the_trace_records_the_share_of_eps_guidance_changes():
    guidance = SegmenterGuidance(ToySegmenter(), "image", mask=MASK, tau=0.5, scale=2.0, reduction="sum")
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    t = torch.tensor(600)

    def eps_fn(x_t, t):
        return torch.ones_like(x_t)

    trace: list[float] = []
    guided = make_guided_eps_fn(eps_fn, guidance, ALPHAS, [FRESH, OFF], trace)
    shift = eps_fn(x, t) - guided(x, t)
    guided(x, t)
    expected = float((shift.flatten(1).norm(dim=1) / 8).mean())  # ‖ε‖ = sqrt(64) = 8 per sample
    assert trace == [pytest.approx(expected, rel=1e-6), 0.0] and expected > 0

    unguided: list[float] = []
    plain = make_guided_eps_fn(eps_fn, None, ALPHAS, trace=unguided)
    assert torch.equal(plain(x, t), eps_fn(x, t)) and unguided == [0.0]
