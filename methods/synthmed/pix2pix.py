"""Stage 2, the pix2pix-style image GAN: its losses on the real pairs (adversarial + λ·L1), the real masks,
jittered, that the ``pix2pix`` variant translates instead of GAN-sampled ones, and the pairs a mask-to-image
generator makes and its samples stage stores (shared with GenSeg, whose generator is a pix2pix one too)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import Affine
from monai.utils import convert_to_tensor
from torch import nn

from bench.data import save_pairs
from bench.generator_training import PartLoss
from bench.pairs import PairSet
from bench.results import GALLERY_PNG
from methods.base import PairRecord, write_records
from methods.gallery import save_gallery
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


Generated = tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]
"""Images float ``N x C x S x S`` in [0, 1], masks int64 ``N x S x S`` in {0, 1}, and per pair what made it."""


@torch.no_grad()
def translate_masks(model: nn.Module, masks: list[torch.Tensor], infos: list[dict[str, Any]], batch: int) -> Generated:
    """The pairs a generator with ``translate`` (masks in {-1, 1} to images in [-1, 1]) makes of ``masks``
    (int64 ``S x S`` each), ``batch`` masks per call; each mask's foreground fraction is added to its info."""
    device = next(model.parameters()).device
    stacked = torch.stack(masks)
    images = []
    for start in range(0, len(stacked), batch):
        m = stacked[start : start + batch, None].float().mul(2).sub(1).to(device)
        images.append((model.translate(m).float() / 2 + 0.5).clamp(0, 1).cpu())
    for info, mask in zip(infos, stacked):
        info["foreground"] = round(float(mask.float().mean()), 6)
    return torch.cat(images), stacked, infos


def kept_samples(
    generate: Callable[[list[int]], Generated], ids: list[str], seeds: list[int], name: str
) -> Callable[[Path], dict[str, Any]]:
    """The ``compute`` of a samples stage that keeps every pair: ``generate(seeds)``, the images quantised to 8
    bits, stored with ``records.csv`` and the gallery; ``done.json`` records the seconds, ``n`` and the infos."""

    def sample(folder: Path) -> dict[str, Any]:
        start = time.perf_counter()
        images, masks, infos = generate(seeds)
        pairs = PairSet(ids, (images * 255).round() / 255, masks, name, True)
        save_pairs(pairs, folder)
        write_records([PairRecord(k, s, "kept", i) for k, s, i in zip(ids, seeds, infos)], folder / "records.csv")
        save_gallery(folder / GALLERY_PNG, pairs.images, pairs.masks)
        return {"seconds": time.perf_counter() - start, "n": len(ids), "infos": infos}

    return sample
