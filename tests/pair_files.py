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
