"""Pair sets on disk: loading a checked folder, writing one, and the content fingerprint that cache keys use.

On disk a *pair set* is a folder ``images/<id>.png`` + ``masks/<id>.png`` with identical ids. Masks are
either binary (0 and one other value: 0/255, 0/1, 0/128) or multi-class with consecutive labels 0..K; see
:mod:`bench.masks` for masks read otherwise (a threshold, a name suffix). In memory images are float
tensors ``N x C x H x W`` in [0, 1] and masks integer tensors ``N x H x W`` (0/1 for binary sets).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from bench.files import atomic_dir
from bench.images import read_image, read_mask
from bench.integrity import CheckReport, check
from bench.masks import MaskReading
from bench.pairs import PairSet  # defined apart so that bench.phantom needs no bench.data

logger = logging.getLogger(__name__)


def load_pairs(
    root: str | Path,
    size: int,
    channels: int = 1,
    name: str | None = None,
    synthetic: bool = False,
    reading: MaskReading | None = None,
) -> PairSet:
    """Check a pair-set folder and load it at ``size x size``, its masks read as ``reading`` says (default: as
    stored).

    A ``synthetic`` (generated) set may leave a label unused: a generator of masks 0..K need not draw every class.

    Raises:
        DatasetError: if :func:`check` finds any error (all of them are listed in the message).
    """
    report = check(root, label_gaps=synthetic, reading=reading)
    report.raise_for_errors()
    return read_pairs(report, size, channels, name, synthetic)


def read_pairs(
    report: CheckReport, size: int, channels: int = 1, name: str | None = None, synthetic: bool = False
) -> PairSet:
    """Load the pairs a clean :func:`check` report lists, at ``size x size``, 16-bit images on the set's scale and
    masks read as the report says (the folder's mask kind, the report's ``--mask-threshold``)."""
    import torch

    root = report.root
    ids = report.ids
    images = torch.stack(
        [read_image(root / "images" / report.image_files[k], size, channels, report.scale16) for k in ids]
    )
    binary, threshold = report.mask_kind == "binary", report.reading.threshold
    masks = torch.stack([read_mask(root / "masks" / report.mask_files[k], size, binary, threshold) for k in ids])
    return PairSet(ids, images, masks, name or root.name, synthetic, report.reading.tag())


def save_pairs(pairs: PairSet, root: str | Path) -> Path:
    """Write a pair set as ``images/<id>.png`` (8-bit) + ``masks/<id>.png`` (0/255, or 0..K labels).

    The folder is written under a temporary name and renamed at the end, so an interrupted write never
    leaves a folder that looks complete. An existing folder at ``root`` is replaced.

    Raises:
        bench.files.StorageError: the disk is full or the folder cannot be written.
    """
    root = Path(root)
    with atomic_dir(root) as tmp:
        write_pairs(pairs, tmp)
    return root


def write_pairs(pairs: PairSet, folder: str | Path, binary: bool | None = None) -> None:
    """Write ``images/<id>.png`` + ``masks/<id>.png`` into an existing folder (no staging; see :func:`save_pairs`).

    Images are 8-bit grey or RGB; masks 0/255 when ``binary`` (default: the set has two labels), else labels 0..K
    (pass ``binary=False`` for a subset of a multi-class set that happens to hold label 1 only).
    """
    import torch

    folder = Path(folder)
    binary = pairs.num_classes == 2 if binary is None else binary
    (folder / "images").mkdir(exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    for i, k in enumerate(pairs.ids):
        img = (pairs.images[i].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        img = img[0] if img.shape[0] == 1 else np.moveaxis(img, 0, -1)
        Image.fromarray(img).save(folder / "images" / f"{k}.png")
        m = pairs.masks[i].numpy().astype(np.uint8)
        Image.fromarray(m * 255 if binary else m).save(folder / "masks" / f"{k}.png")


def image_hashes(pairs: PairSet) -> list[str]:
    """A content hash of each image as its 8-bit pixels at the loaded size: the same image under another name or
    in another data set hashes alike (what a pretraining set is checked against a test split with)."""
    pixels = np.rint(pairs.images.numpy() * 255).astype(np.uint8)
    return [hashlib.sha1(image.tobytes()).hexdigest()[:16] for image in pixels]


def fingerprint(pairs: PairSet) -> str:
    """A short content hash of a pair set, for cache keys; it covers how the masks were read when that is not as
    stored (:attr:`PairSet.reading`), so that sets read two ways never share a cache."""
    h = hashlib.sha1()
    h.update(json.dumps(pairs.ids).encode())
    h.update(pairs.images.numpy().tobytes())
    h.update(pairs.masks.numpy().tobytes())
    if pairs.reading:
        h.update(pairs.reading.encode())
    return h.hexdigest()[:16]
