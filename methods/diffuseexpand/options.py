"""DiffuseExpand's options, their per-preset overrides, and the checks a run request gets before any work.

Every knob has one default, on :class:`DiffuseExpandOptions` (the paper's value, or the released code's where the
paper is silent); :data:`PRESETS` names the overrides of the ``smoke``, ``cpu`` and ``paper`` presets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bench.config import MODEL_STRIDES, MODELS, ConfigError

CONDITIONING = ("embedding", "concat")
"""How the mask condition enters the denoiser (see :mod:`.networks`)."""
IMAGE_OBJECTIVES = ("likelihood", "wiou-wbce")
"""Image-phase guidance objectives (see :mod:`.guidance`)."""
GUIDANCE_REDUCTIONS = ("mean", "sum")
"""How an image objective spans the pixels: their mean (released code) or their sum (the paper's log p of the mask)."""
_TUPLES = ("denoiser_widths", "denoiser_attention", "segmenter_widths", "segmenter_attention")


@dataclass(frozen=True)
class DiffuseExpandOptions:
    """Knobs of DiffuseExpand; defaults are the paper's (§4.1) or, where it is silent, the released code's.

    Stage I (denoiser, §3.2):
        conditioning: ``"embedding"`` (paper: global mask vector) or ``"concat"`` (mask as an input channel).
        cfg_dropout: probability of dropping the mask condition of an image sample (0.5).
        denoiser_widths, denoiser_layers, denoiser_attention, denoiser_head_dim, denoiser_resblock_updown: ADM
            UNet (width 256 x mult 1, 1, 2, 2, 4, 4; 2 residual blocks; attention at 32, 16, 8 px; 64-channel
            heads; residual down/up-sampling, which convolutions replace when False).
        denoiser_steps, denoiser_batch, denoiser_lr: 30k AdamW steps of 16 at 1e-4, decaying linearly to 0.
        ema_decay: EMA of the weights (0 disables; the released code had none).
        snr_gamma: Min-SNR-γ weighting of the stage-I loss (0: the paper's plain MSE).
        pretrained: local diffusers ``UNet2DModel`` folder to fine-tune from (the paper starts from an
            ImageNet DPM; none is bundled, so the default trains from scratch).
    Stage II (segmenter, §3.3):
        segmenter_widths, segmenter_layers, segmenter_attention: the noise-aware UNet (64 x 1, 2, 2, 4; 1 block).
        segmenter_steps, segmenter_batch, segmenter_lr: released recipe, 10k AdamW steps of 16 at 3e-4 (the
            paper's text gives 30k steps at 1e-4 for both stage I and II).
    Stage III (sampler, §3.4):
        solver_order, sampling_steps: DPM-Solver++ 3M, 30 steps per phase.
        dynamic_thresholding: Imagen dynamic thresholding (ratio 0.995) of every x̂₀.
        tau: guidance temperature τ; guidance_scale: gradient scale s (the ``cf`` variant uses 0).
        guidance_every, guidance_until, guide_mask_phase, guide_image_phase: where the guidance gradient is
            computed, to cut its cost (a segmenter forward + backward per step): a fresh gradient every k-th solver
            step, the last one reused in between (1: every step); only at steps with t >= guidance_until · T (0:
            all); in the mask and the image phase (both: the paper).
        cf_weight: classifier-free weight of the mask condition (1 = conditional prediction only; otherwise two
            denoiser evaluations per image step).
        image_objective: image-phase guidance, ``"likelihood"`` (paper) or ``"wiou-wbce"`` (released CGMH script;
            binary masks only).
        guidance_reduction: the image objective over the pixels, ``"sum"`` (paper Eq. 5: log p of the whole mask)
            or ``"mean"`` (released code: per-pixel normalised, an H·W times weaker gradient; see :mod:`.guidance`).
        mask_median: median-filter window for each binarised mask before the image phase (0: none, as in the
            paper; the majority label for multi-class masks); at small training budgets it removes the isolated
            pixels the denoiser leaves in masks.
        sample_batch: pairs sampled together.
    Stage IV (filter, §3.5):
        eta: Dice-loss threshold η (keep < η, relabel < 2η, drop otherwise).
        filter_model: downstream network used as the filter (trained with the run's downstream config).
    Engineering:
        checkpoint_every: optimiser steps between resumable training checkpoints (0: none).
        grad_accumulation: micro-batches per optimiser step of stages I and II (``*_batch`` is the micro-batch
            of one process; under N processes the effective batch is N x batch x grad_accumulation).
        mixed_precision: bf16 autocast on CUDA.
    """

    conditioning: str = "embedding"
    cfg_dropout: float = 0.5
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
    pretrained: str | None = None
    segmenter_widths: tuple[int, ...] = (64, 128, 128, 256)
    segmenter_layers: int = 1
    segmenter_attention: tuple[int, ...] = ()
    segmenter_steps: int = 10000
    segmenter_batch: int = 16
    segmenter_lr: float = 3e-4
    solver_order: int = 3
    sampling_steps: int = 30
    dynamic_thresholding: bool = True
    tau: float = 1.0
    guidance_scale: float = 1.0
    guidance_every: int = 1
    guidance_until: float = 0.0
    guide_mask_phase: bool = True
    guide_image_phase: bool = True
    cf_weight: float = 1.0
    image_objective: str = "likelihood"
    guidance_reduction: str = "mean"
    mask_median: int = 0
    sample_batch: int = 16
    eta: float = 0.065
    filter_model: str = "unet"
    checkpoint_every: int = 1000
    grad_accumulation: int = 1
    mixed_precision: bool = True

    KEYED_ONLY_IF_NOT: ClassVar[dict[str, Any]] = {
        "guidance_every": 1,
        "guidance_until": 0.0,
        "guide_mask_phase": True,
        "guide_image_phase": True,
        "guidance_reduction": "mean",
    }
    """Options added after 0.3.0, out of run keys at the values that sample as 0.3.0 did (see ``options_dict``)."""

    def __post_init__(self) -> None:
        for name in _TUPLES:
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, int) else tuple(int(v) for v in value))
        problems = []
        if self.conditioning not in CONDITIONING:
            problems.append(f"conditioning must be one of {CONDITIONING}, got {self.conditioning!r}")
        if self.image_objective not in IMAGE_OBJECTIVES:
            problems.append(f"image_objective must be one of {IMAGE_OBJECTIVES}, got {self.image_objective!r}")
        if self.guidance_reduction not in GUIDANCE_REDUCTIONS:
            problems.append(
                f"guidance_reduction must be one of {GUIDANCE_REDUCTIONS}, got {self.guidance_reduction!r}"
            )
        if not 0 <= self.cfg_dropout <= 1:
            problems.append(f"cfg_dropout must be in [0, 1], got {self.cfg_dropout}")
        if self.snr_gamma < 0:
            problems.append(f"snr_gamma must be >= 0, got {self.snr_gamma}")
        if not 0 <= self.ema_decay < 1:
            problems.append(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.tau <= 0 or self.eta <= 0:
            problems.append(f"tau and eta must be > 0, got {self.tau} and {self.eta}")
        if self.guidance_scale < 0 or self.cf_weight < 0:
            problems.append(f"guidance_scale and cf_weight must be >= 0, got {self.guidance_scale}, {self.cf_weight}")
        if self.mask_median < 0 or (self.mask_median > 1 and self.mask_median % 2 == 0):
            problems.append(f"mask_median must be 0, 1 or an odd window size, got {self.mask_median}")
        if not 0 <= self.guidance_until < 1:
            problems.append(f"guidance_until must be in [0, 1), got {self.guidance_until}")
        if self.solver_order not in (1, 2, 3):
            problems.append(f"solver_order must be 1, 2 or 3, got {self.solver_order}")
        for name in (
            "denoiser_steps",
            "denoiser_batch",
            "segmenter_steps",
            "segmenter_batch",
            "sampling_steps",
            "sample_batch",
            "denoiser_layers",
            "segmenter_layers",
            "grad_accumulation",
            "guidance_every",
        ):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if problems:
            raise ConfigError("diffuseexpand options: " + "; ".join(problems))


PRESETS: dict[str, dict[str, Any]] = {
    # Tests and CI at 32 x 32: tiny networks, tens of steps; η loosened so that such weak networks keep pairs.
    "smoke": {
        "denoiser_widths": (16, 32),
        "denoiser_layers": 1,
        "denoiser_attention": (),
        "denoiser_head_dim": 16,
        "denoiser_steps": 30,
        "denoiser_batch": 8,
        "denoiser_lr": 1e-3,
        "ema_decay": 0.99,
        "segmenter_widths": (16, 32),
        "segmenter_layers": 1,
        "segmenter_steps": 20,
        "segmenter_batch": 8,
        "solver_order": 2,
        "sampling_steps": 4,
        "sample_batch": 8,
        "checkpoint_every": 10,
        "eta": 0.3,
    },
    # Demo at 64 x 64 on two CPU cores: the whole `bench run` in about 9.5 minutes. Small networks, few
    # steps. Four departures from the paper, each measured at this budget (stage-IV pass rate of guided pairs):
    # the mask enters as an input channel ("concat"), because the paper's global mask embedding learned no
    # mask-image alignment in 600-1000 steps (demo: 0.00); a 5 x 5 median filter on generated masks removes stray
    # pixels (demo, concat, 600 steps: 0.02 -> 0.20); Min-SNR-5 loss weighting (demo, concat + median, 800 steps:
    # 0.22 -> 0.37); classifier-free weight 5 on the mask condition, sampled with DPM-Solver++ order 2 in 10 steps
    # and guidance recomputed every 2nd step (Montgomery, seeds 0-2, 64 pairs each: pass rate 0.02-0.11 -> 0.42-0.44
    # at a quarter of the sampling FLOPs; solver and guidance cuts alone change nothing, the weight does:
    # reports/montgomery-sampling-cost.md). Guidance keeps the per-pixel mean (guidance_reduction="mean"), under
    # which it changes ε by < 0.1 % and no pair (CF and CF+CG keep the same pairs). The paper's sum over the pixels
    # makes it 0.9-3 x ε and drops the pass rate 0.78 -> 0.18 with this 150-step segmenter (Montgomery seed 0,
    # reports/montgomery-guidance/).
    "cpu": {
        "conditioning": "concat",
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
        "segmenter_widths": (8, 16, 32, 32),
        "segmenter_layers": 1,
        "segmenter_steps": 150,
        "segmenter_batch": 16,
        "segmenter_lr": 1e-3,
        "solver_order": 2,
        "sampling_steps": 10,
        "guidance_every": 2,
        "cf_weight": 5.0,
        "mask_median": 5,
        "sample_batch": 25,
        "checkpoint_every": 100,
    },
    # Paper scale (256 x 256) on a GPU: the field defaults. guidance_reduction stays "mean" (the released code's
    # normalisation) until the sum, the paper's formula, is measured with a paper-scale segmenter: at the cpu
    # budget it overrides the denoiser (reports/montgomery-guidance/).
    "paper": {},
}


def check_size(variant: str, o: DiffuseExpandOptions, size: int) -> None:
    """Raise ConfigError unless every network of ``variant`` can take ``size`` (checked before any training).

    The denoiser (and, with guidance, the segmenter) halves the image once per level but the last; with stage IV
    the filter model needs a multiple of its own stride.
    """
    stages = variant.split("+")
    networks = ["denoiser_widths"] + (["segmenter_widths"] if "cg" in stages else [])
    for name in networks:
        halvings = len(getattr(o, name)) - 1
        if size % 2**halvings:
            raise ConfigError(
                f"--image-size {size}: diffuseexpand's {name} {getattr(o, name)} halve the image "
                f"{halvings} times, so the size must be a multiple of {2**halvings}"
            )
    if o.filter_model not in MODELS:
        raise ConfigError(f"--option filter_model: must be one of {', '.join(MODELS)}, got {o.filter_model!r}")
    stride = MODEL_STRIDES[o.filter_model]
    if "cs" in stages and size % stride:
        raise ConfigError(
            f"--image-size {size}: the stage-IV filter model '{o.filter_model}' needs a multiple of {stride}"
        )
