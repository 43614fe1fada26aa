"""The stage-III sampling knobs: :class:`GuidanceOptions` declares each guidance knob once (default and range
check), and ``DiffuseExpandOptions`` inherits them; :class:`SamplingConfig` adds the solver and is what the sampler
(:class:`~methods.diffuseexpand.sampler.PairSampler`) samples with, what the cost counter (:mod:`.cost`) prices and
what ``bench speed`` compares. The guidance-only ranges (:func:`guidance_problems`) also guard
:class:`~methods.diffuseexpand.guidance.SegmenterGuidance`, which can be built on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from methods.diffusion.options import DenoiserOptions, solver_problems

IMAGE_OBJECTIVES = ("likelihood", "wiou-wbce")
"""Image-phase guidance objectives (see :mod:`.guidance`)."""
GUIDANCE_REDUCTIONS = ("mean", "sum")
"""How an image objective spans the pixels: their mean (released code) or their sum (the paper's log p of the mask)."""


def guidance_problems(tau: float, image_objective: str, reduction: str) -> list[str]:
    """What is out of range in a guidance temperature, image objective and reduction, one message per problem."""
    problems = []
    if tau <= 0:
        problems.append(f"tau must be > 0, got {tau}")
    if image_objective not in IMAGE_OBJECTIVES:
        problems.append(f"image_objective must be one of {IMAGE_OBJECTIVES}, got {image_objective!r}")
    if reduction not in GUIDANCE_REDUCTIONS:
        problems.append(f"guidance_reduction must be one of {GUIDANCE_REDUCTIONS}, got {reduction!r}")
    return problems


@dataclass(frozen=True)
class GuidanceOptions:
    """The stage-III knobs beyond the denoiser's solver (paper §3.4), each with its one default (the paper's, or the
    released code's where it is silent) and its one range check; ``DiffuseExpandOptions`` and
    :class:`SamplingConfig` take them from here.

    Attributes:
        guidance_scale: gradient scale s; 0 is no guidance (the ``cf`` variant).
        guide_mask_phase, guide_image_phase: which phases are guided (both: the paper).
        guidance_every: a fresh guidance gradient every k-th step, the last one reused in between (1: every step).
        guidance_until: guide only the steps with t >= guidance_until · T, the high-noise ones (0: all).
        cf_weight: classifier-free weight w of the mask condition, ε = ε_u + w(ε_c − ε_u); 1 is the conditional
            prediction alone (one denoiser evaluation per image step), else two.
        tau: guidance temperature τ (paper: 1, 1/2, 1/3).
        guidance_reduction: the image objective's ``"mean"`` (released code) or ``"sum"`` (paper Eq. 5) over the
            pixels (see :mod:`.guidance`).
        image_objective: image-phase guidance, ``"likelihood"`` (paper) or ``"wiou-wbce"`` (released CGMH script;
            binary masks only).
        mask_median: median-filter window for each binarised mask before the image phase (0: none, as in the paper;
            the majority label for multi-class masks); removes the isolated pixels an undertrained denoiser leaves.

    τ, the reduction, the image objective and the mask median change the pairs but not the cost.
    """

    guidance_scale: float = 1.0
    guide_mask_phase: bool = True
    guide_image_phase: bool = True
    guidance_every: int = 1
    guidance_until: float = 0.0
    cf_weight: float = 1.0
    tau: float = 1.0
    guidance_reduction: str = "mean"
    image_objective: str = "likelihood"
    mask_median: int = 0

    def guidance_option_problems(self) -> list[str]:
        """What is out of range among these knobs, one message per problem."""
        problems = guidance_problems(self.tau, self.image_objective, self.guidance_reduction)
        if self.guidance_scale < 0 or self.cf_weight < 0:
            problems.append(f"guidance_scale and cf_weight must be >= 0, got {self.guidance_scale}, {self.cf_weight}")
        if self.guidance_every < 1:
            problems.append(f"guidance_every must be >= 1, got {self.guidance_every}")
        if not 0 <= self.guidance_until < 1:
            problems.append(f"guidance_until must be in [0, 1), got {self.guidance_until}")
        if self.mask_median < 0 or (self.mask_median > 1 and self.mask_median % 2 == 0):
            problems.append(f"mask_median must be 0, 1 or an odd window size, got {self.mask_median}")
        return problems


@dataclass(frozen=True)
class SamplingConfig(GuidanceOptions):
    """How stage III samples a pair: the :class:`GuidanceOptions` plus the solver the denoiser's options name.

    Args:
        solver_order (`int`): DPM-Solver++ multistep order (paper: 3).
        steps (`int`): solver steps per phase, one denoiser call each (paper: 30; the ``sampling_steps`` option).
        cf_double (`bool`): evaluate both classifier-free halves even at weight 1 (the released sampler's cost; its
            pairs are those of weight 1).
        dynamic_thresholding (`bool`): Imagen dynamic thresholding (ratio 0.995) of every x̂₀ (the option of that
            name); with a large classifier-free weight it greys the images, since an overshooting x̂₀ is divided
            by its 99.5th percentile. It changes the pairs but not the cost.
        The guidance knobs: see :class:`GuidanceOptions`.

    Raises:
        ValueError: naming every knob out of range.
    """

    solver_order: int = DenoiserOptions.solver_order
    steps: int = DenoiserOptions.sampling_steps
    cf_double: bool = False
    dynamic_thresholding: bool = DenoiserOptions.dynamic_thresholding

    def __post_init__(self) -> None:
        problems = solver_problems(self.solver_order, self.steps, "steps") + self.guidance_option_problems()
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_options(cls, o: Any) -> SamplingConfig:
        """The configuration a run with options ``o`` (a ``DiffuseExpandOptions``) samples with; the variant
        decides the guidance scale (0 for ``cf``)."""
        names = [f.name for f in fields(GuidanceOptions)] + ["solver_order", "dynamic_thresholding"]
        return cls(steps=o.sampling_steps, **{k: getattr(o, k) for k in names})

    @property
    def guided(self) -> dict[str, bool]:
        """Whether each phase is guided."""
        on = self.guidance_scale > 0
        return {"mask": on and self.guide_mask_phase, "image": on and self.guide_image_phase}

    @property
    def name(self) -> str:
        """Its cost and guidance options spelled compactly, e.g. ``o3-30s-g1-every1-cfg1x2`` (``-until0.5``,
        ``-imageonly``, ``-tau0.5``, ``-sum``, ``-nodt`` when set)."""
        guided = self.guided
        if not any(guided.values()):
            guidance = "g0"
        else:
            only = "" if all(guided.values()) else f"-{'mask' if guided['mask'] else 'image'}only"
            until = f"-until{self.guidance_until:g}" if self.guidance_until else ""
            tau = f"-tau{self.tau:.3g}" if self.tau != 1 else ""
            reduction = "-sum" if self.guidance_reduction == "sum" and guided["image"] else ""
            guidance = f"g{self.guidance_scale:g}{only}-every{self.guidance_every}{until}{tau}{reduction}"
        doubled = "x2" if self.cf_double and self.cf_weight == 1 else ""
        thresholding = "" if self.dynamic_thresholding else "-nodt"
        return f"o{self.solver_order}-{self.steps}s-{guidance}-cfg{self.cf_weight:g}{doubled}{thresholding}"


RELEASED = SamplingConfig(solver_order=3, steps=30, guidance_scale=1.0, cf_weight=1.0, cf_double=True)
"""The authors' CGMH script: DPM-Solver++ order 3, 30 steps, guidance at every step of both phases, and a
classifier-free image phase that evaluates the denoiser on a doubled batch (conditional + unconditional). Its
classifier-free weight was the guidance scale, s = 1, which reduces the combination to ε_c, yet both halves were
computed: ``cf_double`` samples the pairs of weight 1 at that doubled cost."""
