"""Stage II: the noise-aware segmenter f_ψ with its mode head g_ω (paper §3.3, Eq. 4).

A time-conditioned UNet sees noised samples x_t of the denoiser's forward process and returns

* pixel logits f_ψ(x_t, t) (``N x 1 x H x W``): the mask of the clean image, trained on image samples only;
* mode logits g_ω(x_t, t) (``N x 2``, index = y1: 0 image, 1 mask), from the last decoder feature map through
  GroupNorm -> SiLU -> global average pool -> Linear, trained on every sample.

Loss (Eq. 4): soft Dice + BCE of the pixel head against the clean mask on image samples, plus the cross-entropy
of g_ω against y1 on all samples (the paper writes it as a BCE; with two logits it is the same loss).

Notes:
    Released code: a 14 M parameter ADM UNet (width 64, mult 1, 2, 2, 4, one residual block per level,
    attention in the middle block only, with 4-channel heads where we use 64) trained with a weighted-IoU +
    weighted-BCE structure loss and an extra L1 term; we use the paper's Dice + BCE. Its g_ω pools the normed
    features without an activation; we add the SiLU that ADM's own classifier head has. The COVID segmenter
    the authors used was trained on [0, 1] images while sampling feeds [-1, 1] x_t; here training and sampling
    share the denoiser's schedule and the [-1, 1] space.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel
from monai.losses import DiceLoss
from torch import nn

from bench.data import PairSet
from methods.diffuseexpand.denoiser import (
    MODE_IMAGE,
    BatchLoss,
    StepCallback,
    TrainLog,
    _jsonable,
    _norm_groups,
    atomic_save,
    build_unet,
    diffusion_samples,
    noise_scheduler,
    train_loop,
    write_json,
)

logger = logging.getLogger(__name__)


@dataclass
class SegmenterOutput:
    """Outputs of :class:`NoisySegmenter`.

    Attributes:
        logits: float ``N x 1 x H x W`` pixel logits of the foreground (f_ψ).
        mode_logits: float ``N x 2`` logits of y1 (g_ω): index 0 image, 1 mask.
    """

    logits: torch.Tensor
    mode_logits: torch.Tensor


class NoisySegmenter(nn.Module):
    """f_ψ and g_ω on one time-conditioned UNet.

    Args:
        unet: a ``UNet2DModel`` with one output channel (the pixel logits).
    """

    def __init__(self, unet: UNet2DModel) -> None:
        super().__init__()
        self.unet = unet
        width = unet.config.block_out_channels[0]
        self.mode_head = nn.Sequential(
            nn.GroupNorm(_norm_groups([width]), width),
            nn.SiLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(width, 2),
        )

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | int) -> SegmenterOutput:
        """Segment a noised sample.

        Args:
            sample: float ``N x C x H x W`` x_t in diffusion space.
            timestep: int timestep(s) of the denoiser's schedule, scalar or ``N``.
        """
        features: list[torch.Tensor] = []
        hook = self.unet.conv_norm_out.register_forward_pre_hook(lambda _m, args: features.append(args[0]))
        try:
            logits = self.unet(sample, timestep).sample
        finally:
            hook.remove()
        return SegmenterOutput(logits, self.mode_head(features[0]))

    def export_config(self) -> dict[str, Any]:
        return {"unet": _jsonable(self.unet.config)}


def build_segmenter(
    size: int,
    channels: int = 1,
    widths: Sequence[int] = (64, 128, 128, 256),
    layers_per_block: int = 1,
    attention_resolutions: Sequence[int] = (),
    head_dim: int = 64,
    seed: int = 0,
) -> NoisySegmenter:
    """Build the segmenter; defaults follow the released one (width 64, mult 1, 2, 2, 4, middle attention).

    Args:
        size: image height = width.
        channels: input channels (the denoiser's image channels).
        widths, layers_per_block, attention_resolutions, head_dim: see
            :func:`methods.diffuseexpand.denoiser.build_unet`.
        seed: initialisation seed.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = build_unet(
            size,
            channels,
            1,
            widths,
            layers_per_block,
            attention_resolutions,
            head_dim,
            mid_attention=True,
            resblock_updown=True,
            class_embedding=False,
        )
        return NoisySegmenter(unet)


def save_segmenter(segmenter: NoisySegmenter, folder: Path) -> None:
    """Write ``segmenter.json`` and ``model.pt`` (last)."""
    write_json(folder / "segmenter.json", segmenter.export_config())
    atomic_save({k: v.detach().cpu() for k, v in segmenter.state_dict().items()}, folder / "model.pt")


def load_segmenter(folder: Path, device: torch.device | str = "cpu") -> NoisySegmenter:
    """Load a segmenter written by :func:`save_segmenter`, in eval mode."""
    config = json.loads((folder / "segmenter.json").read_text())
    segmenter = NoisySegmenter(UNet2DModel.from_config(config["unet"]))
    segmenter.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
    return segmenter.to(device).eval()


def segmenter_loss(
    x0: torch.Tensor, mode: torch.Tensor, masks: torch.Tensor, *, batch_size: int, scheduler: DDPMScheduler
) -> BatchLoss:
    """The Eq. 4 batch loss on a random batch of q-sampled stage-I samples.

    Args:
        x0: float ``2N x C x H x W`` clean samples in [-1, 1] (masks and images).
        mode: int64 ``2N`` y1 of each sample.
        masks: float ``2N x 1 x H x W`` clean masks in {0, 1} (the pixel-head target).
        batch_size: samples per step.
        scheduler: the denoiser's noise schedule (its ``add_noise``).
    """
    dice = DiceLoss(sigmoid=True)
    n = x0.shape[0]
    t_max = scheduler.config.num_train_timesteps

    def loss(model: nn.Module, generator: torch.Generator) -> torch.Tensor:
        index = torch.randint(0, n, (batch_size,), generator=generator).to(x0.device)
        t = torch.randint(0, t_max, (batch_size,), generator=generator).to(x0.device)
        noise = torch.randn((batch_size, *x0.shape[1:]), generator=generator).to(x0.device)
        out = model(scheduler.add_noise(x0[index], noise, t), t)
        y1 = mode[index]
        total = F.cross_entropy(out.mode_logits.float(), y1)
        image = y1 == MODE_IMAGE
        if image.any():
            logits, target = out.logits[image].float(), masks[index][image]
            total = total + dice(logits, target) + F.binary_cross_entropy_with_logits(logits, target)
        return total

    return loss


def fit_segmenter(
    segmenter: NoisySegmenter,
    pairs: PairSet,
    *,
    steps: int,
    batch_size: int = 16,
    lr: float = 3e-4,
    seed: int = 0,
    device: torch.device | str = "cpu",
    mixed_precision: bool = True,
    scheduler_config: dict[str, Any] | None = None,
    checkpoint: Path | None = None,
    checkpoint_every: int = 0,
    callback: StepCallback | None = None,
) -> TrainLog:
    """Train the segmenter on noised real pairs (paper §3.3; released: AdamW 3e-4, constant LR, batch 16).

    Args:
        segmenter: from :func:`build_segmenter`; moved to ``device`` and left in eval mode.
        pairs: real training pairs; images float ``N x C x H x W`` in [0, 1], masks int64 ``N x H x W`` in {0, 1}.
        scheduler_config: the denoiser's noise schedule, so that x_t matches what sampling feeds.
        steps, batch_size, lr, seed, device, mixed_precision, checkpoint, checkpoint_every, callback: see
            :func:`methods.diffuseexpand.denoiser.train_loop`.
    """
    device = torch.device(device)
    x0, mode, masks = (t.to(device) for t in diffusion_samples(pairs))
    loss = segmenter_loss(x0, mode, masks, batch_size=batch_size, scheduler=noise_scheduler(scheduler_config))
    return train_loop(
        segmenter.to(device),
        loss,
        steps=steps,
        lr=lr,
        seed=seed,
        device=device,
        lr_schedule="constant",
        mixed_precision=mixed_precision,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        callback=callback,
    )
