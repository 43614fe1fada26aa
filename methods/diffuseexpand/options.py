"""DiffuseExpand's options, their per-preset overrides, and the checks a run request gets before any work.

Every knob has one default (the paper's value, or the released code's where the paper is silent): DiffuseExpand's
own on :class:`DiffuseExpandOptions`, which inherits the shared diffusion ones from
:class:`~methods.diffusion.options.DenoiserOptions` and the guidance ones from
:class:`~.sampling_config.GuidanceOptions`. :data:`PRESETS` names the overrides of the ``smoke``, ``cpu`` and
``paper`` presets, over the shared budget of :data:`~methods.diffusion.options.DENOISER_PRESETS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bench.config import MODEL_STRIDES, MODELS, ConfigError
from bench.paper import ETA
from methods.diffuseexpand.sampling_config import GuidanceOptions
from methods.diffusion.options import DENOISER_PRESETS, DenoiserOptions

CONDITIONING = ("embedding", "concat")
"""How the mask condition enters the denoiser (see :mod:`.networks`)."""
MASK_SOURCES = ("diffusion", "augmented")  # where the image phase's masks come from (see mask_source.py)


@dataclass(frozen=True)
class DiffuseExpandOptions(DenoiserOptions, GuidanceOptions):
    """Knobs of DiffuseExpand; defaults are the paper's (§4.1) or, where it is silent, the released code's.

    The stage-I network, budget, solver and recipe knobs (``denoiser_*``, ``ema_decay``, ``snr_gamma``,
    ``solver_order``, ``sampling_steps``, ``dynamic_thresholding``, ``sample_batch``, ``augment_p``, ``prediction``,
    ``pretrained``, the engineering ones) are those of :class:`~methods.diffusion.options.DenoiserOptions`, the
    stage-III guidance ones (``guidance_*``, ``guide_*_phase``, ``tau``, ``cf_weight``, ``image_objective``,
    ``mask_median``) those of :class:`~.sampling_config.GuidanceOptions`, each with its default and range check
    there. This class adds:

    Stage I (denoiser, §3.2):
        conditioning: ``"embedding"`` (paper: global mask vector) or ``"concat"`` (mask as an input channel).
        cfg_dropout: probability of dropping the mask condition of an image sample (0.5).
        pretrained (inherited) may also name a plain diffusers ``UNet2DModel`` folder (adapted, keyed by its path).
    Stage II (segmenter, §3.3):
        segmenter_widths, segmenter_layers, segmenter_attention: the noise-aware UNet (64 x 1, 2, 2, 4; 1 block).
        segmenter_steps, segmenter_batch, segmenter_lr: released recipe, 10k AdamW steps of 16 at 3e-4 (the
            paper's text gives 30k steps at 1e-4 for both stage I and II).
    Stage IV (filter, §3.5):
        eta: Dice-loss threshold η (keep < η, relabel < 2η, drop otherwise).
        filter_model: downstream network used as the filter (trained with the run's downstream config).
    Mask source (:mod:`.mask_source`):
        mask_source: ``"diffusion"`` (paper: the mask phase samples each mask) or ``"augmented"`` (a warped real
            training mask; the image phase, guidance and stage IV unchanged).
    """

    conditioning: str = "embedding"
    cfg_dropout: float = 0.5
    segmenter_widths: tuple[int, ...] = (64, 128, 128, 256)
    segmenter_layers: int = 1
    segmenter_attention: tuple[int, ...] = ()
    segmenter_steps: int = 10000
    segmenter_batch: int = 16
    segmenter_lr: float = 3e-4
    eta: float = ETA
    mask_source: str = "diffusion"
    filter_model: str = "unet"

    NAME: ClassVar[str] = "diffuseexpand"
    TUPLES: ClassVar[tuple[str, ...]] = (*DenoiserOptions.TUPLES, "segmenter_widths", "segmenter_attention")
    KEYED_ONLY_IF_NOT: ClassVar[dict[str, Any]] = {
        **DenoiserOptions.KEYED_ONLY_IF_NOT,
        "guidance_every": 1,
        "guidance_until": 0.0,
        "guide_mask_phase": True,
        "guide_image_phase": True,
        "guidance_reduction": "mean",
        "mask_source": "diffusion",
    }
    """Options added after 0.3.0, out of run keys at the values that sample as 0.3.0 did (see ``options_dict``)."""
    KEPT_FROM_PRETRAINING: ClassVar[tuple[str, ...]] = ("cfg_dropout",)
    PRETRAINED_RECIPE: ClassVar[dict[str, Any]] = {
        "cf_weight": 1.0,
        "dynamic_thresholding": False,
        "sampling_steps": 30,
    }
    """How a ``bench pretrain`` start is fine-tuned and sampled (:mod:`methods.diffusion.recipe`): at the dropout it
    was pretrained with, the paper's weight 1 without dynamic thresholding, in the paper's 30 steps. Montgomery FID
    162-187 on every seed and split, against 340-420 for the preset from scratch (reports/montgomery-recipe/, fifth
    and sixth rounds); from scratch the preset's weight 5 and 10 steps stay better."""

    def problems(self) -> list[str]:
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
        return problems + super().problems() + self.guidance_option_problems()


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
    # Demo at 64 x 64 on two CPU cores, the whole `bench run` in about 9.5 minutes. Departures from the paper, each
    # measured at this budget: the mask as an input channel, a 5 x 5 median on generated masks, classifier-free weight
    # 5 sampled in 10 steps of order 2 with guidance every 2nd step (a quarter of the FLOPs), guidance summed over the
    # pixels at s = 0.05 (larger scales cost pairs and FID on the v networks), and the shared stage I's Min-SNR-5.
    # A pretrained start samples otherwise (PRETRAINED_RECIPE). The measurements: reports/preset-choices.md.
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
