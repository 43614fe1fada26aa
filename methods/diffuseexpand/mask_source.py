"""Where a generated pair's mask comes from: DiffuseExpand's mask phase (``diffusion``, the paper) or a real training
mask under a random affine + elastic warp (``augmented``), the alternative GenSeg and Siamese-Diffusion use.

With ``augmented`` the image phase, its guidance and stage IV run unchanged on the warped mask, so a comparison of
the two sources with the same pair seeds measures the mask phase alone. The warp is the ``xlsor`` method's
(:func:`bench.segmentation.xlsor.warp_pair`, its default ranges), masks resampled with nearest neighbours so that
multi-class labels stay labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from bench.pairs import PairSet
from bench.segmentation.xlsor import XLSorOptions, warp_pair

WARP = XLSorOptions()
WARP_KEYS = ("rotate_degrees", "scale", "translate", "shear", "elastic_magnitude", "elastic_spacing")
WARP_RECORD = ("rotate", "zoom", "shift_y", "shift_x", "shear_y", "shear_x", "elastic")  # what warp_pair draws


def warp_knobs() -> dict[str, float]:
    """The warp's ranges, as they enter the samples stage's key."""
    return {k: getattr(WARP, k) for k in WARP_KEYS}


def augmented_mask(train: PairSet, index: int, seed: int) -> tuple[torch.Tensor, dict[str, Any]]:
    """Pair ``index``'s mask: training mask ``index mod N`` warped with parameters drawn from ``seed`` alone.

    Returns:
        The mask (int64 ``H x W``, the training labels) and its record: ``source`` (the training pair's id) and the
        drawn warp (``rotate``, ``zoom``, ``shift_y``, ``shift_x``, ``shear_y``, ``shear_x``, ``elastic``).
    """
    j = index % len(train)
    _, mask, params = warp_pair(train.images[j], train.masks[j], WARP, np.random.default_rng(seed))
    return mask, {"source": train.ids[j], **{k: round(v, 6) for k, v in params.items()}}


def augmented_masks(train: PairSet, seeds: Sequence[int]) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """:func:`augmented_mask` for every pair seed, in order: masks ``N x H x W`` and one record per pair."""
    drawn = [augmented_mask(train, i, int(seed)) for i, seed in enumerate(seeds)]
    return torch.stack([m for m, _ in drawn]), [r for _, r in drawn]


def source_record(row: dict[str, str]) -> dict[str, Any]:
    """An augmented mask's record (its training pair and warp) read back from a records.csv row; empty for a
    sampled mask."""
    if "source" not in row:
        return {}
    return {"source": row["source"], **{k: float(row[k]) for k in WARP_RECORD}}
