"""The pictures of an expansion: ``gallery.png`` and the report's galleries and thumbnails, with every generated
pair shown with the mask written for it."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.files import atomic_path
from bench.pairs import PairSet
from methods.base import Expansion

GALLERY_MAX = 256  # pairs in gallery.png
GALLERY_TILE = 128  # pixels: larger pairs are shrunk to this in galleries
THUMBNAIL = 64  # pixels, the side of each table row's picture


def shown_pairs(expansion: Expansion) -> PairSet:
    """Every generated pair as shown in pictures: with the mask written for it (the filter's for a relabelled
    pair), and its generated mask when it was dropped; masks 0/1 (foreground)."""
    generated = expansion.generated if expansion.generated is not None else expansion.pairs
    masks = generated.masks.clone()
    index = {k: i for i, k in enumerate(generated.ids)}
    for j, k in enumerate(expansion.pairs.ids):
        masks[index[k]] = expansion.pairs.masks[j]
    return PairSet(generated.ids, generated.images, (masks > 0).long(), generated.name, True)


def gallery(pairs: PairSet, decisions: list[str] | None, limit: int):
    """The first ``limit`` pairs as a gallery image (tiles of at most 128 pixels, so 256 pairs stay ~2000 pixels
    wide), or None for no pairs."""
    from methods.gallery import gallery_image

    images, masks = pairs.images[:limit], pairs.masks[:limit]
    if images.shape[-1] > GALLERY_TILE:
        images = F.interpolate(images.float(), size=(GALLERY_TILE, GALLERY_TILE), mode="area")
        masks = F.interpolate(masks[:, None].float(), size=(GALLERY_TILE, GALLERY_TILE), mode="nearest")[:, 0].long()
    return gallery_image(images, masks, decisions, max_pairs=limit, nrow=8 if limit <= 64 else 16)


def save_png(image, path: Path) -> None:
    """Write a PIL image atomically; nothing for None (no pairs to show)."""
    if image is not None:
        with atomic_path(path, suffix=".png") as tmp:
            image.save(tmp)


def data_uri(image) -> str:
    """A PIL image as a ``data:image/png;base64`` URI."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def thumbnails(pairs: PairSet, decisions: list[str] | None) -> list[str]:
    """Each pair's overlay at :data:`THUMBNAIL` pixels, as data URIs."""
    from PIL import Image

    from methods.gallery import overlays

    tiles = overlays(pairs.images, pairs.masks, decisions)
    mode = "nearest" if tiles.shape[-1] <= THUMBNAIL else "area"
    tiles = F.interpolate(tiles, size=(THUMBNAIL, THUMBNAIL), mode=mode)
    arrays = (tiles.permute(0, 2, 3, 1).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return [data_uri(Image.fromarray(a)) for a in arrays]
