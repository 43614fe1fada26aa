"""Stage III guidance: the segmenter's log-likelihood and the ε it adjusts (paper §3.4, Eq. 5, Lemma 3.3).

Classifier guidance adds ∇ₓ log p(y | x_t) to the score; for an ε-predictor this is

    ε̃(x_t, t) = ε(x_t, t) − s · σ_t · ∇ₓ log p_τ(y | x_t),     σ_t = sqrt(1 − ᾱ_t),

where p_τ is the segmenter's prediction with logits divided by the temperature τ and s is the gradient scale.
The two phases of a pair use (paper Eq. 5, Lemma 3.2, y1 and y2 dependent):

* mask phase: log p = log softmax(g_ω(x_t)/τ)[y1 = mask];
* image phase: log p = log p_τ(y2 = m | x_t) + log softmax(g_ω(x_t)/τ)[y1 = image], where the first term is
  ``image_objective``:

  - ``"likelihood"`` (default): the pixel log-likelihood of the conditioning mask m under sigmoid(f_ψ/τ),
    m·log σ(f/τ) + (1 − m)·log σ(−f/τ), the paper's p_ψ(y2 | x_t, y1). For K > 1 foreground classes it is the
    pixel log-likelihood of the label map under softmax(f_ψ/τ), which is the same quantity: two-class softmax
    logits (0, f) give the sigmoid formula;
  - ``"wiou-wbce"`` (released CGMH script): weighted soft IoU minus weighted BCE with pixel weight ω = 1 + 10m.
    Its foreground weighting has no one multi-class form, so it is refused for K > 1.

  ``reduction`` (:data:`~.sampling_config.GUIDANCE_REDUCTIONS`) says how the image objective spans the pixels.
  ``"sum"`` is the paper's log p(y2 | x_t, y1) of the whole mask under a pixel-wise segmenter (Eq. 5: the pixels
  are independent given x_t, so their log-likelihoods add up), the same quantity Dhariwal & Nichol's classifier
  guidance differentiates for
  one label. ``"mean"`` divides it by the pixel count H·W, as the released code's per-pixel normalised
  objectives did: its gradient is H·W times smaller (4,096 × at 64², 65,536 × at 256²), and at the sizes of the
  presets it moves ε by a few 10⁻⁴ of its norm, i.e. not at all. ``wiou-wbce`` under ``"sum"`` is its per-pixel
  value times H·W, so that both objectives keep one scale. The mode term log p(y1 | x_t) is one scalar per image
  either way (a classifier's log-probability, whose gradient already spreads over every pixel).

τ vs s (Lemma 3.3): s multiplies the gradient of log p at τ = 1, τ reshapes p itself; with 1/τ = s ≥ 1 the
s-gradient is the larger one when the target logit is large (close to the target) and the smaller one when
it is small. Fig. 2 of the paper compares the two; both are knobs here (``tau`` and ``scale``).

How strongly guidance acts is recorded per solver step (the ``trace`` of :func:`make_guided_eps_fn`): the mean of
‖s·σ_t·∇ₓ log p‖ / ‖ε‖ over a batch, the share of the predicted noise that guidance changes (0 where unguided).

Following k-diffusion's ``make_cond_model_fn``, :func:`make_guided_eps_fn` wraps any ε-predictor: the solver
never knows about guidance and the guidance never knows about the solver.

At the paper's sizes a segmenter forward + backward costs about 15 % of a denoiser call per solver step
(:mod:`.cost`), so :func:`guided_steps` can thin it out: recompute the gradient every k-th step only (reusing
the last one, at the current σ_t, in between) or guide only the high-noise part of the trajectory. Its defaults
recompute at every step.

Notes:
    Released code: the image-phase objective is multiplied by a decay λ_k from 1 to 0.5 over the 30 network
    calls, and the guidance scale doubles as the classifier-free weight; neither is part of the paper's method,
    so both are left out (the classifier-free weight is a separate knob of the sampler).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from methods.diffuseexpand.networks import MODE_IMAGE, MODE_MASK
from methods.diffuseexpand.sampling_config import GuidanceOptions, guidance_problems

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
PHASES = ("mask", "image")
FRESH, REUSE, OFF = "fresh", "reuse", "off"
"""What guidance does at a solver step (see :func:`guided_steps`)."""


def mode_log_prob(mode_logits: torch.Tensor, mode: int, tau: float = 1.0) -> torch.Tensor:
    """log p_τ(y1 = ``mode`` | x_t) from g_ω logits ``N x 2``; returns float ``N``."""
    return F.log_softmax(mode_logits.float() / tau, dim=1)[:, mode]


def _reduce(per_pixel: torch.Tensor, reduction: str) -> torch.Tensor:
    """``N x ...`` per-pixel values -> float ``N``: their sum, or their mean over the pixels."""
    return per_pixel.flatten(1).sum(1) if reduction == "sum" else per_pixel.flatten(1).mean(1)


def mask_log_likelihood(
    logits: torch.Tensor, mask: torch.Tensor, tau: float = 1.0, reduction: str = "mean"
) -> torch.Tensor:
    """Pixel log-likelihood of ``mask`` under sigmoid(logits / τ), or softmax(logits / τ) for class logits.

    Args:
        logits: float ``N x 1 x H x W`` pixel logits f_ψ, or ``N x (K+1) x H x W`` class logits.
        mask: ``N x 1 x H x W`` label map: {0, 1} for one logit, 0..K for class logits.
        tau: temperature.
        reduction: ``"sum"`` over the pixels (log p of the whole mask) or their ``"mean"``.

    Returns:
        float ``N``, the sum or mean over pixels of m·log σ(f/τ) + (1 − m)·log σ(−f/τ), or of
        log softmax(f/τ)[m] (≤ 0).
    """
    if logits.shape[1] > 1:
        return _reduce(F.log_softmax(logits.float() / tau, dim=1).gather(1, mask.long()), reduction)
    bce = F.binary_cross_entropy_with_logits(logits.float() / tau, mask.float(), reduction="none")
    return -_reduce(bce, reduction)


def weighted_iou_minus_bce(
    logits: torch.Tensor, mask: torch.Tensor, tau: float = 1.0, reduction: str = "mean"
) -> torch.Tensor:
    """The released image objective: weighted soft IoU − weighted BCE, pixel weight ω = 1 + 10m.

    Args and shapes as :func:`mask_log_likelihood` for one logit; ``"sum"`` multiplies the released (per-pixel
    normalised) value by the pixel count H·W. Returns float ``N``.

    Raises:
        ValueError: for class logits (multi-class masks).
    """
    if logits.shape[1] > 1:
        raise ValueError(
            f"image_objective 'wiou-wbce' is defined for binary masks; the segmenter has {logits.shape[1]} class "
            "logits (multi-class masks): use 'likelihood'"
        )
    mask = mask.float()
    z = logits.float() / tau
    w = 1 + 10 * mask
    p = torch.sigmoid(z)
    inter = (p * mask * w).flatten(1).sum(1)
    union = ((p + mask) * w).flatten(1).sum(1) - inter
    wiou = (inter + 1) / (union + 1)
    wbce = (w * F.binary_cross_entropy_with_logits(z, mask, reduction="none")).flatten(1).sum(1) / w.flatten(1).sum(1)
    pixels = mask[0].numel() if reduction == "sum" else 1
    return (wiou - wbce) * pixels


@dataclass
class SegmenterGuidance:
    """log p_τ(y | x_t) of one sampling phase and its scaled gradient.

    Args:
        segmenter: a :class:`~methods.diffuseexpand.networks.NoisySegmenter` (or any ``(x_t, t)`` callable returning
            an object with ``logits`` ``N x 1 x H x W`` or ``N x (K+1) x H x W`` and ``mode_logits`` ``N x 2``), in
            eval mode.
        phase (`str`): ``"mask"`` (target y1 = mask) or ``"image"`` (targets y1 = image and y2 = ``mask``).
        mask (`torch.Tensor`, *optional*): ``N x 1 x H x W`` label map (0..K, {0, 1} when binary), the image
            phase's condition.
        tau (`float`, *optional*, defaults to 1.0): temperature dividing every logit (paper τ).
        scale (`float`, *optional*, defaults to 1.0): gradient scale s; 0 turns guidance off.
        image_objective (`str`, *optional*, defaults to ``"likelihood"``): see the module docstring.
        reduction (`str`, *optional*, defaults to ``"mean"``): how the image objective spans the pixels,
            ``"sum"`` (the paper's log p of the mask) or ``"mean"``; see the module docstring.
    """

    segmenter: Callable[[torch.Tensor, torch.Tensor], Any]
    phase: str
    mask: torch.Tensor | None = None
    tau: float = GuidanceOptions.tau
    scale: float = GuidanceOptions.guidance_scale
    image_objective: str = GuidanceOptions.image_objective
    reduction: str = GuidanceOptions.guidance_reduction

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {self.phase!r}")
        problems = guidance_problems(self.tau, self.image_objective, self.reduction)
        if problems:
            raise ValueError("; ".join(problems))
        if self.phase == "image" and self.mask is None:
            raise ValueError("the image phase needs the conditioning mask")

    def log_prob(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Per-sample log p_τ(y | x_t), float ``N``, differentiable in ``x_t``."""
        out = self.segmenter(x_t, t)
        if self.phase == "mask":
            return mode_log_prob(out.mode_logits, MODE_MASK, self.tau)
        objective = mask_log_likelihood if self.image_objective == "likelihood" else weighted_iou_minus_bce
        pixels = objective(out.logits, self.mask, self.tau, self.reduction)
        return pixels + mode_log_prob(out.mode_logits, MODE_IMAGE, self.tau)

    def gradient(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """s · ∇ₓ Σ log p_τ(y | x_t), float like ``x_t``; taken on a detached copy under ``enable_grad``."""
        with torch.enable_grad():
            x = x_t.detach().float().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.log_prob(x, t).sum(), x)
        return self.scale * grad.to(x_t.dtype)


def guided_steps(
    timesteps: Sequence[int], every: int = 1, until: float = 0.0, num_train_timesteps: int = 1000
) -> list[str]:
    """What guidance does at each solver step: :data:`FRESH` gradient, :data:`REUSE` the last one, or :data:`OFF`.

    The one rule of both the sampler and the cost accounting (:func:`.cost.nfe`), so that the counted segmenter
    calls are the ones made.

    Args:
        timesteps: the solver's timesteps, descending (``scheduler.timesteps``).
        every: a fresh gradient at steps ``0, every, 2·every, ...``; the steps in between reuse the last one.
        until: guide only while ``t >= until · num_train_timesteps`` (the high-noise start of the trajectory, a
            prefix of the steps, so the first guided step is always fresh); 0 guides every step.
        num_train_timesteps: T of the forward process.
    """
    return [
        OFF if int(t) < until * num_train_timesteps else FRESH if i % every == 0 else REUSE
        for i, t in enumerate(timesteps)
    ]


def guidance_ratio(eps: torch.Tensor, shift: torch.Tensor) -> float:
    """Mean over the batch of ‖shift‖ / ‖eps‖ per sample: how much of the predicted noise guidance changes."""
    norm = eps.detach().float().flatten(1).norm(dim=1).clamp_min(torch.finfo(torch.float32).tiny)
    return float((shift.detach().float().flatten(1).norm(dim=1) / norm).mean())


def make_guided_eps_fn(
    eps_fn: EpsFn,
    guidance: SegmenterGuidance | None,
    alphas_cumprod: torch.Tensor,
    steps: Sequence[str] | None = None,
    trace: list[float] | None = None,
) -> EpsFn:
    """Wrap an ε-predictor with classifier guidance: ε̃ = ε − s·σ_t·∇ₓ log p_τ(y | x_t).

    Args:
        eps_fn: ``(x_t, t) -> ε``, shapes ``N x C x H x W`` and scalar int ``t``.
        guidance: the phase's guidance; ``None`` or ``scale == 0`` returns ``eps_fn`` unchanged (unless ``trace``
            is given, which then gets a 0 per call).
        alphas_cumprod: ᾱ of the forward process (length T), from which σ_t = sqrt(1 − ᾱ_t).
        steps: for the n-th call of the returned function, ``steps[n]`` from :func:`guided_steps` (one call per
            solver step); ``None`` computes a fresh gradient at every call. A reused gradient s·∇ₓ log p is taken
            at the x_t of its own step and multiplied by the current step's σ_t.
        trace: if given, each call appends :func:`guidance_ratio` of its ε and guidance term (0 when unguided).
    """
    if guidance is None or guidance.scale == 0:
        if trace is None:
            return eps_fn

        def unguided(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            trace.append(0.0)
            return eps_fn(x_t, t)

        return unguided
    calls = 0
    grad = torch.empty(0)

    def guided(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        nonlocal calls, grad
        eps = eps_fn(x_t, t)
        step = FRESH if steps is None else steps[calls]
        calls += 1
        if step == OFF:
            if trace is not None:
                trace.append(0.0)
            return eps
        if step == FRESH:
            grad = guidance.gradient(x_t, t)
        sigma = (1 - alphas_cumprod.to(x_t.device)[t.long()]).sqrt().to(eps.dtype)
        sigma = sigma.reshape(-1, *[1] * (x_t.ndim - 1)) if sigma.ndim else sigma
        shift = sigma * grad.to(eps.dtype)
        if trace is not None:
            trace.append(guidance_ratio(eps, shift))
        return eps - shift

    return guided
