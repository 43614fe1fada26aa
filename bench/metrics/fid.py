"""Distances between two sets of features: Fréchet distance (FID), kernel distance (KID), Inception Score.

The functions take features, not images, so the same code serves Inception features (``fid``, ``kid``, ``is``)
and the paper's U-Net features (``fid_unet``). Each raises ValueError when the sets are too small for the
number to mean anything; callers record ``null`` with that message as the reason.
"""

from __future__ import annotations

import numpy as np
import torch
from pytorch_fid.fid_score import calculate_frechet_distance
from torchmetrics.image.kid import poly_mmd

MIN_FID = 2  # a covariance needs two samples
MIN_KID = 2  # the unbiased MMD needs two samples per set
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017).

    d² = ‖μa − μb‖² + Tr Σa + Tr Σb − 2 Tr (Σa Σb)^½. When a set has fewer samples than features (the usual case
    here: tens to hundreds of images, 2048 features), the covariances have rank < D and the last trace equals
    the nuclear norm of Xa Xbᵀ / √((N−1)(M−1)) (X: centred features), an N x M problem that is exact and takes
    milliseconds, where pytorch-fid's ``sqrtm`` of a 2048 x 2048 product takes minutes on two CPU cores.
    Otherwise pytorch-fid's ``calculate_frechet_distance`` is used. The two agree to round-off (tested).

    Args:
        a: float ``N x D`` features of one set.
        b: float ``M x D`` features of the other set.

    Returns:
        The distance (>= 0 up to round-off; 0 for identical sets).

    Raises:
        ValueError: fewer than 2 samples in a set, or different feature sizes.
    """
    _check(a, b, MIN_FID, "FID")
    a, b = a.double(), b.double()
    if min(len(a), len(b)) > a.shape[1]:
        stats = [(x.mean(0).numpy(), np.cov(x.numpy(), rowvar=False)) for x in (a, b)]
        return float(calculate_frechet_distance(*stats[0], *stats[1]))
    xa, xb = a - a.mean(0), b - b.mean(0)
    na, nb = len(a) - 1, len(b) - 1
    cross = torch.linalg.svdvals(xa @ xb.T).sum() / np.sqrt(na * nb)
    d2 = (a.mean(0) - b.mean(0)).square().sum() + xa.square().sum() / na + xb.square().sum() / nb - 2 * cross
    return float(d2)


def kernel_distance(
    a: torch.Tensor,
    b: torch.Tensor,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD² with a cubic polynomial kernel.

    Subsets of ``min(subset_size, N, M)`` samples are drawn without replacement ``subsets`` times, as
    torchmetrics' ``KernelInceptionDistance`` does, with a seeded generator.

    Args:
        a: float ``N x D`` features.
        b: float ``M x D`` features.
        subsets: number of random subsets.
        subset_size: samples per subset (capped by the smaller set).
        seed: seed of the subset draws.

    Returns:
        (mean, std) of MMD² over the subsets; the mean is ~0 for sets from one distribution and may be
        slightly negative (the estimator is unbiased).

    Raises:
        ValueError: fewer than 2 samples in a set, or different feature sizes.
    """
    _check(a, b, MIN_KID, "KID")
    k = min(subset_size, len(a), len(b))
    g = torch.Generator().manual_seed(seed)
    a, b = a.double(), b.double()
    values = torch.stack(
        [
            poly_mmd(a[torch.randperm(len(a), generator=g)[:k]], b[torch.randperm(len(b), generator=g)[:k]])
            for _ in range(subsets)
        ]
    )
    return float(values.mean()), float(values.std(unbiased=False))


def inception_score(logits: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016) from classifier logits: exp E[KL(p(y|x) ‖ p(y))] per split.

    Args:
        logits: float ``N x K`` classifier logits of N images.
        splits: the images are cut into this many equal parts (capped at N); the score is computed per part.

    Returns:
        (mean, std) over the splits; 1 (no information) to K.

    Raises:
        ValueError: for fewer than 2 images.
    """
    if len(logits) < 2:
        raise ValueError(f"IS needs at least 2 images, got {len(logits)}")
    scores = []
    for part in logits.double().chunk(min(splits, len(logits))):
        log_p = torch.log_softmax(part, 1)
        log_py = torch.logsumexp(log_p, 0) - np.log(len(part))
        scores.append(torch.exp((log_p.exp() * (log_p - log_py)).sum(1).mean()))
    values = torch.stack(scores)
    return float(values.mean()), float(values.std(unbiased=False))


def _check(a: torch.Tensor, b: torch.Tensor, least: int, what: str) -> None:
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"{what} needs two N x D feature sets of one size, got {tuple(a.shape)} and {tuple(b.shape)}")
    if min(len(a), len(b)) < least:
        raise ValueError(f"{what} needs at least {least} images per set, got {len(a)} and {len(b)}")
