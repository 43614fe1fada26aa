"""Per-image Dice on hard label maps (paper §4.1: Dice per image at threshold 0.5, averaged over images).

Dice = (2|P∩G| + eps) / (|P| + |G| + eps), so an image whose prediction and ground truth are both empty scores 1
and one that misses every pixel scores ~0. (The released evaluation smooths as 2(|P∩G| + eps) / (|P| + |G| + eps),
which gives 2 for two empty masks; the two differ by less than eps whenever a mask is non-empty.)
"""

from __future__ import annotations

import torch


def dice_per_image(pred: torch.Tensor, target: torch.Tensor, num_classes: int = 2, eps: float = 1e-5) -> torch.Tensor:
    """Dice score of each image.

    Args:
        pred: int or bool label map ``N x H x W`` (0 = background).
        target: int or bool label map ``N x H x W``, same shape as ``pred``.
        num_classes: number of labels including background; 2 for binary masks.
        eps: smoothing added to numerator and denominator.

    Returns:
        float32 tensor ``N`` in [0, 1]: foreground Dice for binary maps, the mean Dice over foreground classes
        ``1 .. num_classes - 1`` for multi-class maps (a class absent from both maps scores 1).

    Raises:
        ValueError: on mismatched shapes, non-3D inputs, floating-point inputs or ``num_classes < 2``.
    """
    if pred.shape != target.shape or pred.ndim != 3:
        raise ValueError(
            f"pred and target must both be N x H x W label maps, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if pred.is_floating_point() or target.is_floating_point():
        raise ValueError("dice_per_image takes integer or bool label maps; threshold probabilities first")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2 (background + foreground), got {num_classes}")
    pred, target = pred.long(), target.long()
    scores = []
    for c in range(1, num_classes):
        p = (pred == c).flatten(1).float()
        g = (target == c).flatten(1).float()
        inter = (p * g).sum(1)
        scores.append((2 * inter + eps) / (p.sum(1) + g.sum(1) + eps))
    return torch.stack(scores, 1).mean(1)


def dice_loss(pred: torch.Tensor, target: torch.Tensor, num_classes: int = 2, eps: float = 1e-5) -> torch.Tensor:
    """``1 - dice_per_image`` (float ``N``); the quantity the paper's stage-IV filter thresholds (η = 0.065)."""
    return 1 - dice_per_image(pred, target, num_classes, eps)
