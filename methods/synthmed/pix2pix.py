"""Stage 2, the pix2pix-style image GAN: its losses on the real pairs (adversarial + λ·L1), and the real masks,
jittered, that the ``pix2pix`` variant translates instead of GAN-sampled ones."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import Affine
from monai.utils import convert_to_tensor
from torch import nn

from bench.generator_training import PartLoss
from methods.synthmed.gan import discriminator_loss, generator_loss
from methods.synthmed.options import SynthmedOptions


def image_gan_losses(images: torch.Tensor, masks: torch.Tensor, o: SynthmedOptions) -> dict[str, PartLoss]:
    """Discriminator and generator (adversarial + λ·L1) losses of the image GAN on real pairs (images float
    ``N x C x S x S`` in [-1, 1], masks float ``N x 1 x S x S`` in {-1, 1})."""
    n, device = images.shape[0], images.device

    def batch(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.randint(0, n, (o.batch,), generator=generator).to(device)
        return images[index], masks[index]

    def judge(parts: dict[str, nn.Module], mask: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return parts["discriminator"](torch.cat([mask, image], dim=1))[-1]

    def discriminator(parts: dict[str, nn.Module], generator: torch.Generator) -> torch.Tensor:
        image, mask = batch(generator)
        with torch.no_grad():
            fake = torch.tanh(parts["generator"](mask))
        logits = judge(parts, torch.cat([mask, mask]), torch.cat([image, fake]))
        return discriminator_loss(logits, o.batch, o.label_smoothing)

    def generator(parts: dict[str, nn.Module], generator: torch.Generator) -> torch.Tensor:
        image, mask = batch(generator)
        fake = torch.tanh(parts["generator"](mask))
        return generator_loss(judge(parts, mask, fake)) + o.l1_weight * F.l1_loss(fake, image)

    return {"discriminator": discriminator, "generator": generator}


def jitter_mask(mask: torch.Tensor, o: SynthmedOptions, rng: np.random.Generator) -> tuple[torch.Tensor, dict]:
    """One random affine transform of a real mask (int64 ``H x W``), nearest-neighbour; returns the parameters
    drawn (``rotate`` degrees, ``zoom``, ``shift_y`` / ``shift_x`` as fractions of the side)."""
    size = mask.shape[-1]
    p = {
        "rotate": float(rng.uniform(-o.jitter_degrees, o.jitter_degrees)),
        "zoom": float(rng.uniform(1 - o.jitter_scale, 1 + o.jitter_scale)),
        "shift_y": float(rng.uniform(-o.jitter_translate, o.jitter_translate)),
        "shift_x": float(rng.uniform(-o.jitter_translate, o.jitter_translate)),
    }
    affine = Affine(
        rotate_params=math.radians(p["rotate"]),
        # MONAI's grid maps output to input pixels: the inverse of the content's shift and zoom
        scale_params=(1 / p["zoom"], 1 / p["zoom"]),
        translate_params=(-p["shift_y"] * size, -p["shift_x"] * size),
        mode="nearest",
        padding_mode="zeros",
        image_only=True,
    )
    out = convert_to_tensor(affine(mask[None].float()), track_meta=False)[0].round().long()
    return out, p
