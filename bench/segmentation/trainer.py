"""Downstream segmentation training and evaluation (paper §4.1).

Adam at ``cfg.lr`` with a per-iteration cosine schedule after a linear warm-up, ``cfg.epochs`` epochs (or exactly
``cfg.steps`` optimiser steps) at ``cfg.batch_size``, loss ``bce+dice`` or ``l1+dice`` with the sigmoid applied once
(the released code applied it twice in the Dice term). Evaluation thresholds at 0.5 and reports Dice per test image,
with the test set never augmented. :class:`SegmentationTrainer` has nnU-Net-style hooks (``build_model``,
``build_loss``, ``configure_optimizers``): a variant overrides one and is named for it.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss
from timm.scheduler import CosineLRScheduler
from torch import nn

from bench.config import AUGMENTS, LOSSES, MODELS, TrainConfig
from bench.metrics.dice import dice_per_image
from bench.pairs import PairSet
from bench.segmentation import models
from bench.segmentation.augment import augment_batch
from bench.segmentation.mixing import batch_order

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """A finished training run.

    Attributes:
        model: the trained network, in eval mode, on the training device.
        losses: mean training loss of each epoch.
        seconds: wall time of the training loop.
        steps: optimiser steps taken.
    """

    model: nn.Module
    losses: list[float]
    seconds: float
    steps: int


class SegmentationLoss(nn.Module):
    """Pixel loss + soft Dice on logits ``N x O x H x W`` and integer masks ``N x H x W``.

    Binary (O = 1): ``bce+dice`` = BCE-with-logits + soft Dice on sigmoid probabilities; ``l1+dice`` = L1 between
    sigmoid probabilities and the mask + soft Dice. The sigmoid is applied once. Multi-class (O > 1): cross
    entropy (``bce+dice``) or L1 between softmax probabilities and one-hot masks (``l1+dice``), plus soft Dice
    on softmax probabilities over the foreground classes. Dice is computed per image and averaged (MONAI).
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        if kind not in LOSSES:
            raise ValueError(f"unknown loss '{kind}'; known: {', '.join(LOSSES)}")
        self.kind = kind
        self.binary_dice = DiceLoss()
        self.multi_dice = DiceLoss(include_background=False, to_onehot_y=True)

    def forward(self, logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if logits.shape[1] == 1:
            target = masks[:, None].float()
            probs = torch.sigmoid(logits)
            if self.kind == "bce+dice":
                pixel = F.binary_cross_entropy_with_logits(logits, target)
            else:
                pixel = F.l1_loss(probs, target)
            return pixel + self.binary_dice(probs, target)
        probs = logits.softmax(1)
        if self.kind == "bce+dice":
            pixel = F.cross_entropy(logits, masks)
        else:
            pixel = F.l1_loss(probs, F.one_hot(masks, logits.shape[1]).permute(0, 3, 1, 2).float())
        return pixel + self.multi_dice(probs, masks[:, None])


class SegmentationTrainer:
    """Trains one downstream network on a pair set.

    Args:
        model_name: one of ``bench.config.MODELS``.
        cfg: training knobs.
        device: where to train.
        augment: training-batch augmentation, one of ``bench.config.AUGMENTS``.
        progress: optional ``rich.progress.Progress``; one task per fit, advanced every step.
        description: label of that task.
    """

    def __init__(
        self,
        model_name: str,
        cfg: TrainConfig,
        device: torch.device,
        augment: str = "none",
        progress: Any = None,
        description: str = "train",
    ) -> None:
        if model_name not in MODELS:
            raise ValueError(f"unknown model '{model_name}'; known models: {', '.join(MODELS)}")
        if augment not in AUGMENTS:
            raise ValueError(f"unknown augmentation '{augment}'; known: {', '.join(AUGMENTS)}")
        if cfg.epochs < 1 or cfg.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {cfg.epochs} and {cfg.batch_size}")
        self.model_name = model_name
        self.cfg = cfg
        self.device = torch.device(device)
        self.augment = augment
        self.progress = progress
        self.description = description

    def build_model(self, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
        """The randomly initialised network (logits out); seeded by :meth:`fit`."""
        return models.build_model(self.model_name, in_channels, num_classes, image_size, self.cfg)

    def build_loss(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """Loss ``(logits N x O x H x W, masks int N x H x W) -> scalar`` named by ``cfg.loss``."""
        return SegmentationLoss(self.cfg.loss)

    def total_steps(self, steps_per_epoch: int) -> tuple[int, int]:
        """Optimiser steps of the whole run and of its warm-up: ``cfg.steps`` when set, else by epochs."""
        cfg = self.cfg
        if cfg.steps:
            return cfg.steps, round(cfg.steps * cfg.warmup_epochs / cfg.epochs)
        return cfg.epochs * steps_per_epoch, cfg.warmup_epochs * steps_per_epoch

    def configure_optimizers(self, model: nn.Module, steps_per_epoch: int) -> tuple[torch.optim.Optimizer, Any]:
        """Adam at ``cfg.lr`` and timm's cosine schedule stepped per iteration (``step_update``).

        The learning rate rises linearly from ``cfg.warmup_lr`` over the warm-up (``cfg.warmup_epochs`` epochs, or
        that share of ``cfg.steps``), then follows a cosine down to ``cfg.min_lr`` at the end of training. As in the
        released code the cosine spans the whole run (timm's default ``warmup_prefix=False``), so the warm-up ends
        slightly below ``cfg.lr`` (0.976 x lr for 5 of 50 epochs).
        """
        cfg = self.cfg
        total, warmup = self.total_steps(steps_per_epoch)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        scheduler = CosineLRScheduler(
            optimizer,
            t_initial=total,
            warmup_t=warmup,
            warmup_lr_init=cfg.warmup_lr,
            lr_min=cfg.min_lr,
            t_in_epochs=False,
        )
        return optimizer, scheduler

    def fit(self, train: PairSet, seed: int, generated: PairSet | None = None) -> TrainResult:
        """Train a fresh network on ``train`` (and ``generated``).

        The network is initialised under ``seed`` (global RNG forked, not touched); a ``torch.Generator(seed)``
        drives shuffling and augmentation, so on CPU the same seed gives bit-identical weights. Each epoch is
        cut into ``ceil(N / batch_size)`` batches of near-equal size instead of leaving a short last batch (every
        sample is used; a batch of one would break BatchNorm at the 1 x 1 bottleneck of small inputs). With
        ``cfg.steps`` the epochs repeat until that many steps are taken, the last one cut short. With ``generated``
        pairs, ``cfg.mixing`` and ``cfg.synthetic_share`` decide which kind each batch draws
        (:func:`~bench.segmentation.mixing.batch_order`); the budget is that of the two sets pooled either way.

        Args:
            train: square images float ``N x C x S x S`` in [0, 1], masks int ``N x S x S`` (the real pairs, when
                ``generated`` is given).
            seed: seed of initialisation, shuffling and augmentation.
            generated: generated pairs trained on beside ``train``; None or empty: ``train`` alone.
        """
        real = train
        if generated is not None and len(generated):
            train = PairSet.concat([real, generated], f"{real.name}+synthetic")
        n = len(train)
        if n == 0:
            raise ValueError(f"training set '{train.name}' is empty")
        channels, height, width = train.images.shape[1:]
        if height != width:
            raise ValueError(f"training images must be square, got {height}x{width} in '{train.name}'")
        cfg, device = self.cfg, self.device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self.build_model(channels, train.num_classes, height)
        model.to(device)
        loss_fn = self.build_loss()
        steps_per_epoch = math.ceil(n / cfg.batch_size)
        optimizer, scheduler = self.configure_optimizers(model, steps_per_epoch)
        total_steps, _ = self.total_steps(steps_per_epoch)
        epochs = math.ceil(total_steps / steps_per_epoch)
        generator = torch.Generator().manual_seed(seed)
        use_bf16 = device.type == "cuda" and cfg.mixed_precision
        task = None
        if self.progress is not None:
            task = self.progress.add_task(self.description, total=total_steps)
        losses: list[float] = []
        step = 0
        start = time.perf_counter()
        model.train()
        order = batch_order(len(real), n - len(real), cfg, total_steps, steps_per_epoch, generator)
        for epoch, batches in itertools.groupby(order, key=lambda batch: batch[0]):
            total, seen = 0.0, 0
            for _, idx in batches:
                images, masks = augment_batch(self.augment, train.images[idx], train.masks[idx], generator)
                images, masks = images.to(device), masks.to(device)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    logits = model(images)
                loss = loss_fn(logits, masks)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                scheduler.step_update(step)
                value = loss.item()
                total += value * len(idx)
                seen += len(idx)
                if task is not None:
                    self.progress.update(
                        task,
                        advance=1,
                        description=f"{self.description} epoch {epoch + 1}/{epochs} loss {value:.4f}",
                    )
            losses.append(total / seen)
            logger.debug(
                "%s epoch %d/%d loss %.4f lr %.3g (%.1fs)",
                self.description,
                epoch + 1,
                epochs,
                losses[-1],
                optimizer.param_groups[0]["lr"],
                time.perf_counter() - start,
            )
        model.eval()
        return TrainResult(model, losses, time.perf_counter() - start, step)


def train_segmentation(
    train: PairSet,
    model_name: str,
    cfg: TrainConfig,
    seed: int,
    device: torch.device,
    augment: str = "none",
    progress: Any = None,
    description: str = "train",
    generated: PairSet | None = None,
) -> TrainResult:
    """Train ``model_name`` on ``train`` (and ``generated``) with :class:`SegmentationTrainer` (see its ``fit``)."""
    return SegmentationTrainer(model_name, cfg, device, augment, progress, description).fit(train, seed, generated)


def _predict(
    model: nn.Module, images: torch.Tensor, device: torch.device, batch_size: int
) -> tuple[torch.Tensor, int]:
    """Labels ``N x H x W`` (int64, CPU) and the number of classes the model predicts (2 for binary)."""
    if images.ndim != 4:
        raise ValueError(f"images must be N x C x H x W, got {tuple(images.shape)}")
    model.eval()
    labels, out_channels = [], None
    with torch.no_grad():
        for chunk in images.split(batch_size):
            logits = model(chunk.to(device)).float()
            out_channels = logits.shape[1]
            pred = torch.sigmoid(logits[:, 0]) > 0.5 if out_channels == 1 else logits.argmax(1)
            labels.append(pred.long().cpu())
    if not labels:
        return torch.zeros(0, *images.shape[-2:], dtype=torch.long), 2
    return torch.cat(labels), max(2, out_channels)


def predict(model: nn.Module, images: torch.Tensor, device: torch.device, batch_size: int = 32) -> torch.Tensor:
    """Hard labels of ``images`` (float ``N x C x H x W``): int64 ``N x H x W`` on CPU.

    Binary networks (one logit channel) give ``sigmoid > 0.5``; multi-class ones the argmax. The model is put
    in eval mode and run without gradients.
    """
    return _predict(model, images, torch.device(device), batch_size)[0]


def evaluate(model: nn.Module, test: PairSet, device: torch.device, batch_size: int = 32) -> torch.Tensor:
    """Dice of each test image (float ``N``) between :func:`predict` and ``test.masks``; no augmentation."""
    labels, num_classes = _predict(model, test.images, torch.device(device), batch_size)
    if len(test) and test.num_classes > num_classes:
        raise ValueError(
            f"the model predicts {num_classes} classes but '{test.name}' has labels up to {test.num_classes - 1}"
        )
    return dice_per_image(labels, test.masks, num_classes)
