"""Tiny hand-made pair sets for unit tests: bright discs on a dark background, the disc as the mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.pairs import PairSet


def disc_pairs(n: int = 12, size: int = 32, seed: int = 0) -> PairSet:
    """``n`` pairs of ``1 x size x size`` images in [0, 1] with one disc each (radius ``3 size / 16``)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    radius, margin = size * 3 // 16, size // 3
    images, masks = [], []
    for _ in range(n):
        cy, cx = torch.randint(margin, size - margin, (2,), generator=g).tolist()
        m = ((yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2).long()
        images.append((0.2 + 0.6 * m + 0.05 * torch.rand(size, size, generator=g)).clamp(0, 1)[None])
        masks.append(m)
    return PairSet([f"d{i:02d}" for i in range(n)], torch.stack(images), torch.stack(masks), "discs")


def write_pair(root: Path, key: str, image: np.ndarray, mask: np.ndarray) -> None:
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(root / "images" / f"{key}.png")
    Image.fromarray(mask).save(root / "masks" / f"{key}.png")


def disc_folder(root: Path, n: int = 16, size: int = 32, labels: int = 1, empty: bool = False) -> Path:
    """A valid pair-set folder of ``n`` noisy discs (mask 255, or labels 1..``labels`` as concentric rings).

    ``empty=True`` gives every pair an all-zero mask, the set that made empty-prediction Dice look perfect.
    """
    rng = np.random.default_rng(n)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        cy, cx = rng.integers(size // 3, size - size // 3, 2)
        dist = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        mask = np.zeros((size, size), np.uint8)
        if not empty:
            for k in range(labels, 0, -1):
                mask[dist <= size * k / (4 * labels)] = 255 if labels == 1 else labels + 1 - k
        image = np.clip(40 + 150 * (mask > 0) + rng.normal(0, 10, (size, size)), 0, 255).astype(np.uint8)
        write_pair(root, f"p{i:02d}", image, mask)
    return root
