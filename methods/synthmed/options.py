"""Synthmed's options and their per-preset overrides: every knob has one default, on :class:`SynthmedOptions`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.config import ConfigError


@dataclass(frozen=True)
class SynthmedOptions:
    """Knobs of the dual GAN.

    Attributes:
        latent_dim: length of the mask GAN's noise vector (DCGAN: 100).
        mask_gan_width: channels of the mask GAN's widest-resolution layer; they double per halving, up to 8x.
        mask_gan_steps: optimiser steps of the mask GAN (one discriminator + one generator update each).
        image_gan_width: channels of the U-Net's and the PatchGAN's first layer, doubling per level up to 8x.
        image_gan_steps: optimiser steps of the image GAN.
        batch: pairs per step, both GANs.
        lr: Adam learning rate of every network (pix2pix and DCGAN: 2e-4), constant.
        beta1: Adam's β1 (0.5 for GANs).
        label_smoothing: one-sided: the discriminators' target for real data is ``1 - label_smoothing``.
        l1_weight: λ of the image GAN's L1 term (pix2pix: 100).
        jitter_degrees, jitter_translate, jitter_scale: ``pix2pix`` variant only: the affine jitter of a real mask
            (rotation in ±degrees, shift in ± fraction of the side, zoom in 1 ± scale).
        sample_batch: pairs per generator call when sampling.
        checkpoint_every: optimiser steps between training checkpoints (0: none).
        mixed_precision: bf16 autocast on CUDA.
    """

    latent_dim: int = 100
    mask_gan_width: int = 64
    mask_gan_steps: int = 8000
    image_gan_width: int = 64
    image_gan_steps: int = 8000
    batch: int = 16
    lr: float = 2e-4
    beta1: float = 0.5
    label_smoothing: float = 0.1
    l1_weight: float = 100.0
    jitter_degrees: float = 10.0
    jitter_translate: float = 0.06
    jitter_scale: float = 0.08
    sample_batch: int = 32
    checkpoint_every: int = 250
    mixed_precision: bool = True

    def __post_init__(self) -> None:
        problems = []
        for name in ("latent_dim", "mask_gan_width", "mask_gan_steps", "image_gan_width", "image_gan_steps"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch < 2:
            problems.append(f"batch must be >= 2 (the generators use batch normalisation), got {self.batch}")
        if self.sample_batch < 1:
            problems.append(f"sample_batch must be >= 1, got {self.sample_batch}")
        if not (self.lr > 0 and 0 <= self.beta1 < 1):
            problems.append(f"need lr > 0 and beta1 in [0, 1), got lr {self.lr}, beta1 {self.beta1}")
        if not 0 <= self.label_smoothing < 0.5:
            problems.append(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if self.l1_weight < 0 or self.checkpoint_every < 0:
            problems.append("l1_weight and checkpoint_every must be >= 0")
        if not (0 <= self.jitter_degrees <= 180 and 0 <= self.jitter_translate < 0.5 and 0 <= self.jitter_scale < 1):
            problems.append("need jitter_degrees in [0, 180], jitter_translate in [0, 0.5), jitter_scale in [0, 1)")
        if problems:
            raise ConfigError("synthmed options: " + "; ".join(problems))


PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"latent_dim": 16, "mask_gan_width": 8, "mask_gan_steps": 4, "image_gan_width": 8,
              "image_gan_steps": 4, "batch": 4, "checkpoint_every": 0},
    "cpu": {"latent_dim": 64, "mask_gan_width": 16, "mask_gan_steps": 1000, "image_gan_width": 16,
            "image_gan_steps": 1000},
    "gpu": {"latent_dim": 64, "mask_gan_width": 16, "mask_gan_steps": 1000, "image_gan_width": 16,
            "image_gan_steps": 1000},  # the cpu budget: not scaled up yet
    "paper": {},
}  # fmt: skip
