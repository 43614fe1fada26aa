"""Stage III: sample image-mask pairs with DPM-Solver++ in two phases (paper §3.4).

Each pair is made in two sampling loops of diffusers' ``DPMSolverMultistepScheduler`` (``dpmsolver++``,
multistep, order 3, 30 steps in the paper, dynamic thresholding at the 0.995 quantile):

1. a mask from Gaussian noise (y1 = mask), binarised at 0 in [-1, 1] space (for K > 1 foreground classes:
   the argmax over background and the K one-hot channels, see :mod:`.labels`);
2. an image from fresh noise (y1 = image), conditioned on that mask (y2).

With a segmenter and a non-zero guidance scale both loops are classifier-guided
(:mod:`methods.diffuseexpand.guidance`); without, this is the paper's "CF" ablation. Guidance can be thinned out
to cut its cost (:mod:`methods.diffuseexpand.cost`): one phase only, a fresh gradient every k-th step, or the
high-noise steps only; the defaults guide every step of both phases. How much guidance changes the predicted noise
is recorded per step and phase (:attr:`SamplerOutput.guidance`). Every pair has its own
seed and ``torch.Generator`` (mask noise first, then image noise), so a pair can be regenerated alone.
:func:`sample_pairs` shares the batches out over the processes of a multi-process run; every batch is the
one a single process would sample, so the pair set is the same whatever the process count.

Notes:
    The released sampler left the denoiser in train mode, so its mask condition was dropped at random
    (p = 0.5) at every network call; here every network must be in eval mode (a ``RuntimeError`` otherwise).
    Dynamic thresholding follows Imagen / DPM-Solver (s = max(1, quantile)); diffusers' default
    ``sample_max_value=1`` would reduce it to plain clipping, so it is set to infinity.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from accelerate import PartialState
from accelerate.utils import gather_object
from diffusers import DPMSolverMultistepScheduler
from diffusers.utils.torch_utils import randn_tensor
from torch import nn

from bench.training import autocast_context
from methods.diffuseexpand.guidance import PHASES, EpsFn, SegmenterGuidance, guided_steps, make_guided_eps_fn
from methods.diffuseexpand.labels import decode_masks, mode_filter, one_hot
from methods.diffuseexpand.networks import MODE_IMAGE, MODE_MASK, NOISE_SCHEDULE, Denoiser
from methods.diffuseexpand.options import GUIDANCE_REDUCTIONS, IMAGE_OBJECTIVES

logger = logging.getLogger(__name__)


@dataclass
class SamplerOutput:
    """Generated pairs.

    Attributes:
        images: float ``N x C x H x W`` in [0, 1].
        masks: int64 ``N x H x W`` with labels 0..K ({0, 1} for binary masks).
        seeds: the seed of each pair.
        guidance: per phase (``"mask"``, ``"image"``), ``{"t": [...], "ratio": [...]}``: each solver step's
            timestep and the mean over the pairs of ‖s·σ_t·∇ₓ log p‖ / ‖ε‖ (0 at unguided steps); see
            :func:`guidance_stats`.
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


def guidance_stats(guidance: dict[str, dict[str, list]]) -> dict[str, Any]:
    """What a pair set records of its guidance: per phase the per-step ratios (``guidance``) and their mean over the
    steps (``guidance_ratio_mask``, ``guidance_ratio_image``, scalars for tables and W&B summaries)."""
    if not guidance:
        return {}
    rounded = {p: {"t": g["t"], "ratio": [float(f"{r:.4g}") for r in g["ratio"]]} for p, g in guidance.items()}
    means = {f"guidance_ratio_{p}": float(f"{np.mean(g['ratio']):.4g}") for p, g in guidance.items()}
    return {"guidance": rounded, **means}


def pair_seeds(seed: int, n: int, start: int = 0) -> list[int]:
    """Seeds of pairs ``start .. start + n - 1`` of a run: independent 31-bit streams keyed by (run seed, index)."""
    return [int(np.random.SeedSequence([seed, i]).generate_state(1)[0] >> 1) for i in range(start, start + n)]


def _require_eval(module: nn.Module | None, name: str) -> None:
    if module is not None and any(m.training for m in module.modules()):
        raise RuntimeError(f"the {name} is in train mode; call .eval() before sampling")


def dpm_solver(
    scheduler_config: dict[str, Any], solver_order: int, dynamic_thresholding: bool, thresholding_ratio: float = 0.995
) -> DPMSolverMultistepScheduler:
    """A fresh DPM-Solver++ multistep solver for the forward process ``scheduler_config`` (see the module notes).

    It keeps a history of model outputs: one instance serves one sampling loop.
    """
    return DPMSolverMultistepScheduler.from_config(
        scheduler_config,
        algorithm_type="dpmsolver++",
        solver_order=solver_order,
        thresholding=dynamic_thresholding,
        dynamic_thresholding_ratio=thresholding_ratio,
        sample_max_value=float("inf"),
    )


class PairSampler:
    """Two-phase sampler of image-mask pairs (a pipeline in the diffusers sense).

    Args:
        denoiser (:class:`~methods.diffuseexpand.networks.Denoiser`): the stage-I ε-predictor, in eval mode.
        segmenter (`nn.Module`, *optional*): the stage-II segmenter for classifier guidance, in eval mode.
        scheduler_config (`dict`, *optional*, defaults to the denoiser's training schedule): the forward process
            (T, β schedule, ε-prediction); must be the one the denoiser was trained with.
        solver_order (`int`): DPM-Solver++ multistep order (paper: 3; the ``solver_order`` option).
        dynamic_thresholding (`bool`): Imagen dynamic thresholding of every x̂₀ (the option of that name).
        mixed_precision (`bool`): bf16 autocast for the networks on CUDA.
        thresholding_ratio (`float`, *optional*, defaults to 0.995): the dynamic-thresholding quantile.
    """

    def __init__(
        self,
        denoiser: Denoiser,
        segmenter: nn.Module | None = None,
        *,
        scheduler_config: dict[str, Any] | None = None,
        solver_order: int,
        dynamic_thresholding: bool,
        mixed_precision: bool,
        thresholding_ratio: float = 0.995,
    ) -> None:
        if not 1 <= solver_order <= 3:
            raise ValueError(f"solver_order must be 1, 2 or 3, got {solver_order}")
        self.denoiser = denoiser
        self.segmenter = segmenter
        self.scheduler_config = dict(scheduler_config or NOISE_SCHEDULE)
        self.solver_order = solver_order
        self.dynamic_thresholding = dynamic_thresholding
        self.thresholding_ratio = thresholding_ratio
        self.mixed_precision = mixed_precision

    @property
    def device(self) -> torch.device:
        return next(self.denoiser.parameters()).device

    def make_scheduler(self) -> DPMSolverMultistepScheduler:
        """A fresh solver (it keeps a history of model outputs, so one instance serves one loop)."""
        return dpm_solver(self.scheduler_config, self.solver_order, self.dynamic_thresholding, self.thresholding_ratio)

    def check_inputs(
        self,
        seeds: Sequence[int],
        num_inference_steps: int,
        tau: float,
        guidance_scale: float,
        cf_weight: float,
        image_objective: str,
        batch_size: int,
        mask_median: int,
        guidance_every: int = 1,
        guidance_until: float = 0.0,
        guidance_reduction: str = "mean",
    ) -> None:
        """Raise ``ValueError`` for unusable arguments."""
        if len(seeds) == 0:
            raise ValueError("seeds is empty: nothing to sample")
        if num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {num_inference_steps}")
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        if guidance_scale < 0:
            raise ValueError(f"guidance_scale must be >= 0, got {guidance_scale}")
        if guidance_scale > 0 and self.segmenter is None:
            raise ValueError(f"guidance_scale={guidance_scale} needs a segmenter")
        if cf_weight < 0:
            raise ValueError(f"cf_weight must be >= 0, got {cf_weight}")
        if image_objective not in IMAGE_OBJECTIVES:
            raise ValueError(f"image_objective must be one of {IMAGE_OBJECTIVES}, got {image_objective!r}")
        if guidance_reduction not in GUIDANCE_REDUCTIONS:
            raise ValueError(f"guidance_reduction must be one of {GUIDANCE_REDUCTIONS}, got {guidance_reduction!r}")
        if image_objective == "wiou-wbce" and guidance_scale > 0 and self.denoiser.mask_channels > 1:
            raise ValueError(
                f"image_objective 'wiou-wbce' is defined for binary masks; the denoiser generates "
                f"{self.denoiser.mask_channels} foreground classes: use 'likelihood'"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if mask_median < 0 or (mask_median > 1 and mask_median % 2 == 0):
            raise ValueError(f"mask_median must be 0, 1 or an odd window size, got {mask_median}")
        if guidance_every < 1:
            raise ValueError(f"guidance_every must be >= 1, got {guidance_every}")
        if not 0 <= guidance_until < 1:
            raise ValueError(f"guidance_until must be in [0, 1), got {guidance_until}")

    @torch.no_grad()
    def __call__(
        self,
        *,
        seeds: Sequence[int],
        num_inference_steps: int,
        tau: float,
        guidance_scale: float,
        cf_weight: float,
        image_objective: str,
        mask_median: int,
        batch_size: int,
        guidance_every: int = 1,
        guidance_until: float = 0.0,
        guide_mask_phase: bool = True,
        guide_image_phase: bool = True,
        guidance_reduction: str = "mean",
        cf_double: bool = False,
        callback: Callable[[int], None] | None = None,
    ) -> SamplerOutput:
        """Generate one pair per seed.

        Args:
            seeds: one seed per pair (see :func:`pair_seeds`).
            num_inference_steps: solver steps per phase (paper: 30).
            tau: temperature τ of the guidance (paper: 1, 1/2, 1/3).
            guidance_scale: gradient scale s; 0 is the "CF" ablation (no segmenter).
            cf_weight: classifier-free weight w of the mask condition, ε = ε_u + w(ε_c − ε_u); 1 uses the
                conditional prediction only (one network call).
            image_objective: image-phase guidance objective, ``"likelihood"`` or ``"wiou-wbce"`` (binary masks only).
            mask_median: size of a median filter applied to each binarised mask before the image phase (0: none,
                as in the paper; a per-pixel majority label for K > 1); removes the isolated pixels an
                undertrained denoiser leaves.
            batch_size: pairs per batch.
            guidance_every: a fresh guidance gradient every k-th solver step, the last one reused in between
                (1: every step).
            guidance_until: guide only the steps with t >= guidance_until · T, the high-noise ones (0: every step).
            guide_mask_phase, guide_image_phase: whether each phase is guided (when ``guidance_scale > 0``).
            guidance_reduction: the image objective's sum over the pixels (``"sum"``, the paper's log p of the
                mask) or their ``"mean"`` (see :mod:`~methods.diffuseexpand.guidance`).
            cf_double: evaluate both classifier-free halves even at ``cf_weight`` 1 (the released sampler's cost;
                the same pairs as without).
            callback: called with the number of pairs finished after each batch.

        Returns:
            SamplerOutput with images float ``N x C x H x W`` in [0, 1], masks int64 ``N x H x W`` with labels
            0..K ({0, 1} for binary masks) and the guidance strength per step and phase.

        Raises:
            ValueError: from :meth:`check_inputs`.
            RuntimeError: if the denoiser or the segmenter is in train mode.

        Example:
            >>> o = DiffuseExpandOptions(tau=0.5)
            >>> sampler = PairSampler(
            ...     denoiser.eval(), segmenter.eval(), solver_order=o.solver_order,
            ...     dynamic_thresholding=o.dynamic_thresholding, mixed_precision=o.mixed_precision)
            >>> out = sampler(seeds=pair_seeds(0, 8), num_inference_steps=o.sampling_steps, tau=o.tau,
            ...     guidance_scale=o.guidance_scale, cf_weight=o.cf_weight, image_objective=o.image_objective,
            ...     mask_median=o.mask_median, batch_size=o.sample_batch)
            >>> out.images.shape, out.masks.unique()
        """
        # 1. Check inputs and modes
        self.check_inputs(
            seeds,
            num_inference_steps,
            tau,
            guidance_scale,
            cf_weight,
            image_objective,
            batch_size,
            mask_median,
            guidance_every,
            guidance_until,
            guidance_reduction,
        )
        _require_eval(self.denoiser, "denoiser")
        guided = guidance_scale > 0
        if guided:
            _require_eval(self.segmenter, "segmenter")
        device = self.device
        c, size = self.denoiser.channels, self.denoiser.size
        k, image_channels = self.denoiser.mask_channels, self.denoiser.image_channels
        steps = {"num_inference_steps": num_inference_steps, "every": guidance_every, "until": guidance_until}
        images, masks, traces = [], [], []
        for start in range(0, len(seeds), batch_size):
            batch = list(seeds[start : start + batch_size])
            n = len(batch)
            # 2. Prepare the noise: per pair, mask noise then image noise from the pair's own generator
            generators = [torch.Generator().manual_seed(int(s)) for s in batch]
            noise_mask = randn_tensor((n, c, size, size), generator=generators, device=device)
            noise_image = randn_tensor((n, c, size, size), generator=generators, device=device)

            # 3. Mask phase: y1 = mask, guided towards log p_τ(y1 = mask | x_t)
            mode = torch.full((n,), MODE_MASK, dtype=torch.long, device=device)
            eps_fn = self._eps_fn(mode, None, 1.0)
            guidance = (
                SegmenterGuidance(self.segmenter, "mask", tau=tau, scale=guidance_scale)
                if guided and guide_mask_phase
                else None
            )
            trace: dict[str, dict[str, list]] = {phase: {} for phase in PHASES}
            x_mask = self._denoise(noise_mask, eps_fn, guidance, trace=trace["mask"], **steps)
            labels = decode_masks(x_mask, k)
            if mask_median > 1:
                labels = mode_filter(labels, k, mask_median)

            # 4. Image phase: y1 = image, y2 = the mask (one-hot for K > 1), guided towards its label map
            mode = torch.full((n,), MODE_IMAGE, dtype=torch.long, device=device)
            eps_fn = self._eps_fn(mode, one_hot(labels, k), cf_weight, cf_double)
            guidance = (
                SegmenterGuidance(
                    self.segmenter,
                    "image",
                    mask=labels[:, None].float(),
                    tau=tau,
                    scale=guidance_scale,
                    image_objective=image_objective,
                    reduction=guidance_reduction,
                )
                if guided and guide_image_phase
                else None
            )
            x_image = self._denoise(noise_image, eps_fn, guidance, trace=trace["image"], **steps)

            # 5. Post-process to [0, 1] images (the first C sample channels) and label masks
            images.append((x_image[:, :image_channels].float() / 2 + 0.5).clamp(0, 1).cpu())
            masks.append(labels.cpu())
            traces.append((n, trace))
            if callback is not None:
                callback(n)
        return SamplerOutput(torch.cat(images), torch.cat(masks), [int(s) for s in seeds], merge_guidance(traces))

    def _eps_fn(
        self, mode: torch.Tensor, cond: torch.Tensor | None, cf_weight: float, cf_double: bool = False
    ) -> EpsFn:
        """ε(x_t, t) of the denoiser for one phase, with classifier-free weighting of the mask condition; a weight of
        1 needs only the conditional call, unless ``cf_double`` makes it evaluate both halves as the released
        sampler did (same result, twice the cost: what its timing must include)."""
        device = self.device

        def eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            with autocast_context(device, self.mixed_precision):
                if cond is None or (cf_weight == 1 and not cf_double):
                    return self.denoiser(x, t, mode, cond).float()
                null = torch.zeros_like(cond)
                both = self.denoiser(torch.cat([x, x]), t, torch.cat([mode, mode]), torch.cat([cond, null])).float()
            eps_c, eps_u = both.chunk(2)
            return eps_u + cf_weight * (eps_c - eps_u)

        return eps

    def _denoise(
        self,
        x: torch.Tensor,
        eps_fn: EpsFn,
        guidance: SegmenterGuidance | None,
        num_inference_steps: int,
        every: int,
        until: float,
        trace: dict[str, list] | None = None,
    ) -> torch.Tensor:
        """One DPM-Solver++ loop from noise ``x`` (x_T) to x_0 in [-1, 1], guided at the steps of
        :func:`~methods.diffuseexpand.guidance.guided_steps`; ``trace`` gets the timesteps (``"t"``) and each step's
        guidance ratio (``"ratio"``)."""
        scheduler = self.make_scheduler()
        scheduler.set_timesteps(num_inference_steps, device=x.device)
        plan = guided_steps(scheduler.timesteps.tolist(), every, until, scheduler.config.num_train_timesteps)
        ratios = None
        if trace is not None:
            trace["t"], trace["ratio"] = [int(t) for t in scheduler.timesteps], []
            ratios = trace["ratio"]
        eps_fn = make_guided_eps_fn(eps_fn, guidance, scheduler.alphas_cumprod, plan, ratios)
        for t in scheduler.timesteps:
            x = scheduler.step(eps_fn(x, t), t, x).prev_sample
        return x


def sample_pairs(
    sampler: PairSampler,
    *,
    seeds: Sequence[int],
    batch_size: int,
    callback: Callable[[int], None] | None = None,
    **kwargs,
) -> SamplerOutput:
    """Run ``sampler`` over ``seeds`` on every process of the run and gather the pairs on each.

    Batch b (seeds ``b * batch_size`` ...) goes to process ``b mod N``; each process samples exactly the batches a
    single process would, so the gathered pairs, in seed order, are identical to a one-process run.

    Args:
        sampler: the pipeline; ``kwargs`` are its sampling arguments (steps, τ, guidance scale, ...).
        seeds: one seed per pair.
        batch_size: pairs per batch.
        callback: called on the main process after each batch with the (estimated) number of pairs finished by
            all processes so far.
    """
    state = PartialState()
    starts = list(range(0, len(seeds), batch_size))[state.process_index :: state.num_processes]
    done, finished = [], 0
    for start in starts:
        out = sampler(seeds=seeds[start : start + batch_size], batch_size=batch_size, **kwargs)
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
