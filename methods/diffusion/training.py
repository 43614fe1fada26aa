"""The stage-I training recipe of the diffusion methods: q-sampled batches, the (Min-SNR-γ weighted) ε or v loss or
EDM's preconditioned loss, and AdamW decaying linearly to 0 with EMA and resumable checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from diffusers.training_utils import compute_snr

from bench.generator_training import BatchLoss, StepCallback, TrainLog, train_loop
from methods.diffusion.schedule import EDM_LOG_SIGMA, edm_coefficients


def draw_batch(
    x0: torch.Tensor,
    batch_size: int,
    scheduler: DDPMScheduler,
    generator: torch.Generator,
    prediction: str = "epsilon",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random batch indices into ``x0``, noise levels and noise: ``(index, t, noise)`` on ``x0``'s device.

    ``t`` holds timesteps drawn uniformly, or for ``prediction="edm"`` EDM's σ, log-normal (:data:`EDM_LOG_SIGMA`).
    The draws (batch indices, then t, then ε) come from ``generator``, a training loop's CPU generator.
    """
    index = torch.randint(0, x0.shape[0], (batch_size,), generator=generator).to(x0.device)
    if prediction == "edm":
        mean, std = EDM_LOG_SIGMA
        t = (mean + std * torch.randn(batch_size, generator=generator)).exp().to(x0.device)
    else:
        t = torch.randint(0, scheduler.config.num_train_timesteps, (batch_size,), generator=generator).to(x0.device)
    noise = torch.randn((batch_size, *x0.shape[1:]), generator=generator).to(x0.device)
    return index, t, noise


def _per_sample(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, *([1] * (like.ndim - 1))).to(like.dtype)


def noised_input(
    x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, scheduler: DDPMScheduler, prediction: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """What the network is given for ``x0`` noised by ``noise`` at :func:`draw_batch`'s ``t``: x_t and t (ε, v),
    or EDM's c_in·(x₀ + σε) and c_noise."""
    if prediction != "edm":
        return scheduler.add_noise(x0, noise, t), t
    sigma = _per_sample(t, x0)
    _, _, c_in, c_noise = edm_coefficients(sigma)
    return c_in * (x0 + sigma * noise), c_noise.flatten()


def noised_batch(
    x0: torch.Tensor, batch_size: int, scheduler: DDPMScheduler, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random batch of ``x0`` q-sampled at random timesteps: ``(index, t, noise, x_t)`` (see :func:`draw_batch`)."""
    index, t, noise = draw_batch(x0, batch_size, scheduler, generator)
    return index, t, noise, scheduler.add_noise(x0[index], noise, t)


def epsilon_loss(
    eps: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, scheduler: DDPMScheduler, snr_gamma: float
) -> torch.Tensor:
    """Mean ‖ε̂ − ε‖² over a batch; with ``snr_gamma > 0`` each sample is weighted by min(SNR_t, γ) / SNR_t
    (Min-SNR-γ, Hang et al. 2023; diffusers ``compute_snr``), which converges faster than the plain MSE."""
    if snr_gamma <= 0:
        return F.mse_loss(eps.float(), noise)
    snr = compute_snr(scheduler, t)
    weight = snr.clamp(max=snr_gamma) / snr
    return (weight * F.mse_loss(eps.float(), noise, reduction="none").flatten(1).mean(1)).mean()


def denoising_loss(
    output: torch.Tensor,
    x0: torch.Tensor,
    noise: torch.Tensor,
    t: torch.Tensor,
    scheduler: DDPMScheduler,
    snr_gamma: float,
    prediction: str,
) -> torch.Tensor:
    """The loss of a denoiser that predicts ``prediction``: :func:`epsilon_loss` for ε; for v, the mean
    ‖v̂ − v‖² with v = α_t ε − σ_t x₀, weighted by min(SNR_t, γ) / (SNR_t + 1) when ``snr_gamma > 0`` (the
    Min-SNR-γ weight in v, Hang et al. 2023, §3.4); for EDM (``t`` = σ), EDM's λ(σ)·‖D − x₀‖² with
    λ = 1/c_out², which is the plain ‖F − (x₀ − c_skip·x)/c_out‖² of the network's output F (``snr_gamma``
    does not apply: λ is EDM's weighting)."""
    if prediction == "epsilon":
        return epsilon_loss(output, noise, t, scheduler, snr_gamma)
    if prediction == "edm":
        sigma = _per_sample(t, x0)
        c_skip, c_out, _, _ = edm_coefficients(sigma)
        target = (x0 - c_skip * (x0 + sigma * noise)) / c_out
        return F.mse_loss(output.float(), target.float())
    target = scheduler.get_velocity(x0, noise, t)
    per_sample = F.mse_loss(output.float(), target.float(), reduction="none").flatten(1).mean(1)
    if snr_gamma <= 0:
        return per_sample.mean()
    snr = compute_snr(scheduler, t)
    return (snr.clamp(max=snr_gamma) / (snr + 1) * per_sample).mean()


def train_denoiser(
    model: torch.nn.Module,
    loss: BatchLoss,
    o: Any,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    checkpoint_dir: Path | None = None,
    callback: StepCallback | None = None,
) -> TrainLog:
    """The stage-I recipe: :func:`bench.generator_training.train_loop` with AdamW decaying linearly to 0 over
    ``o.denoiser_steps`` from ``o.denoiser_lr``, the options' EMA, precision, accumulation and checkpoints.

    Args:
        model: the denoiser; left in eval mode with its EMA weights.
        loss: one micro-batch's loss (e.g. built on :func:`noised_batch` and :func:`epsilon_loss`).
        o: options with the :class:`DenoiserOptions` fields.
        seed, device, checkpoint_dir, callback: see :func:`bench.generator_training.train_loop`.
    """
    return train_loop(
        model,
        loss,
        steps=o.denoiser_steps,
        lr=o.denoiser_lr,
        seed=seed,
        device=device,
        lr_schedule="linear",
        ema_decay=o.ema_decay,
        mixed_precision=o.mixed_precision,
        grad_accumulation=o.grad_accumulation,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=o.checkpoint_every,
        callback=callback,
    )
