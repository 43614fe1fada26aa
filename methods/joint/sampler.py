"""Sampling the joint denoiser: one DPM-Solver++ loop per batch of pairs, image and mask together."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from diffusers import UNet2DModel
from diffusers.utils.torch_utils import randn_tensor

from bench.generator_training import autocast_context
from methods.diffusion.sampling import SamplerOutput
from methods.diffusion.schedule import dpm_solver, model_input, to_epsilon


class JointSampler:
    """One DPM-Solver++ loop per batch of pairs from the joint denoiser (a pipeline in the diffusers sense).

    Args:
        model (`UNet2DModel`): the joint denoiser, in eval mode.
        scheduler_config (`dict`): its forward process (``scheduler_config.json`` of its stage).
        solver_order (`int`), dynamic_thresholding (`bool`), mixed_precision (`bool`): as DiffuseExpand's sampler.
    """

    def __init__(
        self,
        model: UNet2DModel,
        *,
        scheduler_config: dict[str, Any],
        solver_order: int,
        dynamic_thresholding: bool,
        mixed_precision: bool,
    ) -> None:
        self.model = model
        self.scheduler_config = dict(scheduler_config)
        self.solver_order = solver_order
        self.dynamic_thresholding = dynamic_thresholding
        self.mixed_precision = mixed_precision

    @torch.no_grad()
    def __call__(
        self,
        *,
        seeds: Sequence[int],
        num_inference_steps: int,
        batch_size: int,
        callback: Callable[[int], None] | None = None,
    ) -> SamplerOutput:
        """Generate one pair per seed (noise from the pair's own generator, so a pair can be regenerated alone).

        Returns:
            SamplerOutput with images float ``N x C x H x W`` in [0, 1] and masks int64 ``N x H x W`` in {0, 1}
            (the last channel, binarised at 0).

        Raises:
            ValueError: for no seeds, ``num_inference_steps < 1`` or ``batch_size < 1``.
            RuntimeError: if the model is in train mode.
        """
        # 1. Check inputs and mode
        if len(seeds) == 0 or num_inference_steps < 1 or batch_size < 1:
            raise ValueError(
                f"need seeds, num_inference_steps >= 1 and batch_size >= 1, got {len(seeds)} seeds, "
                f"{num_inference_steps} steps, batch_size {batch_size}"
            )
        if any(m.training for m in self.model.modules()):
            raise RuntimeError("the joint denoiser is in train mode; call .eval() before sampling")
        device = next(self.model.parameters()).device
        unet = getattr(self.model, "unet", self.model)  # an AugmentedUNet's own UNet
        channels, size = int(unet.config.in_channels), int(unet.config.sample_size)
        # diffusers' solver converts ε and v itself; an EDM denoiser's output is turned into ε first
        prediction = "edm" if self.scheduler_config.get("prediction_type") == "edm" else "epsilon"
        solver_config = (
            {**self.scheduler_config, "prediction_type": "epsilon"} if prediction == "edm" else self.scheduler_config
        )
        images, masks = [], []
        for start in range(0, len(seeds), batch_size):
            batch = list(seeds[start : start + batch_size])
            # 2. Noise from each pair's generator
            generators = [torch.Generator().manual_seed(int(s)) for s in batch]
            x = randn_tensor((len(batch), channels, size, size), generator=generators, device=device)
            # 3. One DPM-Solver++ loop over image and mask together
            scheduler = dpm_solver(solver_config, self.solver_order, self.dynamic_thresholding)
            scheduler.set_timesteps(num_inference_steps, device=device)
            for t in scheduler.timesteps:
                with autocast_context(device, self.mixed_precision):
                    out = self.model(*model_input(x, t, scheduler.alphas_cumprod, prediction)).sample.float()
                x = scheduler.step(to_epsilon(out, x, t, scheduler.alphas_cumprod, prediction), t, x).prev_sample
            # 4. Split: image channels to [0, 1], the mask channel binarised at 0
            images.append((x[:, :-1].float() / 2 + 0.5).clamp(0, 1).cpu())
            masks.append((x[:, -1] > 0).long().cpu())
            if callback is not None:
                callback(len(batch))
        return SamplerOutput(torch.cat(images), torch.cat(masks), [int(s) for s in seeds])
