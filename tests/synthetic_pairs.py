"""Tiny hand-made pair sets for unit tests: bright discs on a dark background, the disc as the mask."""

from __future__ import annotations

import torch

from bench.data import PairSet


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
