"""GenSeg's options and their per-preset overrides: every knob has one default, on :class:`GenSegOptions`.

Defaults are the released lung script's (``scripts/train_end2end_jsrt.sh``, pix2pix's own defaults where it keeps
them); this module imports no torch, so that a bad ``--option`` is refused at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.config import MODELS, ConfigError

CANDIDATES = 3
"""Candidate operations per searchable cell: kernels 4, 6 and 8 at stride 2 (the release's primitives)."""


@dataclass(frozen=True)
class GenSegOptions:
    """Knobs of GenSeg.

    Attributes:
        val_pairs: training pairs held back from the generator and the inner segmenter, whose loss on them steers
            the architecture search (both variants hold them back, so that they share one trained generator).
        gan_width: channels of the generator's first cell and of the PatchGAN's first layer, doubling per level
            up to 8x (pix2pix ``ngf`` / ``ndf``: 64).
        gan_steps: optimiser steps of stage I, the generator's weights trained on real pairs (architecture fixed).
        batch: pairs per GAN step, and per inner-segmenter step of the search (release: 2).
        lr: Adam learning rate of the generator and discriminator (pix2pix: 2e-4), constant.
        beta1: Adam's β1 (0.5 for GANs).
        label_smoothing: real target ``1 - label_smoothing`` of the discriminator (pix2pix: none).
        l1_weight: λ of the generator's L1 term (pix2pix: 100).
        search_steps: ``end2end`` only: steps of the search, each a GAN step (stage I again), an architecture
            step from the hypergradient (stage III) and an inner-segmenter step (stage II).
        segmenter: ``end2end`` only: the inner segmenter, a downstream model of ``bench.config.MODELS`` built
            with the run's downstream config (release: its U-Net).
        seg_lr: the inner segmenter's RMSprop rate (release: 1e-4, momentum 0.9), and the virtual step of the
            hypergradient.
        fake_weight: weight of the generated pairs' loss in the inner segmenter's loss (release ``loss_lambda``: 1).
        arch_lr: Adam rate of the architecture weights, β = (0.5, 0.999), weight decay 1e-5 (release: 1e-6).
        fd_epsilon: DARTS's finite-difference step, divided by the norm of the validation gradient (0.01).
        sample_batch: pairs per generator call when sampling.
        checkpoint_every: steps between resumable checkpoints of stage I and of the search (0: none).
        mixed_precision: bf16 autocast on CUDA for stage I (the search runs in float32: its finite differences
            need the precision).
    """

    val_pairs: int = 2
    gan_width: int = 64
    gan_steps: int = 8000
    batch: int = 2
    lr: float = 2e-4
    beta1: float = 0.5
    label_smoothing: float = 0.0
    l1_weight: float = 100.0
    search_steps: int = 5000
    segmenter: str = "unet"
    seg_lr: float = 1e-4
    fake_weight: float = 1.0
    arch_lr: float = 1e-6
    fd_epsilon: float = 0.01
    sample_batch: int = 32
    checkpoint_every: int = 250
    mixed_precision: bool = True

    def __post_init__(self) -> None:
        problems = []
        for name in ("val_pairs", "gan_width", "gan_steps", "search_steps", "sample_batch"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch < 1:
            problems.append(f"batch must be >= 1, got {self.batch}")
        for name in ("lr", "seg_lr", "arch_lr", "fd_epsilon"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.beta1 < 1:
            problems.append(f"beta1 must be in [0, 1), got {self.beta1}")
        if not 0 <= self.label_smoothing < 0.5:
            problems.append(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if self.l1_weight < 0 or self.fake_weight < 0 or self.checkpoint_every < 0:
            problems.append("l1_weight, fake_weight and checkpoint_every must be >= 0")
        if self.segmenter not in MODELS:
            problems.append(f"segmenter must be one of {', '.join(MODELS)}, got '{self.segmenter}'")
        if problems:
            raise ConfigError("genseg options: " + "; ".join(problems))

    def check_pairs(self, train: int) -> None:
        """Refuse a training split that leaves the generator fewer than 2 pairs after the validation pairs.

        Raises:
            ConfigError: naming ``val_pairs`` and the split's size.
        """
        if train - self.val_pairs < 2:
            raise ConfigError(
                f"genseg option val_pairs={self.val_pairs} leaves {train - self.val_pairs} of {train} training "
                f"pairs; the generator needs at least 2 (use val_pairs <= {max(train - 2, 0)} or more pairs)"
            )


PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"gan_width": 8, "gan_steps": 4, "search_steps": 3, "checkpoint_every": 0, "arch_lr": 1e-2},
    # 25x fewer search steps than the release: its architecture rate of 1e-6 would leave the weights where they
    # are. On CPUs the inner segmenter is the Attention U-Net, 2.4x faster per search step than the U-Net.
    "cpu": {"gan_width": 8, "gan_steps": 1000, "search_steps": 200, "segmenter": "attnunet", "arch_lr": 1e-3},
    "gpu": {"gan_width": 16, "gan_steps": 1000, "search_steps": 200, "arch_lr": 1e-3},
    "paper": {},
}  # fmt: skip
