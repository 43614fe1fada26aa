"""The forward process every diffusion stage shares, what a denoiser of each parametrisation is given and stands
for on it, and the DPM-Solver++ solver that reverses it.

Three parametrisations share the one variance-preserving forward process x_t = α_t x₀ + σ_t ε (α_t = √ᾱ_t,
σ_t = √(1 − ᾱ_t)): the network predicts ε (paper), v = α_t ε − σ_t x₀ (Salimans & Ho 2022), or is EDM's
preconditioned denoiser (Karras et al. 2022, ``"edm"``). EDM writes the same process as x = x₀ + σ ε with
x = x_t / α_t and σ = σ_t / α_t, and the network F sees c_in·x and c_noise = ln(σ)/4 and outputs
D(x; σ) = c_skip·x + c_out·F. Every output is turned into ε (:func:`to_epsilon`), so guidance, classifier-free
weighting and the DPM-Solver++ of the VP timesteps serve all three: for EDM this solver steps EDM's own
probability-flow ODE, written in x_t.
"""

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


EDM_SIGMA_DATA = 0.5
"""EDM's σ_data, the data's standard deviation its preconditioning assumes (its value for images in [-1, 1])."""
EDM_LOG_SIGMA = (-1.2, 1.2)
"""Mean and standard deviation of ln σ in EDM's training noise distribution (P_mean, P_std)."""


def edm_coefficients(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """EDM's preconditioning at noise level σ (any shape): ``(c_skip, c_out, c_in, c_noise)``."""
    sd2, s2 = EDM_SIGMA_DATA**2, sigma**2
    return sd2 / (s2 + sd2), sigma * EDM_SIGMA_DATA / (s2 + sd2).sqrt(), 1 / (s2 + sd2).sqrt(), sigma.log() / 4


def _alpha_bar(x_t: torch.Tensor, t: torch.Tensor | int, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """ᾱ at the timestep(s) ``t``, shaped to broadcast over ``x_t`` (a scalar for a solver's scalar timestep)."""
    a = alphas_cumprod.to(x_t.device)[torch.as_tensor(t, device=x_t.device).long()].to(x_t.dtype)
    return a.reshape(-1, *([1] * (x_t.ndim - 1))) if a.ndim else a


def _edm_sigma(a: torch.Tensor) -> torch.Tensor:
    """EDM's σ = σ_t / α_t of a VP timestep's ᾱ."""
    return ((1 - a) / a).sqrt()


def model_input(
    x_t: torch.Tensor, t: torch.Tensor | int, alphas_cumprod: torch.Tensor, prediction: str
) -> tuple[torch.Tensor, torch.Tensor | int]:
    """What a denoiser that predicts ``prediction`` is given at ``(x_t, t)``: ``(x_t, t)`` itself for ε and v; for
    EDM, c_in·x = x_t / √(1 − ᾱ_t + ᾱ_t σ_data²) and c_noise = ln(σ)/4, one per sample."""
    if prediction != "edm":
        return x_t, t
    a = _alpha_bar(x_t, t, alphas_cumprod)
    sigma = _edm_sigma(a)
    _, _, c_in, c_noise = edm_coefficients(sigma)
    return c_in * (x_t / a.sqrt()), c_noise.flatten() if c_noise.ndim else c_noise


def training_schedule(prediction: str) -> dict[str, Any]:
    """:data:`NOISE_SCHEDULE` for a denoiser that predicts ``prediction`` (saved in its stage folder)."""
    return {**NOISE_SCHEDULE, "prediction_type": prediction}


def to_epsilon(
    output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor | int, alphas_cumprod: torch.Tensor, prediction: str
) -> torch.Tensor:
    """The noise ε that a denoiser's ``output`` at ``(x_t, t)`` stands for: itself for ε-prediction,
    α_t·v + σ_t·x_t for v = α_t ε − σ_t x₀, and (x − D)/σ for EDM's D = c_skip·x + c_out·F (x = x_t/α_t), so that
    guidance and classifier-free weighting work in ε whatever the network predicts."""
    if prediction == "epsilon":
        return output
    a = _alpha_bar(x_t, t, alphas_cumprod)
    if prediction == "edm":
        x, sigma = x_t / a.sqrt(), _edm_sigma(a)
        c_skip, c_out, _, _ = edm_coefficients(sigma)
        return (x - (c_skip * x + c_out * output)) / sigma
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
