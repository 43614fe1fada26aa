"""The forward process every diffusion stage shares, and the DPM-Solver++ solver that reverses it."""

from __future__ import annotations

from typing import Any

from diffusers import DDPMScheduler, DPMSolverMultistepScheduler

NOISE_SCHEDULE: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 1e-4,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "prediction_type": "epsilon",
}
"""The forward process shared by every stage (paper §2; released code: linear β, T = 1000, ε-prediction)."""


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
