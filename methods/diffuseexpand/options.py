"""DiffuseExpand's options, their per-preset overrides, and the checks a run request gets before any work.

Every knob has one default (the paper's value, or the released code's where the paper is silent): DiffuseExpand's
own on :class:`DiffuseExpandOptions`, the shared diffusion ones on
:class:`~methods.diffusion.options.DenoiserOptions` and the sampling ones on
:class:`~.sampling_config.SamplingConfig`. :data:`PRESETS` names the overrides of the ``smoke``, ``cpu`` and
``paper`` presets, over the shared budget of :data:`~methods.diffusion.options.DENOISER_PRESETS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bench.config import MODEL_STRIDES, MODELS, ConfigError
from bench.paper import ETA
from methods.diffuseexpand.sampling_config import SamplingConfig
from methods.diffusion.options import DENOISER_PRESETS, DenoiserOptions, denoiser_problems, int_tuple

CONDITIONING = ("embedding", "concat")
MASK_SOURCES = ("diffusion", "augmented")  # where the image phase's masks come from (see mask_source.py)
"""How the mask condition enters the denoiser (see :mod:`.networks`)."""
_TUPLES = ("denoiser_widths", "denoiser_attention", "segmenter_widths", "segmenter_attention")
_D, _S = DenoiserOptions, SamplingConfig


@dataclass(frozen=True)
class DiffuseExpandOptions:
    """Knobs of DiffuseExpand; defaults are the paper's (§4.1) or, where it is silent, the released code's.

    The stage-I network, its budget and solver knobs are :class:`~methods.diffusion.options.DenoiserOptions`' (defaults
    and ranges there), the stage-III ones :class:`~.sampling_config.SamplingConfig`'s (``sampling_steps`` is its
    ``steps``); this class adds DiffuseExpand's own.

    Stage I (denoiser, §3.2):
        conditioning: ``"embedding"`` (paper: global mask vector) or ``"concat"`` (mask as an input channel).
        cfg_dropout: probability of dropping the mask condition of an image sample (0.5).
        denoiser_*, ema_decay, snr_gamma: see ``DenoiserOptions``.
        pretrained: a folder to fine-tune stage I from within its own budget (the paper starts from an ImageNet
            DPM; none is bundled, so the default trains from scratch): one ``bench pretrain`` wrote (the whole
            denoiser of the run's architecture; its fingerprint keys the run, and a run on a test image it saw
            is refused), or a plain diffusers ``UNet2DModel`` folder (adapted, keyed by its path).
    Stage II (segmenter, §3.3):
        segmenter_widths, segmenter_layers, segmenter_attention: the noise-aware UNet (64 x 1, 2, 2, 4; 1 block).
        segmenter_steps, segmenter_batch, segmenter_lr: released recipe, 10k AdamW steps of 16 at 3e-4 (the
            paper's text gives 30k steps at 1e-4 for both stage I and II).
    Stage III (sampler, §3.4):
        solver_order, sampling_steps, tau, guidance_scale (the ``cf`` variant uses 0), guidance_every,
            guidance_until, guide_mask_phase, guide_image_phase (where the guidance gradient is computed, to cut
            its cost: a segmenter forward + backward per step), cf_weight, image_objective, guidance_reduction,
            mask_median: see ``SamplingConfig``.
        dynamic_thresholding, sample_batch: see ``DenoiserOptions``.
    Stage IV (filter, §3.5):
        eta: Dice-loss threshold η (keep < η, relabel < 2η, drop otherwise).
    Mask source (:mod:`.mask_source`):
        mask_source: ``"diffusion"`` (paper: the mask phase samples each mask) or ``"augmented"`` (a warped real
            training mask; the image phase, guidance and stage IV unchanged).
        filter_model: downstream network used as the filter (trained with the run's downstream config).
    Small-data recipe (stage I):
        augment_p, prediction, denoiser_dropout: see ``DenoiserOptions``.
    Engineering:
        checkpoint_every, grad_accumulation (stages I and II), mixed_precision: see ``DenoiserOptions``.
    """

    conditioning: str = "embedding"
    cfg_dropout: float = 0.5
    denoiser_widths: tuple[int, ...] = _D.denoiser_widths
    denoiser_layers: int = _D.denoiser_layers
    denoiser_attention: tuple[int, ...] = _D.denoiser_attention
    denoiser_head_dim: int = _D.denoiser_head_dim
    denoiser_resblock_updown: bool = _D.denoiser_resblock_updown
    denoiser_steps: int = _D.denoiser_steps
    denoiser_batch: int = _D.denoiser_batch
    denoiser_lr: float = _D.denoiser_lr
    ema_decay: float = _D.ema_decay
    snr_gamma: float = _D.snr_gamma
    pretrained: str | None = None
    segmenter_widths: tuple[int, ...] = (64, 128, 128, 256)
    segmenter_layers: int = 1
    segmenter_attention: tuple[int, ...] = ()
    segmenter_steps: int = 10000
    segmenter_batch: int = 16
    segmenter_lr: float = 3e-4
    solver_order: int = _S.solver_order
    sampling_steps: int = _S.steps
    dynamic_thresholding: bool = _D.dynamic_thresholding
    tau: float = _S.tau
    guidance_scale: float = _S.guidance_scale
    guidance_every: int = _S.guidance_every
    guidance_until: float = _S.guidance_until
    guide_mask_phase: bool = _S.guide_mask_phase
    guide_image_phase: bool = _S.guide_image_phase
    cf_weight: float = _S.cf_weight
    image_objective: str = _S.image_objective
    guidance_reduction: str = _S.guidance_reduction
    mask_median: int = _S.mask_median
    sample_batch: int = _D.sample_batch
    eta: float = ETA
    mask_source: str = "diffusion"
    filter_model: str = "unet"
    checkpoint_every: int = _D.checkpoint_every
    grad_accumulation: int = _D.grad_accumulation
    mixed_precision: bool = _D.mixed_precision
    augment_p: float = _D.augment_p
    prediction: str = _D.prediction
    denoiser_dropout: float = _D.denoiser_dropout

    KEYED_ONLY_IF_NOT: ClassVar[dict[str, Any]] = {
        **_D.KEYED_ONLY_IF_NOT,
        "guidance_every": 1,
        "guidance_until": 0.0,
        "guide_mask_phase": True,
        "guide_image_phase": True,
        "guidance_reduction": "mean",
        "mask_source": "diffusion",
    }
    """Options added after 0.3.0, out of run keys at the values that sample as 0.3.0 did (see ``options_dict``)."""

    def __post_init__(self) -> None:
        for name in _TUPLES:
            object.__setattr__(self, name, int_tuple(getattr(self, name)))
        problems = []
        if self.conditioning not in CONDITIONING:
            problems.append(f"conditioning must be one of {CONDITIONING}, got {self.conditioning!r}")
        if not 0 <= self.cfg_dropout <= 1:
            problems.append(f"cfg_dropout must be in [0, 1], got {self.cfg_dropout}")
        if self.mask_source not in MASK_SOURCES:
            problems.append(f"mask_source must be one of {MASK_SOURCES}, got {self.mask_source!r}")
        if self.eta <= 0:
            problems.append(f"eta must be > 0, got {self.eta}")
        for name in ("segmenter_steps", "segmenter_batch", "segmenter_layers"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        problems += denoiser_problems(self)
        try:
            SamplingConfig.from_options(self)
        except ValueError as e:
            problems.append(str(e))
        if problems:
            raise ConfigError("diffuseexpand options: " + "; ".join(problems))


def _with_denoiser(preset: str, own: dict[str, Any]) -> dict[str, Any]:
    """A preset: the diffusion methods' shared budget (:data:`~methods.diffusion.options.DENOISER_PRESETS`), then
    ``own``."""
    return {**DENOISER_PRESETS[preset], **own}


_CPU: dict[str, Any] = {
    "conditioning": "concat",
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
    "guidance_reduction": "sum",
    "guidance_scale": 0.05,
}

PRESETS: dict[str, dict[str, Any]] = {
    # Tests and CI at 32 x 32: tiny networks, tens of steps; η loosened so that such weak networks keep pairs.
    "smoke": _with_denoiser(
        "smoke",
        {"segmenter_widths": (16, 32), "segmenter_layers": 1, "segmenter_steps": 20, "segmenter_batch": 8, "eta": 0.3},
    ),
    # Demo at 64 x 64 on two CPU cores: the whole `bench run` in about 9.5 minutes. Small networks, few
    # steps. Four departures from the paper, each measured at this budget (stage-IV pass rate of guided pairs):
    # the mask enters as an input channel ("concat"), because the paper's global mask embedding learned no
    # mask-image alignment in 600-1000 steps (demo: 0.00); a 5 x 5 median filter on generated masks removes stray
    # pixels (demo, concat, 600 steps: 0.02 -> 0.20); Min-SNR-5 loss weighting (demo, concat + median, 800 steps:
    # 0.22 -> 0.37); classifier-free weight 5 on the mask condition, sampled with DPM-Solver++ order 2 in 10 steps
    # and guidance recomputed every 2nd step (Montgomery, seeds 0-2, 64 pairs each: pass rate 0.02-0.11 -> 0.42-0.44
    # at a quarter of the sampling FLOPs; solver and guidance cuts alone change nothing, the weight does:
    # reports/montgomery-sampling-cost.md). Guidance sums the pixel log-likelihood over the mask (the paper's Eq. 5)
    # at s = 0.05: with the released per-pixel mean it changed ε by < 0.1 % and no pair; the sum at s = 1 is 2-3 x ε
    # and drops the pass rate to 0.04-0.18 with this 150-step segmenter; at s = 0.1 it was 18-28 % of ε and, on the
    # ε networks of 0.5, raised the pass rate on every seed (0.47-0.82 -> 0.64-0.85) and lowered FID by 5-10
    # (Montgomery, seeds 0-2, 120 pairs each: reports/montgomery-guidance/). On the v networks (since 0.6) every
    # scale tried costs pairs and FID, the more the larger: demo, 120 pairs, s = 0.1 / 0.05 / 0.03 / 0: pass rate
    # 0.73 / 0.93 / 0.98 / 1.00, FID 323 / 311 / 310 / 309; Montgomery at 14 real pairs, the same order: pass rate
    # 0.82 / 0.88 / 0.91 / 0.93 and FID 404 / 399 / 397 / 394 on seed 0, FID lower at each step on seeds 1-2 too
    # (reports/montgomery-recipe/, fourth round). s = 0.05 keeps a guidance term of 10-16 % of ε, so the method's
    # stage II stays measurably at work, at little cost.
    # 10 solver steps are enough for this preset's networks from scratch (Montgomery, 14 pairs, seed 0: FID 399 at
    # 10 steps, 403 at 20, 409 at 30); a pretrained start draws better images with the paper's 30 (124 pairs, seeds
    # 0-2: FID 189 / 188 / 205 -> 174 / 173 / 187, pass rate 0.83-1.00 -> 0.99-1.00; the README's recipe).
    # The network and its budget are the shared ones (methods/diffusion/options.py).
    "cpu": _with_denoiser("cpu", _CPU),
    # One GPU at 64 x 64: the cpu preset with the shared gpu stage I and a segmenter 4 times wider trained 4 times
    # longer (0.07 s a step with three runs on one H200); sampling, guidance and stage IV as at the cpu preset, so
    # that the two presets differ in their networks only. Its pairs are not measured yet.
    "gpu": _with_denoiser(
        "gpu",
        {
            **_CPU,
            "segmenter_widths": (32, 64, 128, 128),
            "segmenter_steps": 600,
            "segmenter_batch": 32,
            "segmenter_lr": 5e-4,
        },
    ),
    # Paper scale (256 x 256) on a GPU: the field defaults, with the paper's guidance formula (the sum over pixels,
    # s = 1). Untested at this scale: at the cpu budget the sum at s = 1 overrides the denoiser, so read the run's
    # recorded guidance strength (method_stats.guidance, ||s sigma grad|| / ||eps||) before trusting its pairs.
    "paper": _with_denoiser("paper", {"guidance_reduction": "sum"}),
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
