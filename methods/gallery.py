"""Galleries of generated pairs (paper Fig. 3 style), shared by every method that generates pairs."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torchvision.utils import make_grid

from bench.files import atomic_path

DECISION_COLOURS = {"kept": (40, 200, 40), "relabelled": (255, 160, 0), "dropped": (230, 30, 30)}
GENERATED_COLOUR = (230, 60, 60)
LEGEND_HEIGHT = 20


def save_gallery(
    path: Path,
    images: torch.Tensor,
    masks: torch.Tensor,
    decisions: list[str] | None = None,
    max_pairs: int = 64,
    nrow: int = 8,
) -> None:
    """Save a grid of overlays: each image with its mask tinted and outlined, and a colour legend below.

    Args:
        path: PNG file, written atomically.
        images: float ``N x C x H x W`` in [0, 1].
        masks: int ``N x H x W``, {0, 1} or labels 0..K (every label > 0 is foreground).
        decisions: optional stage-IV decision per pair; colours the overlay green (kept), orange
            (relabelled) or red (dropped); without, every mask is red.
        max_pairs: at most this many pairs, the first ones.
        nrow: pairs per row.
    """
    image = gallery_image(images, masks, decisions, max_pairs, nrow)
    if image is None:
        return
    with atomic_path(path, suffix=".png") as tmp:
        image.save(tmp)


def gallery_image(
    images: torch.Tensor,
    masks: torch.Tensor,
    decisions: list[str] | None = None,
    max_pairs: int = 64,
    nrow: int = 8,
) -> Image.Image | None:
    """The grid :func:`save_gallery` saves, as an RGB image; None for no pairs. Arguments as there."""
    k = min(max_pairs, len(images))
    if k == 0:
        return None
    tiles = overlays(images[:k], masks[:k], decisions[:k] if decisions is not None else None)
    scale = max(1, 128 // tiles.shape[-1])
    tiles = F.interpolate(tiles, scale_factor=scale, mode="nearest") if scale > 1 else tiles
    grid = make_grid(tiles, nrow=nrow, padding=2, pad_value=1.0)
    array = (grid.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    legend = DECISION_COLOURS if decisions is not None else {"generated mask": GENERATED_COLOUR}
    return _with_legend(Image.fromarray(array), legend)


def overlays(images: torch.Tensor, masks: torch.Tensor, decisions: list[str] | None = None) -> torch.Tensor:
    """Each image with its mask tinted (30 %) and outlined in its decision's colour (red without decisions).

    Args:
        images: float ``N x C x H x W`` in [0, 1] (grey is repeated to RGB; only the first 3 channels are used).
        masks: int ``N x H x W``, {0, 1} or labels 0..K (every label > 0 is foreground).
        decisions: optional decision per pair (see :data:`DECISION_COLOURS`).

    Returns:
        float ``N x 3 x H x W`` in [0, 1].
    """
    rgb = images.float().clamp(0, 1)
    rgb = rgb.expand(-1, 3, -1, -1) if rgb.shape[1] == 1 else rgb[:, :3]
    m = (masks[:, None] > 0).float()
    edge = m - (1 - F.max_pool2d(1 - m, 3, stride=1, padding=1))
    names = decisions if decisions is not None else [None] * len(images)
    colour = torch.tensor([DECISION_COLOURS.get(d, GENERATED_COLOUR) for d in names], dtype=torch.float32) / 255
    colour = colour[:, :, None, None]
    tiles = rgb * (1 - 0.3 * m) + colour * 0.3 * m
    return tiles * (1 - edge) + colour * edge


def _with_legend(grid: Image.Image, colours: dict[str, tuple[int, int, int]]) -> Image.Image:
    """The grid above a white strip naming each overlay colour, so the PNG explains itself."""
    out = Image.new("RGB", (grid.width, grid.height + LEGEND_HEIGHT), "white")
    out.paste(grid, (0, 0))
    draw, x, y = ImageDraw.Draw(out), 4, grid.height + 4
    for name, colour in colours.items():
        draw.rectangle([x, y, x + 11, y + 11], fill=colour)
        draw.text((x + 16, y), name, fill=(0, 0, 0))
        x += 16 + int(draw.textlength(name)) + 14
    return out
