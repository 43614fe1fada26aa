"""The knobs the diffusion methods share (network, training budget, solver), their one default, their per-preset
values and their range checks. Imports no torch, so that a bad value is refused before any heavy import."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from bench.config import ConfigError

SOLVER_ORDERS = (1, 2, 3)
"""The DPM-Solver++ multistep orders diffusers implements."""
PREDICTIONS = ("epsilon", "v_prediction", "edm")
"""What the denoiser predicts: the noise ε (paper), v = α_t ε − σ_t x₀ (Salimans & Ho 2022; diffusers' names), or
EDM's preconditioned denoiser with its log-normal σ and loss weight (Karras et al. 2022; see
:mod:`methods.diffusion.schedule`)."""
RECIPE = ("augment_p", "prediction")
"""The training-recipe knobs that a denoiser stage's key covers besides the ``denoiser_*`` ones."""


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
    if not 0 <= o.augment_p <= 1:
        problems.append(f"augment_p must be in [0, 1], got {o.augment_p}")
    if o.prediction not in PREDICTIONS:
        problems.append(f"prediction must be one of {PREDICTIONS}, got {o.prediction!r}")
    if not 0 <= o.denoiser_dropout < 1:
        problems.append(f"denoiser_dropout must be in [0, 1), got {o.denoiser_dropout}")
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
        augment_p: non-leaking augmentation, the probability of each warp of a training sample
            (:mod:`methods.diffusion.augment`; 0: none, the paper; EDM uses 0.12-0.15 on small sets).
        prediction: ``"epsilon"`` (paper), ``"v_prediction"`` or ``"edm"`` (EDM's preconditioning, σ distribution
            and loss weight; ``snr_gamma`` then does not apply); guidance and solvers work in ε in every case.
        denoiser_dropout: dropout in the UNet's residual blocks (0: none, the paper; 0.1-0.3 against
            over-fitting a few dozen images).
        pretrained: a ``bench pretrain`` folder to fine-tune from within ``denoiser_steps`` (None: from scratch;
            :mod:`methods.diffusion.pretrained`).
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
    augment_p: float = 0.0
    prediction: str = "epsilon"
    denoiser_dropout: float = 0.0
    pretrained: str | None = None

    NAME: ClassVar[str] = "denoiser"
    """What the options belong to, for messages."""
    KEYED_ONLY_IF_NOT: ClassVar[dict[str, Any]] = {
        "augment_p": 0.0,
        "prediction": "epsilon",
        "denoiser_dropout": 0.0,
        "pretrained": None,
    }
    """The recipe knobs, out of run and stage keys at the values that train as before they existed."""
    KEPT_FROM_PRETRAINING: ClassVar[tuple[str, ...]] = ()
    PRETRAINED_RECIPE: ClassVar[dict[str, Any]] = {}
    """The options a run fine-tuning from a ``bench pretrain`` folder takes (:mod:`methods.diffusion.recipe`): those
    kept as pretrained, then these. None for ``joint``: its measured start samples as the preset does, with dynamic
    thresholding: without it more of its images copy a training image (8-20 % against 3-7 % at 14 pairs;
    reports/montgomery-recipe/, fourth round)."""

    TUPLES: ClassVar[tuple[str, ...]] = ("denoiser_widths", "denoiser_attention")
    """The list options, made tuples of ints however they were given."""

    def __post_init__(self) -> None:
        for name in self.TUPLES:
            object.__setattr__(self, name, int_tuple(getattr(self, name)))
        problems = self.problems()
        if problems:
            raise ConfigError(f"{self.NAME} options: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """What is out of range, one message per problem (a subclass adds its own knobs' to these)."""
        return denoiser_problems(self) + solver_problems(self.solver_order, self.sampling_steps, "sampling_steps")


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
    # Demo at 64 x 64 on two CPU cores: a small network predicting v, trained 800 steps with Min-SNR-5 weighting
    # (v over ε: DiffuseExpand's stage-IV pass rate 0.48-0.82 -> 0.96-1.00 on Montgomery; at these seconds the
    # network is short of steps, not of width). The measurements: reports/preset-choices.md.
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
        "prediction": "v_prediction",
        "solver_order": 3,
        "sampling_steps": 15,
        "sample_batch": 25,
        "checkpoint_every": 100,
    },
    # One GPU at 64 x 64: the cpu preset's recipe on a UNet 25 times larger (19 M parameters) trained on 5 times
    # more samples; 0.13 s a step with three runs on one H200. Such a network can learn a few images by heart, so
    # read the run's memorised share (reports/preset-choices.md).
    "gpu": {
        "denoiser_widths": (64, 128, 128, 256),
        "denoiser_layers": 2,
        "denoiser_attention": (16, 8),
        "denoiser_head_dim": 32,
        "denoiser_resblock_updown": False,
        "denoiser_steps": 2000,
        "denoiser_batch": 32,
        "denoiser_lr": 3e-4,
        "ema_decay": 0.999,
        "snr_gamma": 5.0,
        "prediction": "v_prediction",
        "solver_order": 3,
        "sampling_steps": 15,
        "sample_batch": 60,
        "checkpoint_every": 500,
    },
    # Paper scale (256 x 256) on a GPU: the field defaults.
    "paper": {},
}
"""Per-preset values of the :class:`DenoiserOptions` knobs, the budget every diffusion method trains with."""


@dataclass(frozen=True)
class JointOptions(DenoiserOptions):
    """Knobs of joint diffusion (``methods.joint``): the diffusion methods' shared network, budget and solver
    knobs, with their defaults: ``denoiser_*`` (the UNet and its AdamW budget), ``ema_decay``, ``snr_gamma``
    (Min-SNR-γ weighting), ``solver_order``, ``sampling_steps`` (one loop per pair here, two in DiffuseExpand),
    ``dynamic_thresholding``, ``sample_batch``, ``checkpoint_every``, ``grad_accumulation``, ``mixed_precision``,
    ``pretrained``. Defined here, with no torch import, so that a bad value is refused at once.
    """

    NAME: ClassVar[str] = "joint"
