"""What sampling one image-mask pair costs: network calls and FLOPs per sampling configuration.

A pair is two DPM-Solver++ loops (mask, then image) of one denoiser call per step; a guided step adds a segmenter
forward and a backward pass to its input, and a classifier-free weight ≠ 1 doubles the image phase's denoiser
batch. Which of these a configuration makes is counted exactly (:func:`nfe`), from the rule the sampler itself
follows (:func:`~methods.diffuseexpand.guidance.guided_steps`) on the solver's own timesteps; the FLOPs of one
call are counted by :class:`torch.utils.flop_counter.FlopCounterMode` on the meta device, so the paper's
553 M-parameter denoiser is counted on any CPU in a second, without allocating its weights.

Convention: FlopCounterMode counts 2 FLOPs per multiply-add of convolutions, matrix products and attention, and
nothing for element-wise operations, normalisations or the solver itself. Counts are per sample (batch 1).

A configuration is a :class:`~.sampling_config.SamplingConfig` (re-exported here with :data:`RELEASED`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from methods.diffuseexpand.guidance import FRESH, PHASES, SegmenterGuidance, guided_steps
from methods.diffuseexpand.networks import MODE_IMAGE, Denoiser, NoisySegmenter, build_denoiser, build_segmenter
from methods.diffuseexpand.options import DiffuseExpandOptions
from methods.diffuseexpand.sampling_config import RELEASED, SamplingConfig
from methods.diffusion.schedule import NOISE_SCHEDULE, dpm_solver

__all__ = [
    "RELEASED",
    "SamplingConfig",
    "flops_per_pair",
    "guidance_flops",
    "meta_networks",
    "model_costs",
    "network_costs",
    "network_flops",
    "nfe",
]

CALLS = ("denoiser", "segmenter_fwd", "segmenter_bwd")


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
