"""What the diffusion methods share (DiffuseExpand and joint diffusion): the forward process, the UNet, the
DPM-Solver++ solver, the ε loss, the stage-I training recipe, the shared knobs and their per-preset budgets, and
sampling sharded over the processes of a run.

Each method builds its own networks and samplers from these pieces; none of them knows about a method.

* :data:`NOISE_SCHEDULE`: the forward process (T = 1000, linear β, ε-prediction), saved beside every trained
  denoiser as ``scheduler_config.json`` so that training, guidance and sampling use one process.
* :func:`unet_config`: an ADM-style diffusers ``UNet2DModel``; :func:`load_model` reads a stage folder back.
* :func:`dpm_solver`: diffusers' ``DPMSolverMultistepScheduler`` (``dpmsolver++``) with Imagen dynamic
  thresholding; one instance serves one sampling loop.
* :func:`noised_batch`, :func:`epsilon_loss` and :func:`train_denoiser`: q-sampling a random batch, the (Min-SNR-γ
  weighted) ε loss and the stage-I recipe (AdamW decaying linearly to 0, EMA, resumable checkpoints).
* :class:`DenoiserOptions` and :data:`DENOISER_PRESETS`: the knobs of that network, its budget and its solver,
  with their one default and their per-preset values.
* :func:`sample_pairs`: any per-seed pair sampler run over the processes of a run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from accelerate import PartialState
from accelerate.utils import gather_object
from diffusers import DDPMScheduler, DPMSolverMultistepScheduler
from diffusers.models.modeling_utils import ModelMixin
from diffusers.training_utils import compute_snr

from bench.config import ConfigError
from bench.training import BatchLoss, StepCallback, TrainLog, train_loop

NOISE_SCHEDULE: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 1e-4,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "prediction_type": "epsilon",
}
"""The forward process shared by every stage (paper §2; released code: linear β, T = 1000, ε-prediction)."""
SOLVER_ORDERS = (1, 2, 3)
"""The DPM-Solver++ multistep orders diffusers implements."""


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


def norm_groups(widths: Sequence[int]) -> int:
    """Largest group count <= 32 that divides every width (32 for the paper's widths)."""
    return math.gcd(32, *widths)


def unet_config(
    size: int,
    in_channels: int,
    out_channels: int,
    widths: Sequence[int],
    layers_per_block: int,
    attention_resolutions: Sequence[int] = (),
    head_dim: int = 64,
    mid_attention: bool = True,
    resblock_updown: bool = True,
    class_embedding: bool = True,
) -> dict[str, Any]:
    """Config of an ADM-style diffusers ``UNet2DModel`` (scale-shift norm, residual up/down-sampling).

    Args:
        size: input height = width; must be divisible by ``2 ** (len(widths) - 1)``.
        in_channels, out_channels: channel counts of input and output.
        widths: channel width per resolution level (ADM: ``width * channel_mult``).
        layers_per_block: residual blocks per level on the way down (one more on the way up, as in ADM).
        attention_resolutions: feature-map sizes (in pixels) whose blocks get self-attention.
        head_dim: channels per attention head (capped at the narrowest level).
        mid_attention: self-attention in the middle block.
        resblock_updown: down/up-sample with residual blocks (ADM ``resblock_updown``) instead of convolutions.
        class_embedding: accept a precomputed vector (``class_labels``) added to the time embedding.

    Raises:
        ValueError: if ``size`` cannot be halved ``len(widths) - 1`` times.
    """
    levels = len(widths)
    if size % 2 ** (levels - 1):
        raise ValueError(f"image size {size} is not divisible by 2**{levels - 1} (levels of widths {tuple(widths)})")
    attn = [size // 2**i in set(attention_resolutions) for i in range(levels)]
    plain_down = "ResnetDownsampleBlock2D" if resblock_updown else "DownBlock2D"
    plain_up = "ResnetUpsampleBlock2D" if resblock_updown else "UpBlock2D"
    return {
        "sample_size": size,
        "in_channels": in_channels,
        "out_channels": out_channels,
        "block_out_channels": tuple(widths),
        "layers_per_block": layers_per_block,
        "down_block_types": tuple("AttnDownBlock2D" if a else plain_down for a in attn),
        "up_block_types": tuple("AttnUpBlock2D" if a else plain_up for a in reversed(attn)),
        "downsample_type": "resnet" if resblock_updown else "conv",
        "upsample_type": "resnet" if resblock_updown else "conv",
        "attention_head_dim": min(head_dim, min(widths)),
        "norm_num_groups": norm_groups(widths),
        "resnet_time_scale_shift": "scale_shift",
        "add_attention": mid_attention,
        "class_embed_type": "identity" if class_embedding else None,
    }


def load_model(cls: type[ModelMixin], folder: Path, device: torch.device | str = "cpu") -> Any:
    """``cls.from_pretrained(folder)`` on ``device``, in eval mode, with every weight in freshly allocated memory.

    safetensors hands out tensors at unaligned offsets of the file, and CPU kernels take other code paths on
    unaligned data, so outputs would differ in the last bits from the model that was saved; a copy restores
    bit-identical results.
    """
    model = cls.from_pretrained(folder)
    with torch.no_grad():
        for param in model.parameters():
            param.data = param.data.clone()
    return model.to(device).eval()


def noised_batch(
    x0: torch.Tensor, batch_size: int, scheduler: DDPMScheduler, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random batch of ``x0`` q-sampled at random timesteps: ``(index, t, noise, x_t)`` on ``x0``'s device.

    The draws (batch indices, then t, then ε) come from ``generator``, a training loop's CPU generator.
    """
    index = torch.randint(0, x0.shape[0], (batch_size,), generator=generator).to(x0.device)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (batch_size,), generator=generator).to(x0.device)
    noise = torch.randn((batch_size, *x0.shape[1:]), generator=generator).to(x0.device)
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


def int_tuple(value: int | Sequence[int]) -> tuple[int, ...]:
    """A width or resolution list as a tuple of ints (one int is a one-level list)."""
    return (value,) if isinstance(value, int) else tuple(int(v) for v in value)


def denoiser_problems(o: Any) -> list[str]:
    """What is out of range among the stage-I network and budget knobs of ``o`` (any options object that has
    the :class:`DenoiserOptions` fields), one message per problem."""
    problems = []
    for name in ("denoiser_layers", "denoiser_steps", "denoiser_batch", "sample_batch", "grad_accumulation"):
        if getattr(o, name) < 1:
            problems.append(f"{name} must be >= 1, got {getattr(o, name)}")
    if not 0 <= o.ema_decay < 1:
        problems.append(f"ema_decay must be in [0, 1), got {o.ema_decay}")
    if o.snr_gamma < 0:
        problems.append(f"snr_gamma must be >= 0, got {o.snr_gamma}")
    return problems


def solver_problems(solver_order: int, steps: int, steps_name: str) -> list[str]:
    """What is out of range in a solver order and a step count (named ``steps_name`` in the message)."""
    problems = []
    if solver_order not in SOLVER_ORDERS:
        problems.append(f"solver_order must be 1, 2 or 3, got {solver_order}")
    if steps < 1:
        problems.append(f"{steps_name} must be >= 1, got {steps}")
    return problems


@dataclass(frozen=True)
class DenoiserOptions:
    """The knobs of a diffusion method's denoiser, its training budget and its solver; the defaults are
    DiffuseExpand's stage I (paper §4.1, or the released code where the paper is silent).

    Attributes:
        denoiser_widths, denoiser_layers, denoiser_attention, denoiser_head_dim, denoiser_resblock_updown: ADM
            UNet (width 256 x mult 1, 1, 2, 2, 4, 4; 2 residual blocks; attention at 32, 16, 8 px; 64-channel
            heads; residual down/up-sampling, which convolutions replace when False).
        denoiser_steps, denoiser_batch, denoiser_lr: 30k AdamW steps of 16 at 1e-4, decaying linearly to 0.
        ema_decay: EMA of the weights (0 disables; the released code had none).
        snr_gamma: Min-SNR-γ weighting of the loss (0: the paper's plain MSE).
        solver_order, sampling_steps: DPM-Solver++ 3M, 30 steps per sampling loop.
        dynamic_thresholding: Imagen dynamic thresholding (ratio 0.995) of every x̂₀.
        sample_batch: pairs sampled together.
        checkpoint_every: optimiser steps between resumable training checkpoints (0: none).
        grad_accumulation: micro-batches per optimiser step (``*_batch`` is the micro-batch of one process;
            under N processes the effective batch is N x batch x grad_accumulation).
        mixed_precision: bf16 autocast on CUDA.
    """

    denoiser_widths: tuple[int, ...] = (256, 256, 512, 512, 1024, 1024)
    denoiser_layers: int = 2
    denoiser_attention: tuple[int, ...] = (32, 16, 8)
    denoiser_head_dim: int = 64
    denoiser_resblock_updown: bool = True
    denoiser_steps: int = 30000
    denoiser_batch: int = 16
    denoiser_lr: float = 1e-4
    ema_decay: float = 0.9999
    snr_gamma: float = 0.0
    solver_order: int = 3
    sampling_steps: int = 30
    dynamic_thresholding: bool = True
    sample_batch: int = 16
    checkpoint_every: int = 1000
    grad_accumulation: int = 1
    mixed_precision: bool = True

    NAME: ClassVar[str] = "denoiser"
    """What the options belong to, for messages."""

    def __post_init__(self) -> None:
        for name in ("denoiser_widths", "denoiser_attention"):
            object.__setattr__(self, name, int_tuple(getattr(self, name)))
        problems = denoiser_problems(self) + solver_problems(self.solver_order, self.sampling_steps, "sampling_steps")
        if problems:
            raise ConfigError(f"{self.NAME} options: " + "; ".join(problems))


DENOISER_PRESETS: dict[str, dict[str, Any]] = {
    # Tests and CI at 32 x 32: a tiny network, tens of steps.
    "smoke": {
        "denoiser_widths": (16, 32),
        "denoiser_layers": 1,
        "denoiser_attention": (),
        "denoiser_head_dim": 16,
        "denoiser_steps": 30,
        "denoiser_batch": 8,
        "denoiser_lr": 1e-3,
        "ema_decay": 0.99,
        "solver_order": 2,
        "sampling_steps": 4,
        "sample_batch": 8,
        "checkpoint_every": 10,
    },
    # Demo at 64 x 64 on two CPU cores: a small network trained 800 steps with Min-SNR-5 weighting, measured on
    # DiffuseExpand's pairs (methods/diffuseexpand/options.py says how); DiffuseExpand samples with a cheaper
    # solver of its own (order 2, 10 steps) than this one.
    "cpu": {
        "denoiser_widths": (16, 32, 32, 64),
        "denoiser_layers": 1,
        "denoiser_attention": (),
        "denoiser_head_dim": 32,
        "denoiser_resblock_updown": False,
        "denoiser_steps": 800,
        "denoiser_batch": 16,
        "denoiser_lr": 1e-3,
        "ema_decay": 0.995,
        "snr_gamma": 5.0,
        "solver_order": 3,
        "sampling_steps": 15,
        "sample_batch": 25,
        "checkpoint_every": 100,
    },
    # Paper scale (256 x 256) on a GPU: the field defaults.
    "paper": {},
}
"""Per-preset values of the :class:`DenoiserOptions` knobs, the budget every diffusion method trains with."""


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


@dataclass
class SamplerOutput:
    """Generated pairs.

    Attributes:
        images: float ``N x C x H x W`` in [0, 1].
        masks: int64 ``N x H x W`` with labels 0..K ({0, 1} for binary masks).
        seeds: the seed of each pair.
        guidance: a guided sampler's per-step record, per phase ``{"t": [...], "ratio": [...]}`` (each solver
            step's timestep and a mean over the pairs, merged by :func:`merge_guidance`); empty when unguided.
    """

    images: torch.Tensor
    masks: torch.Tensor
    seeds: list[int]
    guidance: dict[str, dict[str, list]] = field(default_factory=dict)


def merge_guidance(parts: Sequence[tuple[int, dict[str, dict[str, list]]]]) -> dict[str, dict[str, list]]:
    """The guidance record of several batches, ``(pairs, record)`` each: per-step ratios weighted by pair count."""
    parts = [(n, g) for n, g in parts if g]
    if not parts:
        return {}
    total = sum(n for n, _ in parts)
    merged = {}
    for phase, first in parts[0][1].items():
        steps = len(first["ratio"])
        ratio = [sum(n * g[phase]["ratio"][i] for n, g in parts) / total for i in range(steps)]
        merged[phase] = {"t": list(first["t"]), "ratio": ratio}
    return merged


def sample_pairs(
    sampler: Callable[..., SamplerOutput],
    *,
    seeds: Sequence[int],
    batch_size: int,
    callback: Callable[[int], None] | None = None,
    masks: torch.Tensor | None = None,
    **kwargs: Any,
) -> SamplerOutput:
    """Run ``sampler`` over ``seeds`` on every process of the run and gather the pairs on each.

    Batch b (seeds ``b * batch_size`` ...) goes to process ``b mod N``; each process samples exactly the batches a
    single process would, so the gathered pairs, in seed order, are identical to a one-process run.

    Args:
        sampler: a pipeline called as ``sampler(seeds=..., batch_size=..., **kwargs)``.
        seeds: one seed per pair.
        batch_size: pairs per batch.
        callback: called on the main process after each batch with the (estimated) number of pairs finished by
            all processes so far.
        masks: one given label map per seed (``N x H x W``), passed to the sampler batch by batch.
    """
    state = PartialState()
    starts = list(range(0, len(seeds), batch_size))[state.process_index :: state.num_processes]
    done, finished = [], 0
    for start in starts:
        given = {} if masks is None else {"masks": masks[start : start + batch_size]}
        out = sampler(seeds=seeds[start : start + batch_size], batch_size=batch_size, **given, **kwargs)
        done.append((start, out.images, out.masks, out.guidance))
        finished += len(out.seeds) * state.num_processes
        if callback is not None and state.is_main_process:
            callback(min(finished, len(seeds)))
    gathered = sorted(gather_object(done), key=lambda item: item[0])
    return SamplerOutput(
        torch.cat([images for _, images, _, _ in gathered]),
        torch.cat([masks for _, _, masks, _ in gathered]),
        [int(s) for s in seeds],
        merge_guidance([(len(masks), guidance) for _, _, masks, guidance in gathered]),
    )
