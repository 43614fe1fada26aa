"""What sampling one image-mask pair costs: network calls and FLOPs per sampling configuration.

A pair is two DPM-Solver++ loops (mask, then image) of one denoiser call per step; a guided step adds a segmenter
forward and a backward pass to its input, and a classifier-free weight ≠ 1 doubles the image phase's denoiser
batch. Which of these a configuration makes is counted exactly (:func:`nfe`), from the rule the sampler itself
follows (:func:`~methods.diffuseexpand.guidance.guided_steps`) on the solver's own timesteps; the FLOPs of one
call are counted by :class:`torch.utils.flop_counter.FlopCounterMode` on the meta device, so the paper's
553 M-parameter denoiser is counted on any CPU in a second, without allocating its weights.

Convention: FlopCounterMode counts 2 FLOPs per multiply-add of convolutions, matrix products and attention, and
nothing for element-wise operations, normalisations or the solver itself. Counts are per sample (batch 1).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from methods.diffuseexpand.guidance import FRESH, SegmenterGuidance, guided_steps
from methods.diffuseexpand.networks import (
    MODE_IMAGE,
    NOISE_SCHEDULE,
    Denoiser,
    NoisySegmenter,
    build_denoiser,
    build_segmenter,
)
from methods.diffuseexpand.options import GUIDANCE_REDUCTIONS, DiffuseExpandOptions
from methods.diffuseexpand.sampler import dpm_solver

PHASES = ("mask", "image")
CALLS = ("denoiser", "segmenter_fwd", "segmenter_bwd")


@dataclass(frozen=True)
class SamplingConfig:
    """A stage-III sampling configuration, by the options that set its cost.

    Args:
        solver_order (`int`): DPM-Solver++ multistep order.
        steps (`int`): solver steps per phase (one denoiser call each).
        guidance_scale (`float`): gradient scale s; 0 is no guidance.
        guide_mask_phase, guide_image_phase (`bool`): which phases are guided.
        guidance_every (`int`): a fresh guidance gradient every k-th step, the last one reused in between.
        guidance_until (`float`): guide only the steps with t >= guidance_until · T (0: all).
        cf_weight (`float`): classifier-free weight; 1 is one denoiser evaluation per image step, else two.
        cf_double (`bool`): evaluate both classifier-free halves even at weight 1 (the released sampler's cost; its
            pairs are those of weight 1).
        tau (`float`): guidance temperature τ, and guidance_reduction (`str`): the image objective's ``"mean"`` or
            ``"sum"`` over the pixels; neither changes the cost, both change the pairs.
    """

    solver_order: int = 3
    steps: int = 30
    guidance_scale: float = 1.0
    guide_mask_phase: bool = True
    guide_image_phase: bool = True
    guidance_every: int = 1
    guidance_until: float = 0.0
    cf_weight: float = 1.0
    cf_double: bool = False
    tau: float = 1.0
    guidance_reduction: str = "mean"

    def __post_init__(self) -> None:
        if self.solver_order not in (1, 2, 3) or self.steps < 1 or self.guidance_every < 1:
            raise ValueError(f"solver_order must be 1-3, steps and guidance_every >= 1: {self}")
        if self.guidance_scale < 0 or self.cf_weight < 0 or not 0 <= self.guidance_until < 1:
            raise ValueError(f"guidance_scale and cf_weight must be >= 0, guidance_until in [0, 1): {self}")
        if self.tau <= 0 or self.guidance_reduction not in GUIDANCE_REDUCTIONS:
            raise ValueError(f"tau must be > 0, guidance_reduction one of {GUIDANCE_REDUCTIONS}: {self}")

    @classmethod
    def from_options(cls, o: DiffuseExpandOptions) -> SamplingConfig:
        """The configuration a run with options ``o`` samples with."""
        names = {f.name for f in fields(cls)} - {"steps", "cf_double"}
        return cls(steps=o.sampling_steps, **{k: getattr(o, k) for k in names})

    @property
    def guided(self) -> dict[str, bool]:
        """Whether each phase is guided."""
        on = self.guidance_scale > 0
        return {"mask": on and self.guide_mask_phase, "image": on and self.guide_image_phase}

    @property
    def name(self) -> str:
        """Its options spelled compactly, e.g. ``o3-30s-g1-every1-cfg1x2`` (``-until0.5``, ``-imageonly``,
        ``-tau0.5``, ``-sum`` when set)."""
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
        return f"o{self.solver_order}-{self.steps}s-{guidance}-cfg{self.cf_weight:g}{doubled}"

    def sampler_kwargs(self) -> dict[str, Any]:
        """Its arguments of :meth:`~methods.diffuseexpand.sampler.PairSampler.__call__` (the solver order is the
        sampler's own)."""
        return {
            "num_inference_steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "cf_weight": self.cf_weight,
            "guidance_every": self.guidance_every,
            "guidance_until": self.guidance_until,
            "guide_mask_phase": self.guide_mask_phase,
            "guide_image_phase": self.guide_image_phase,
            "cf_double": self.cf_double,
            "tau": self.tau,
            "guidance_reduction": self.guidance_reduction,
        }


RELEASED = SamplingConfig(solver_order=3, steps=30, guidance_scale=1.0, cf_weight=1.0, cf_double=True)
"""The authors' CGMH script: DPM-Solver++ order 3, 30 steps, guidance at every step of both phases, and a
classifier-free image phase that evaluates the denoiser on a doubled batch (conditional + unconditional). Its
classifier-free weight was the guidance scale, s = 1, which reduces the combination to ε_c, yet both halves were
computed: ``cf_double`` samples the pairs of weight 1 at that doubled cost."""


def nfe(config: SamplingConfig) -> dict[str, dict[str, int]]:
    """Network evaluations per pair: ``{phase: {"denoiser", "segmenter_fwd", "segmenter_bwd"}}`` for the
    ``"mask"`` and ``"image"`` phases and their ``"total"``; a doubled classifier-free batch counts twice."""
    scheduler = dpm_solver(NOISE_SCHEDULE, config.solver_order, dynamic_thresholding=False)
    scheduler.set_timesteps(config.steps)
    steps = guided_steps(
        scheduler.timesteps.tolist(),
        config.guidance_every,
        config.guidance_until,
        scheduler.config.num_train_timesteps,
    )
    counts = {}
    for phase in PHASES:
        segmenter = steps.count(FRESH) if config.guided[phase] else 0
        per_step = 2 if phase == "image" and (config.cf_weight != 1 or config.cf_double) else 1
        counts[phase] = {"denoiser": per_step * len(steps), "segmenter_fwd": segmenter, "segmenter_bwd": segmenter}
    counts["total"] = {k: sum(counts[p][k] for p in PHASES) for k in CALLS}
    return counts


def flops_per_pair(
    config: SamplingConfig, denoiser_flops: float, segmenter_fwd_flops: float, segmenter_bwd_flops: float
) -> float:
    """FLOPs of one generated pair from the FLOPs of one call of each network (per sample)."""
    total = nfe(config)["total"]
    return (
        total["denoiser"] * denoiser_flops
        + total["segmenter_fwd"] * segmenter_fwd_flops
        + total["segmenter_bwd"] * segmenter_bwd_flops
    )


def network_flops(model: nn.Module, *args: Any, **kwargs: Any) -> int:
    """Forward FLOPs of ``model(*args, **kwargs)`` (no autograd graph is built)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(*args, **kwargs)
    return counter.get_total_flops()


def guidance_flops(
    segmenter: nn.Module, x: torch.Tensor, t: torch.Tensor, phase: str = "mask", **guidance: Any
) -> int:
    """Forward + backward-to-input FLOPs of one :meth:`SegmenterGuidance.gradient` call at ``x``, ``t``.

    ``phase`` and ``guidance`` are the :class:`SegmenterGuidance` arguments (``mask=`` for the image phase).
    Only the gradient with respect to the input is taken, so no weight gradient is counted.
    """

    # FlopCounterMode's module tracker hooks each module's inputs and fails on autograd.grad into a leaf ("A leaf
    # node was passed to _will_engine_execute_node"): the segmenter gets a view of x instead, no leaf and no FLOPs.
    def segment(x_t: torch.Tensor, t: torch.Tensor) -> Any:
        return segmenter(x_t.view_as(x_t), t)

    guide = SegmenterGuidance(segment, phase, **guidance)
    with FlopCounterMode(display=False) as counter:
        guide.gradient(x, t)
    return counter.get_total_flops()


def meta_networks(o: DiffuseExpandOptions, size: int, channels: int = 1) -> tuple[Denoiser, NoisySegmenter]:
    """The denoiser and segmenter of ``o`` on the meta device: shapes only, no weights allocated."""
    with torch.device("meta"):
        return build_denoiser(o, size, channels, seed=0).eval(), build_segmenter(o, size, channels, seed=0).eval()


def network_costs(o: DiffuseExpandOptions, size: int, channels: int = 1) -> dict[str, int]:
    """FLOPs per sample of one call of each network of ``o`` at ``size``, counted on the meta device.

    Returns ``{"denoiser", "segmenter_fwd", "segmenter_bwd"}``: an image-phase denoiser call (the mask phase's
    costs the same), the segmenter forward, and the backward of an image-phase guidance gradient (the mask
    phase's skips the backward of the pixel head's last convolution, a fraction of a percent less).
    """
    return _call_costs(*meta_networks(o, size, channels))


def model_costs(denoiser: Denoiser, segmenter: NoisySegmenter) -> dict[str, int]:
    """:func:`network_costs` of two built (e.g. trained) networks at the denoiser's size: counted on meta-device
    copies made from their configs, so no weight is copied and nothing runs on their device."""
    # The constructor, not ``from_config``: diffusers lists arguments given by position among
    # ``_use_default_values`` and ``from_config`` then drops them.
    with torch.device("meta"):
        copies = [
            type(net)(**{k: v for k, v in net.config.items() if not k.startswith("_")})
            for net in (denoiser, segmenter)
        ]
    return _call_costs(*(net.eval() for net in copies))


def _call_costs(denoiser: Denoiser, segmenter: NoisySegmenter) -> dict[str, int]:
    """:func:`network_costs` of two networks on the meta device."""
    size, channels = denoiser.size, denoiser.channels
    x = torch.zeros(1, channels, size, size, device="meta")
    mask = torch.zeros(1, denoiser.mask_channels, size, size, device="meta")
    labels = torch.zeros(1, 1, size, size, device="meta")
    t = torch.tensor(NOISE_SCHEDULE["num_train_timesteps"] - 1, device="meta")
    mode = torch.full((1,), MODE_IMAGE, device="meta")
    forward = network_flops(segmenter, x, t)
    return {
        "denoiser": network_flops(denoiser, x, t, mode, mask),
        "segmenter_fwd": forward,
        "segmenter_bwd": guidance_flops(segmenter, x, t, phase="image", mask=labels) - forward,
    }
