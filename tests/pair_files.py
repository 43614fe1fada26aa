"""Pair-set folders written file by file: distinct images, square masks, any mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 32


def gradient(seed: int = 0, size: int = SIZE) -> np.ndarray:
    """A distinct 8-bit image per seed."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(size, size), dtype=np.uint8)


def square_mask(size: int = SIZE, value: int = 255) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    m[size // 4 : size // 2, size // 4 : 3 * size // 4] = value
    return m


def put(root: Path, sub: str, name: str, arr: np.ndarray, mode: str | None = None) -> Path:
    (root / sub).mkdir(parents=True, exist_ok=True)
    path = root / sub / name
    Image.fromarray(arr, mode=mode).save(path) if mode else Image.fromarray(arr).save(path)
    return path


def pair_folder(root: Path, ids: list[str]) -> Path:
    for i, k in enumerate(ids):
        put(root, "images", f"{k}.png", gradient(i))
        put(root, "masks", f"{k}.png", square_mask())
    return root


def disc_mask(seed: int, size: int = SIZE, value: int = 255) -> np.ndarray:
    """A disc of ``value`` at a seeded place: edges off JPEG's 8 x 8 blocks, as real outlines are."""
    rng = np.random.default_rng(seed)
    cy, cx = rng.integers(size // 3, size - size // 3, 2)
    yy, xx = np.mgrid[:size, :size]
    return np.where((yy - cy) ** 2 + (xx - cx) ** 2 <= (size // 4) ** 2, value, 0).astype(np.uint8)


def shipped_folder(root: Path, n: int, *, value: int = 255, mask_ext: str = ".png", suffix: str = "") -> Path:
    """``n`` pairs as public sets ship them: masks of 0/``value``, saved as ``mask_ext`` (``.jpg``: lossy, as
    Kvasir-SEG's), named ``<id><suffix>`` (``_segmentation``: as ISIC's) beside ``<id>.png`` images."""
    for i in range(n):
        put(root, "images", f"c{i:02d}.png", gradient(i))
        mask = disc_mask(i, value=value)
        (root / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask).save(root / "masks" / f"c{i:02d}{suffix}{mask_ext}", quality=75)
    return root
