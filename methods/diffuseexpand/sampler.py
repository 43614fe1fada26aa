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
is recorded per step and phase (:attr:`methods.diffusion.sampling.SamplerOutput.guidance`). Every pair has its own
seed and ``torch.Generator`` (mask noise first, then image noise), so a pair can be regenerated alone.
:func:`methods.diffusion.sample_pairs` shares the batches out over the processes of a multi-process run; every
batch is the one a single process would sample, so the pair set is the same whatever the process count. What is
sampled (solver, steps, guidance and its thinning, τ, classifier-free weight, ...) is one
:class:`~methods.diffuseexpand.sampling_config.SamplingConfig`.

Notes:
    The released sampler left the denoiser in train mode, so its mask condition was dropped at random
    (p = 0.5) at every network call; here every network must be in eval mode (a ``RuntimeError`` otherwise).
    The solver is :func:`methods.diffusion.dpm_solver` (dynamic thresholding as in Imagen / DPM-Solver).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from diffusers import DPMSolverMultistepScheduler
from diffusers.utils.torch_utils import randn_tensor
from torch import nn

from bench.generator_training import autocast_context
from methods.diffuseexpand.guidance import PHASES, EpsFn, SegmenterGuidance, guided_steps, make_guided_eps_fn
from methods.diffuseexpand.labels import decode_masks, mode_filter, one_hot
from methods.diffuseexpand.networks import MODE_IMAGE, MODE_MASK, Denoiser
from methods.diffuseexpand.sampling_config import SamplingConfig
from methods.diffusion.sampling import SamplerOutput, merge_guidance
from methods.diffusion.schedule import NOISE_SCHEDULE, dpm_solver, model_input, noise_scheduler, to_epsilon

logger = logging.getLogger(__name__)


def guidance_stats(guidance: dict[str, dict[str, list]]) -> dict[str, Any]:
    """What a pair set records of its guidance: per phase the per-step ratios (``guidance``) and their mean over the
    steps (``guidance_ratio_mask``, ``guidance_ratio_image``, scalars for tables and W&B summaries).

    ``guidance`` is :attr:`~methods.diffusion.sampling.SamplerOutput.guidance` here: per phase each solver step's
    timestep and the mean over the pairs of ‖s·σ_t·∇ₓ log p‖ / ‖ε‖ (0 at unguided steps)."""
    if not guidance:
        return {}
    rounded = {p: {"t": g["t"], "ratio": [float(f"{r:.4g}") for r in g["ratio"]]} for p, g in guidance.items()}
    means = {f"guidance_ratio_{p}": float(f"{np.mean(g['ratio']):.4g}") for p, g in guidance.items()}
    return {"guidance": rounded, **means}


def _require_eval(module: nn.Module | None, name: str) -> None:
    if module is not None and any(m.training for m in module.modules()):
        raise RuntimeError(f"the {name} is in train mode; call .eval() before sampling")


class PairSampler:
    """Two-phase sampler of image-mask pairs (a pipeline in the diffusers sense).

    Args:
        denoiser (:class:`~methods.diffuseexpand.networks.Denoiser`): the stage-I ε-predictor, in eval mode.
        segmenter (`nn.Module`, *optional*): the stage-II segmenter for classifier guidance, in eval mode.
        scheduler_config (`dict`, *optional*, defaults to the denoiser's training schedule): the forward process
            (T, β schedule, ε-prediction); must be the one the denoiser was trained with.
        mixed_precision (`bool`): bf16 autocast for the networks on CUDA.
        thresholding_ratio (`float`, *optional*, defaults to 0.995): the dynamic-thresholding quantile.
    """

    def __init__(
        self,
        denoiser: Denoiser,
        segmenter: nn.Module | None = None,
        *,
        scheduler_config: dict[str, Any] | None = None,
        mixed_precision: bool,
        thresholding_ratio: float = 0.995,
    ) -> None:
        self.denoiser = denoiser
        self.segmenter = segmenter
        self.scheduler_config = dict(scheduler_config or NOISE_SCHEDULE)
        # the networks' output is turned into ε before guidance, so the solver always takes ε
        self.prediction = self.scheduler_config.get("prediction_type", "epsilon")
        self.alphas_cumprod = noise_scheduler(self.scheduler_config).alphas_cumprod
        self.thresholding_ratio = thresholding_ratio
        self.mixed_precision = mixed_precision

    @property
    def device(self) -> torch.device:
        return next(self.denoiser.parameters()).device

    def make_scheduler(self, solver_order: int, dynamic_thresholding: bool) -> DPMSolverMultistepScheduler:
        """A fresh solver (it keeps a history of model outputs, so one instance serves one loop)."""
        config = {**self.scheduler_config, "prediction_type": "epsilon"}
        return dpm_solver(config, solver_order, dynamic_thresholding, self.thresholding_ratio)

    def check_inputs(self, seeds: Sequence[int], config: SamplingConfig, batch_size: int) -> None:
        """Raise ``ValueError`` for what this sampler's networks cannot do (the knobs' own ranges are
        :class:`SamplingConfig`'s)."""
        if len(seeds) == 0:
            raise ValueError("seeds is empty: nothing to sample")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if config.guidance_scale > 0 and self.segmenter is None:
            raise ValueError(f"guidance_scale={config.guidance_scale} needs a segmenter")
        if config.image_objective == "wiou-wbce" and config.guidance_scale > 0 and self.denoiser.mask_channels > 1:
            raise ValueError(
                f"image_objective 'wiou-wbce' is defined for binary masks; the denoiser generates "
                f"{self.denoiser.mask_channels} foreground classes: use 'likelihood'"
            )

    @torch.no_grad()
    def __call__(
        self,
        *,
        seeds: Sequence[int],
        config: SamplingConfig,
        batch_size: int,
        callback: Callable[[int], None] | None = None,
        masks: torch.Tensor | None = None,
    ) -> SamplerOutput:
        """Generate one pair per seed.

        Args:
            seeds: one seed per pair (see :func:`methods.base.pair_seeds`).
            config: what to sample with: solver order and steps per phase, guidance scale (0: the "CF" ablation,
                no segmenter needed), τ, where guidance is computed, classifier-free weight, image objective and
                its reduction, mask median filter, dynamic thresholding.
            batch_size: pairs per batch.
            callback: called with the number of pairs finished after each batch.
            masks: int64 ``N x H x W``, one label map per seed, to generate images for instead of sampling masks
                (``mask_source="augmented"``): the mask phase is skipped, each pair's image noise is unchanged.

        Returns:
            SamplerOutput with images float ``N x C x H x W`` in [0, 1], masks int64 ``N x H x W`` with labels
            0..K ({0, 1} for binary masks) and the guidance strength per step and phase (see :func:`guidance_stats`).

        Raises:
            ValueError: from :meth:`check_inputs`.
            RuntimeError: if the denoiser or the segmenter is in train mode.

        Example:
            >>> o = DiffuseExpandOptions(tau=0.5)
            >>> sampler = PairSampler(denoiser.eval(), segmenter.eval(),
            ...     mixed_precision=o.mixed_precision)
            >>> out = sampler(seeds=pair_seeds(0, 8), config=SamplingConfig.from_options(o), batch_size=o.sample_batch)
            >>> out.images.shape, out.masks.unique()
        """
        # 1. Check inputs and modes
        self.check_inputs(seeds, config, batch_size)
        if masks is not None and (masks.ndim != 3 or len(masks) != len(seeds)):
            raise ValueError(f"masks must be one N x H x W label map per seed, got {tuple(masks.shape)}")
        _require_eval(self.denoiser, "denoiser")
        guided = config.guidance_scale > 0
        if guided:
            _require_eval(self.segmenter, "segmenter")
        device = self.device
        c, size = self.denoiser.channels, self.denoiser.size
        k, image_channels = self.denoiser.mask_channels, self.denoiser.image_channels
        images, labels_out, traces = [], [], []
        for start in range(0, len(seeds), batch_size):
            batch = list(seeds[start : start + batch_size])
            n = len(batch)
            # 2. Prepare the noise: per pair, mask noise then image noise from the pair's own generator
            generators = [torch.Generator().manual_seed(int(s)) for s in batch]
            noise_mask = randn_tensor((n, c, size, size), generator=generators, device=device)
            noise_image = randn_tensor((n, c, size, size), generator=generators, device=device)

            # 3. Mask phase: y1 = mask, guided towards log p_τ(y1 = mask | x_t); or the given masks
            trace: dict[str, dict[str, list]] = {phase: {} for phase in PHASES}
            if masks is None:
                mode = torch.full((n,), MODE_MASK, dtype=torch.long, device=device)
                eps_fn = self._eps_fn(mode, None, 1.0)
                guidance = (
                    SegmenterGuidance(self.segmenter, "mask", tau=config.tau, scale=config.guidance_scale)
                    if guided and config.guide_mask_phase
                    else None
                )
                x_mask = self._denoise(noise_mask, eps_fn, guidance, config, trace["mask"])
                labels = decode_masks(x_mask, k)
                if config.mask_median > 1:
                    labels = mode_filter(labels, k, config.mask_median)
            else:
                labels = masks[start : start + n].to(device=device, dtype=torch.long)
                del trace["mask"]

            # 4. Image phase: y1 = image, y2 = the mask (one-hot for K > 1), guided towards its label map
            mode = torch.full((n,), MODE_IMAGE, dtype=torch.long, device=device)
            eps_fn = self._eps_fn(mode, one_hot(labels, k), config.cf_weight, config.cf_double)
            guidance = (
                SegmenterGuidance(
                    self.segmenter,
                    "image",
                    mask=labels[:, None].float(),
                    tau=config.tau,
                    scale=config.guidance_scale,
                    image_objective=config.image_objective,
                    reduction=config.guidance_reduction,
                )
                if guided and config.guide_image_phase
                else None
            )
            x_image = self._denoise(noise_image, eps_fn, guidance, config, trace["image"])

            # 5. Post-process to [0, 1] images (the first C sample channels) and label masks
            images.append((x_image[:, :image_channels].float() / 2 + 0.5).clamp(0, 1).cpu())
            labels_out.append(labels.cpu())
            traces.append((n, trace))
            if callback is not None:
                callback(n)
        return SamplerOutput(torch.cat(images), torch.cat(labels_out), [int(s) for s in seeds], merge_guidance(traces))

    def _eps_fn(
        self, mode: torch.Tensor, cond: torch.Tensor | None, cf_weight: float, cf_double: bool = False
    ) -> EpsFn:
        """ε(x_t, t) of the denoiser for one phase, with classifier-free weighting of the mask condition; a weight of
        1 needs only the conditional call, unless ``cf_double`` makes it evaluate both halves as the released
        sampler did (same result, twice the cost: what its timing must include). A v-predicting or EDM denoiser is
        given its own inputs and its output is turned into ε first (:func:`methods.diffusion.schedule.model_input`,
        :func:`~methods.diffusion.schedule.to_epsilon`)."""
        device = self.device

        def output(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            with autocast_context(device, self.mixed_precision):
                if cond is None or (cf_weight == 1 and not cf_double):
                    return self.denoiser(x, t, mode, cond).float()
                null = torch.zeros_like(cond)
                both = self.denoiser(torch.cat([x, x]), t, torch.cat([mode, mode]), torch.cat([cond, null])).float()
            out_c, out_u = both.chunk(2)
            return out_u + cf_weight * (out_c - out_u)

        def eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            x_in, t_in = model_input(x, t, self.alphas_cumprod, self.prediction)
            return to_epsilon(output(x_in, t_in), x, t, self.alphas_cumprod, self.prediction)

        return eps

    def _denoise(
        self,
        x: torch.Tensor,
        eps_fn: EpsFn,
        guidance: SegmenterGuidance | None,
        config: SamplingConfig,
        trace: dict[str, list] | None = None,
    ) -> torch.Tensor:
        """One DPM-Solver++ loop from noise ``x`` (x_T) to x_0 in [-1, 1], guided at the steps of
        :func:`~methods.diffuseexpand.guidance.guided_steps`; ``trace`` gets the timesteps (``"t"``) and each step's
        guidance ratio (``"ratio"``)."""
        scheduler = self.make_scheduler(config.solver_order, config.dynamic_thresholding)
        scheduler.set_timesteps(config.steps, device=x.device)
        plan = guided_steps(
            scheduler.timesteps.tolist(),
            config.guidance_every,
            config.guidance_until,
            scheduler.config.num_train_timesteps,
        )
        ratios = None
        if trace is not None:
            trace["t"], trace["ratio"] = [int(t) for t in scheduler.timesteps], []
            ratios = trace["ratio"]
        eps_fn = make_guided_eps_fn(eps_fn, guidance, scheduler.alphas_cumprod, plan, ratios)
        for t in scheduler.timesteps:
            x = scheduler.step(eps_fn(x, t), t, x).prev_sample
        return x
