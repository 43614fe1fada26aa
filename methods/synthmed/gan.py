"""Adversarial training as both Synthmed GANs do it: a discriminator step, then a generator step, on the project's
one training loop (:func:`bench.generator_training.train_loop`), with one-sided label smoothing and Adam's β1 = 0.5."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from bench.generator_training import PartLoss, StepCallback, TrainLog, train_loop
from methods.synthmed.networks import ImageGAN, MaskGAN
from methods.synthmed.options import SynthmedOptions


def discriminator_loss(logits: torch.Tensor, real: int, smoothing: float) -> torch.Tensor:
    """BCE of a discriminator whose first ``real`` logits are real data (target ``1 - smoothing``), rest fake."""
    target = torch.zeros_like(logits)
    target[:real] = 1 - smoothing
    return F.binary_cross_entropy_with_logits(logits, target)


def generator_loss(logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss: BCE against the 'real' target."""
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def fit_gan(
    model: MaskGAN | ImageGAN,
    losses: dict[str, PartLoss],
    steps: int,
    o: SynthmedOptions,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    checkpoint_dir: Path | None = None,
    callback: StepCallback | None = None,
) -> TrainLog:
    """Train one GAN with :func:`bench.generator_training.train_loop`: per step a discriminator update, then a
    generator update; Adam(lr, (β1, 0.999)) at a constant rate, no EMA, resumable from ``checkpoint_dir``."""
    return train_loop(
        model,
        losses,
        steps=steps,
        lr=o.lr,
        betas=(o.beta1, 0.999),
        seed=seed,
        device=device,
        lr_schedule="constant",
        ema_decay=0.0,
        mixed_precision=o.mixed_precision,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=o.checkpoint_every,
        callback=callback,
    )
