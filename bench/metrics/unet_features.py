"""The paper's own "FID" and "IS": features of a segmentation U-Net trained on the real training split.

Notes:
    Released code (``fid_score.py``, ``is_score.py``; see the reference notes §6.2): the feature of an image is
    the U-Net's sigmoid probability map average-pooled to 32 x 32 (1024 values); FID is the Fréchet distance of
    those features. Its "IS" applies a second sigmoid to the features (values in (0.5, 0.73)), treats each of the
    N·1024 values a as a two-class posterior [a, 1 − a], takes p(y) as their mean and returns
    exp(mean KL(p(y|x) ‖ p(y))). Neither is an Inception metric; they are stored as ``fid_unet`` / ``is_unet``
    so nobody compares them with ``fid`` / ``is``. Deviations: the network is the harness's downstream U-Net
    (or the run's stage-IV filter) at the run's image size, and images are not augmented.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

POOLED = 32  # 32 x 32 = 1024-d features


@torch.no_grad()
def unet_features(
    model: nn.Module,
    images: torch.Tensor,
    device: torch.device | str = "cpu",
    batch_size: int = 32,
    progress: Any = None,
    description: str = "unet features",
) -> torch.Tensor:
    """Sigmoid probability map pooled to 32 x 32 per image.

    Args:
        model: a binary segmentation network returning logits ``N x 1 x H x W``; put in eval mode.
        images: float ``N x C x H x W`` in [0, 1].
        device: compute device.
        batch_size: images per forward pass.
        progress: a rich Progress to show a task on, or None.
        description: the task's label.

    Returns:
        float64 ``N x 1024`` in (0, 1), on CPU.

    Raises:
        ValueError: for a network with more than one output channel (the paper's metric is defined for binary
            masks).
    """
    model.eval()
    task = progress.add_task(description, total=len(images)) if progress is not None else None
    out = []
    for chunk in images.split(batch_size):
        logits = model(chunk.to(device)).float()
        if logits.shape[1] != 1:
            raise ValueError(
                f"the U-Net feature metric needs a binary network (1 logit channel), got {logits.shape[1]}"
            )
        out.append(F.adaptive_avg_pool2d(torch.sigmoid(logits), POOLED).flatten(1).double().cpu())
        if task is not None:
            progress.advance(task, len(chunk))
    return torch.cat(out) if out else torch.zeros(0, POOLED * POOLED, dtype=torch.float64)


def unet_inception_score(features: torch.Tensor) -> float:
    """The released code's per-pixel "IS" of U-Net features (module notes).

    Args:
        features: float ``N x 1024`` in (0, 1) from :func:`unet_features`.

    Returns:
        exp(mean KL) >= 1; close to 1 because the second sigmoid squeezes values into (0.5, 0.73).

    Raises:
        ValueError: for an empty feature set.
    """
    if features.numel() == 0:
        raise ValueError("is_unet needs at least one image")
    a = torch.sigmoid(features.double()).flatten()
    p = torch.stack([a, 1 - a], 1)
    py = p.mean(0, keepdim=True)
    return float(torch.exp((p * (p.log() - py.log())).sum(1).mean()))
