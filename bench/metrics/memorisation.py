"""Did the generator copy its training set? Nearest real training image of every generated image, two ways.

* In Inception space: each generated image's nearest real training image by cosine distance between Inception
  features, and the pixel SSIM of that pair. A generated image counts as *close* when it is nearer to a training
  image than real training images typically are to each other: closer than the median, over real images, of each
  one's distance to its nearest *other* real image.
* In pixels: each generated image's highest SSIM to a real training image. It counts as a *copy* when that SSIM
  exceeds the highest any real training image reaches with another one: it is closer to one training image than
  any patient of the set is to another. Inception features of small grey radiographs hardly separate a copy
  from a new patient (at 14 real pairs a generator whose images reproduce their training images' side markers
  scored 3-7 % close and 74-94 % copies), so both are reported.

An expansion made of copies scores both shares near 1; an independent set of real images near 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torchmetrics.functional.image import structural_similarity_index_measure
from torchvision.utils import make_grid

from bench.files import atomic_path

SHOWN_PAIRS = 8
PIXEL_CANDIDATES = 8
"""Real images compared by SSIM with each image: its nearest by pixel distance (SSIM of every pair costs N x M)."""
BATCH = 32
"""Images compared at once in pixels: SSIM holds about 20 copies of its batch, so memory stays bounded whatever the
sizes of the two sets (a whole 2,000-image set at 256² would need over 10 GB)."""


@dataclass
class Memorisation:
    """Nearest-neighbour figures of N generated images against M real training images.

    Attributes:
        distance: float ``N``, cosine distance (0 = same direction, up to 2) to the nearest real image.
        neighbour: int64 ``N``, index of that real image.
        ssim: float ``N``, pixel SSIM of each generated image and its neighbour (1 = identical).
        real_threshold: median over real images of the distance to their nearest other real image.
        pixel_ssim: float ``N``, the highest SSIM of each generated image to a real image (:func:`best_ssim`).
        copy_threshold: the highest SSIM of a real image to another real image.
    """

    distance: torch.Tensor
    neighbour: torch.Tensor
    ssim: torch.Tensor
    real_threshold: float
    pixel_ssim: torch.Tensor
    copy_threshold: float

    @property
    def share_close(self) -> float:
        """Share of generated images nearer to a training image than ``real_threshold``."""
        return float((self.distance < self.real_threshold).double().mean())

    @property
    def copies(self) -> torch.Tensor:
        """bool ``N``: generated images closer in pixels to a training image than any real image is to another."""
        return self.pixel_ssim > self.copy_threshold

    def summary(self, generated_ids: list[str], real_ids: list[str], shown: int = SHOWN_PAIRS) -> dict[str, Any]:
        """What results.json stores: min / median distance and SSIM, the share, and the closest pairs."""
        order = torch.argsort(self.distance)[:shown].tolist()
        return {
            "nn_distance_min": float(self.distance.min()),
            "nn_distance_median": float(self.distance.median()),
            "real_nn_distance_median": self.real_threshold,
            "share_closer_than_real": self.share_close,
            "nn_ssim_max": float(self.ssim.max()),
            "nn_ssim_median": float(self.ssim.median()),
            "pixel_ssim_median": float(self.pixel_ssim.median()),
            "real_pixel_ssim_max": self.copy_threshold,
            "share_copies": float(self.copies.double().mean()),
            "closest": [
                {
                    "generated": generated_ids[i],
                    "real": real_ids[int(self.neighbour[i])],
                    "distance": round(float(self.distance[i]), 6),
                    "ssim": round(float(self.ssim[i]), 6),
                }
                for i in order
            ],
        }

    def per_image(self, generated_ids: list[str], real_ids: list[str]) -> list[dict[str, Any]]:
        """Every generated image's nearest real image, in generation order: ``{"generated", "real", "distance",
        "ssim", "close", "pixel_ssim", "copy"}`` (``close``: nearer than ``real_threshold``, the images ``share_close``
        counts; ``copy``: see :attr:`copies`)."""
        return [
            {
                "generated": k,
                "real": real_ids[int(j)],
                "distance": round(float(d), 6),
                "ssim": round(float(s), 6),
                "close": bool(d < self.real_threshold),
                "pixel_ssim": round(float(p), 6),
                "copy": bool(c),
            }
            for k, j, d, s, p, c in zip(
                generated_ids, self.neighbour.tolist(), self.distance, self.ssim, self.pixel_ssim, self.copies
            )
        ]


def cosine_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise cosine distances ``1 - cos`` (float64 ``N x M``) between rows of ``a`` (N x D) and ``b`` (M x D)."""
    return (1 - F.normalize(a.double(), dim=1) @ F.normalize(b.double(), dim=1).T).clamp_min(0)


def nearest_real(
    generated_features: torch.Tensor,
    real_features: torch.Tensor,
    generated_images: torch.Tensor,
    real_images: torch.Tensor,
) -> Memorisation:
    """Find every generated image's nearest real training image.

    Args:
        generated_features: float ``N x D`` (Inception pool features) of the generated images.
        real_features: float ``M x D`` of the real training images, M >= 2.
        generated_images: float ``N x C x H x W`` in [0, 1].
        real_images: float ``M x C x H x W`` in [0, 1], same size as the generated images.

    Returns:
        Memorisation figures.

    Raises:
        ValueError: no generated image, fewer than 2 real images, or images of different sizes.
    """
    if len(generated_features) < 1 or len(real_features) < 2:
        raise ValueError(
            f"memorisation needs >= 1 generated and >= 2 real images, got {len(generated_features)} and "
            f"{len(real_features)}"
        )
    if generated_images.shape[1:] != real_images.shape[1:]:
        raise ValueError(
            f"generated {tuple(generated_images.shape[1:])} and real {tuple(real_images.shape[1:])} images differ"
        )
    distance, neighbour = cosine_distances(generated_features, real_features).min(1)
    real = cosine_distances(real_features, real_features)
    real.fill_diagonal_(float("inf"))
    threshold = float(real.min(1).values.median())
    ssim = _ssim(generated_images, real_images, neighbour)
    copy_threshold = float(best_ssim(real_images, real_images, leave_out_self=True).max())
    return Memorisation(distance, neighbour, ssim, threshold, best_ssim(generated_images, real_images), copy_threshold)


def _ssim(a: torch.Tensor, b: torch.Tensor, rows: torch.Tensor, batch: int | None = None) -> torch.Tensor:
    """float64 ``N``: the SSIM of each image of ``a`` with the image of ``b`` its row of ``rows`` names (``N x C x H
    x W`` in [0, 1]), ``batch`` images at a time (default :data:`BATCH`)."""
    window = min(11, *a.shape[-2:]) // 2 * 2 - 1  # a small image cannot hold the default 11-pixel window
    batch = batch or BATCH
    parts = []
    for start in range(0, len(a), batch):
        x, y = a[start : start + batch].float(), b[rows[start : start + batch]].float()
        parts.append(
            structural_similarity_index_measure(x, y, data_range=1.0, reduction="none", kernel_size=window).double()
        )
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)


def best_ssim(
    images: torch.Tensor, real: torch.Tensor, leave_out_self: bool = False, batch: int | None = None
) -> torch.Tensor:
    """float64 ``N``: each image's highest SSIM to an image of ``real``, among its :data:`PIXEL_CANDIDATES` nearest
    by pixel distance; with ``leave_out_self`` (``images`` is ``real``) an image is not compared with itself.
    ``batch`` images at a time (default :data:`BATCH`), so memory does not grow with ``len(images)``."""
    batch = batch or BATCH
    k = min(PIXEL_CANDIDATES, len(real) - int(leave_out_self))
    flat_real = real.flatten(1).float()
    best = []
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        distance = torch.cdist(chunk.flatten(1).float(), flat_real)
        if leave_out_self:
            rows = torch.arange(len(chunk))
            distance[rows, start + rows] = float("inf")
        candidates = distance.topk(k, dim=1, largest=False).indices
        best.append(torch.stack([_ssim(chunk, real, candidates[:, j], batch) for j in range(k)], 1).max(1).values)
    return torch.cat(best) if best else torch.zeros(0, dtype=torch.float64)


def save_closest_pairs(
    path: Path, memo: Memorisation, generated_images: torch.Tensor, real_images: torch.Tensor, shown: int = SHOWN_PAIRS
) -> None:
    """Save a PNG of the closest generated/real pairs: one row per pair, generated left, its neighbour right.

    Args:
        path: PNG file, written atomically.
        memo: the figures from :func:`nearest_real`.
        generated_images: float ``N x C x H x W`` in [0, 1].
        real_images: float ``M x C x H x W`` in [0, 1].
        shown: pairs shown, nearest first.
    """
    order = torch.argsort(memo.distance)[:shown]
    tiles = torch.stack([generated_images[order], real_images[memo.neighbour[order]]], 1).flatten(0, 1).float()
    tiles = tiles.clamp(0, 1).expand(-1, 3, -1, -1) if tiles.shape[1] == 1 else tiles[:, :3].clamp(0, 1)
    scale = max(1, 128 // tiles.shape[-1])
    tiles = F.interpolate(tiles, scale_factor=scale, mode="nearest") if scale > 1 else tiles
    grid = make_grid(tiles, nrow=2, padding=2, pad_value=1.0)
    array = (grid.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(array).save(tmp)
