"""GenSeg's new masks: real masks under the release's geometric augmentation, the source of every generated pair.

The release (imgaug, in random order): horizontal flip with p = 0.5, crop of 0–10 % per side resized back,
scale 0.8–1.2 per axis, translation ±10 % per axis, rotation ±15°, shear ±8°. All six are affine maps, so one
pair's chain is one matrix, applied with nearest-neighbour resampling (labels stay labels; the release
interpolates linearly and thresholds at 0.1) and zero padding. XLSor's warp (``bench.segmentation.xlsor``) is a
different family (isotropic scale, elastic field), hence this small one of its own.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

FLIP_P = 0.5
CROP = 0.1
SCALE = (0.8, 1.2)
TRANSLATE = 0.1
ROTATE_DEGREES = 15.0
SHEAR_DEGREES = 8.0


def draw_affine(rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """One pair's transform of the content, in normalised coordinates (x right, y down, [-1, 1]).

    Returns:
        The 3 x 3 matrix mapping input to output positions, and the drawn parameters (``flip``, ``crop_*``
        fractions per side, ``scale_x`` / ``scale_y``, ``shift_x`` / ``shift_y`` fractions of the side,
        ``rotate`` and ``shear`` in degrees, and the ``order`` of the six steps as a string of their indices).
    """
    p: dict[str, Any] = {"flip": int(rng.random() < FLIP_P)}
    for side in ("left", "right", "top", "bottom"):
        p[f"crop_{side}"] = float(rng.uniform(0, CROP))
    p["scale_x"], p["scale_y"] = (float(v) for v in rng.uniform(*SCALE, size=2))
    p["shift_x"], p["shift_y"] = (float(v) for v in rng.uniform(-TRANSLATE, TRANSLATE, size=2))
    p["rotate"] = float(rng.uniform(-ROTATE_DEGREES, ROTATE_DEGREES))
    p["shear"] = float(rng.uniform(-SHEAR_DEGREES, SHEAR_DEGREES))
    order = rng.permutation(6)
    p["order"] = "".join(str(i) for i in order)

    def crop(a: float, b: float) -> tuple[float, float]:  # the window [-1 + 2a, 1 - 2b] stretched to [-1, 1]
        return 1 / (1 - a - b), -(a - b) / (1 - a - b)

    (cx, ox), (cy, oy) = crop(p["crop_left"], p["crop_right"]), crop(p["crop_top"], p["crop_bottom"])
    r, s = math.radians(p["rotate"]), math.tan(math.radians(p["shear"]))
    steps = [
        np.diag([-1.0 if p["flip"] else 1.0, 1.0, 1.0]),
        np.array([[cx, 0, ox], [0, cy, oy], [0, 0, 1]]),
        np.diag([p["scale_x"], p["scale_y"], 1.0]),
        np.array([[1, 0, 2 * p["shift_x"]], [0, 1, 2 * p["shift_y"]], [0, 0, 1]]),
        np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]]),
        np.array([[1, s, 0], [0, 1, 0], [0, 0, 1]]),
    ]
    matrix = np.eye(3)
    for i in order:
        matrix = steps[i] @ matrix
    return matrix, p


def warp_masks(masks: torch.Tensor, matrices: list[np.ndarray]) -> torch.Tensor:
    """Masks (int64 ``N x H x W``) moved by their content matrices, nearest-neighbour, zeros outside."""
    inverse = torch.tensor(np.stack([np.linalg.inv(m)[:2] for m in matrices]), dtype=torch.float32)
    grid = F.affine_grid(inverse, [len(masks), 1, *masks.shape[-2:]], align_corners=False).to(masks.device)
    out = F.grid_sample(masks[:, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out[:, 0].round().long()


def augment_masks(masks: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Each mask of ``masks`` (int64 ``N x H x W``) under its own random GenSeg transform from ``rng``."""
    return warp_masks(masks, [draw_affine(rng)[0] for _ in range(len(masks))])
