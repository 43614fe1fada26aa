"""The stage-I training recipe of the diffusion methods: q-sampled batches, the (Min-SNR-γ weighted) ε or v loss,
and AdamW decaying linearly to 0 with EMA and resumable checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from diffusers.training_utils import compute_snr

from bench.training import BatchLoss, StepCallback, TrainLog, train_loop


def draw_batch(
    x0: torch.Tensor, batch_size: int, scheduler: DDPMScheduler, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random batch indices into ``x0``, timesteps and noise: ``(index, t, noise)`` on ``x0``'s device.

    The draws (batch indices, then t, then ε) come from ``generator``, a training loop's CPU generator.
    """
    index = torch.randint(0, x0.shape[0], (batch_size,), generator=generator).to(x0.device)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (batch_size,), generator=generator).to(x0.device)
    noise = torch.randn((batch_size, *x0.shape[1:]), generator=generator).to(x0.device)
    return index, t, noise


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
    Min-SNR-γ weight in v, Hang et al. 2023, §3.4)."""
    if prediction == "epsilon":
        return epsilon_loss(output, noise, t, scheduler, snr_gamma)
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
    """The stage-I recipe: :func:`bench.training.train_loop` with AdamW decaying linearly to 0 over
    ``o.denoiser_steps`` from ``o.denoiser_lr``, the options' EMA, precision, accumulation and checkpoints.

    Args:
        model: the denoiser; left in eval mode with its EMA weights.
        loss: one micro-batch's loss (e.g. built on :func:`noised_batch` and :func:`epsilon_loss`).
        o: options with the :class:`DenoiserOptions` fields.
        seed, device, checkpoint_dir, callback: see :func:`bench.training.train_loop`.
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
