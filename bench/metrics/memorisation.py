"""Did the generator copy its training set? Nearest real training image of every generated image.

For each generated image, its nearest real training image by cosine distance between Inception features, and
the pixel SSIM of that pair. A generated image counts as *close* when it is nearer to a training image than
real training images typically are to each other: closer than the median, over real images, of each one's
distance to its nearest *other* real image. An expansion made of copies scores a share near 1; an independent
set of real images near 0.
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


@dataclass
class Memorisation:
    """Nearest-neighbour figures of N generated images against M real training images.

    Attributes:
        distance: float ``N``, cosine distance (0 = same direction, up to 2) to the nearest real image.
        neighbour: int64 ``N``, index of that real image.
        ssim: float ``N``, pixel SSIM of each generated image and its neighbour (1 = identical).
        real_threshold: median over real images of the distance to their nearest other real image.
    """

    distance: torch.Tensor
    neighbour: torch.Tensor
    ssim: torch.Tensor
    real_threshold: float

    @property
    def share_close(self) -> float:
        """Share of generated images nearer to a training image than ``real_threshold``."""
        return float((self.distance < self.real_threshold).double().mean())

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
        "ssim", "close"}`` (``close``: nearer than ``real_threshold``, the images ``share_close`` counts)."""
        return [
            {
                "generated": k,
                "real": real_ids[int(j)],
                "distance": round(float(d), 6),
                "ssim": round(float(s), 6),
                "close": bool(d < self.real_threshold),
            }
            for k, j, d, s in zip(generated_ids, self.neighbour.tolist(), self.distance, self.ssim)
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
    pairs = real_images[neighbour].float()
    # a small image cannot hold the default 11-pixel SSIM window
    window = min(11, *generated_images.shape[-2:]) // 2 * 2 - 1
    ssim = structural_similarity_index_measure(
        generated_images.float(), pairs, data_range=1.0, reduction="none", kernel_size=window
    )
    return Memorisation(distance, neighbour, ssim.double(), threshold)


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
