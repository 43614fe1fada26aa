"""The forward process every diffusion stage shares, and the DPM-Solver++ solver that reverses it."""

from __future__ import annotations

from typing import Any

import torch
from diffusers import DDPMScheduler, DPMSolverMultistepScheduler

NOISE_SCHEDULE: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 1e-4,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "prediction_type": "epsilon",
}
"""The forward process shared by every stage (paper §2; released code: linear β, T = 1000, ε-prediction)."""


def training_schedule(prediction: str) -> dict[str, Any]:
    """:data:`NOISE_SCHEDULE` for a denoiser that predicts ``prediction`` (saved in its stage folder)."""
    return {**NOISE_SCHEDULE, "prediction_type": prediction}


def to_epsilon(
    output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor | int, alphas_cumprod: torch.Tensor, prediction: str
) -> torch.Tensor:
    """The noise ε that a denoiser's ``output`` at ``(x_t, t)`` stands for: itself for ε-prediction, and
    α_t·v + σ_t·x_t for v = α_t ε − σ_t x₀ (α_t = √ᾱ_t, σ_t = √(1 − ᾱ_t), x_t = α_t x₀ + σ_t ε), so that
    guidance and classifier-free weighting work in ε whatever the network predicts."""
    if prediction == "epsilon":
        return output
    a = alphas_cumprod.to(x_t.device)[torch.as_tensor(t, device=x_t.device).long()].to(x_t.dtype)
    a = a.reshape(-1, *([1] * (x_t.ndim - 1))) if a.ndim else a
    return a.sqrt() * output + (1 - a).sqrt() * x_t


def noise_scheduler(config: dict[str, Any] | None = None) -> DDPMScheduler:
    """The DDPM scheduler whose ``add_noise`` noises training samples (default: :data:`NOISE_SCHEDULE`)."""
    return DDPMScheduler.from_config(dict(config or NOISE_SCHEDULE))


def dpm_solver(
    scheduler_config: dict[str, Any], solver_order: int, dynamic_thresholding: bool, thresholding_ratio: float = 0.995
) -> DPMSolverMultistepScheduler:
    """A fresh DPM-Solver++ multistep solver for the forward process ``scheduler_config``.

    It keeps a history of model outputs: one instance serves one sampling loop. Dynamic thresholding follows
    Imagen / DPM-Solver (s = max(1, quantile)); diffusers' default ``sample_max_value=1`` would reduce it to plain
    clipping, so it is set to infinity.
    """
    return DPMSolverMultistepScheduler.from_config(
        scheduler_config,
        algorithm_type="dpmsolver++",
        solver_order=solver_order,
        thresholding=dynamic_thresholding,
        dynamic_thresholding_ratio=thresholding_ratio,
        sample_max_value=float("inf"),
    )
