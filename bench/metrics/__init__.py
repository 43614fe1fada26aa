"""Evaluation metrics: per-image Dice (and, in sibling modules, FID / IS)."""

from bench.metrics.dice import dice_loss, dice_per_image

__all__ = ["dice_loss", "dice_per_image"]
