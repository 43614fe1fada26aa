"""Reading one image or mask file: the formats a pair set may hold and the one intensity rule per set.

Intensities are scaled by one rule per data set, never per image, so that every image of a set shares one scale:
8-bit images are divided by 255; 16-bit images by 4095 when every 16-bit image of the set stays within 0..4095
(12-bit X-ray data in a 16-bit container), else by 65535.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")
LOSSY_SUFFIXES = (".jpg", ".jpeg", ".webp")


def read_array(path: Path) -> np.ndarray:
    """Raw pixel array (H x W or H x W x C) of an image file, in its native dtype."""
    with Image.open(path) as im:
        im.load()
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        if im.mode == "I;16" or im.mode.startswith("I;16"):
            return np.asarray(im, dtype=np.uint16)
        return np.asarray(im)


def scale16(peak: int) -> float:
    """The divisor of 16-bit images whose largest value is ``peak``: 4095 (12-bit data) up to 4095, else 65535."""
    return 4095.0 if peak <= 4095 else 65535.0


def read_image(path: Path, size: int, channels: int = 1, scale: float | None = None) -> torch.Tensor:
    """Read an image as a float ``channels x size x size`` tensor in [0, 1].

    Grayscale, grey + alpha, RGB and RGBA inputs in 8 or 16 bit are accepted; alpha is dropped, never mixed into
    the intensities. 8-bit files are divided by 255, 16-bit ones by ``scale``: the data set's divisor
    (:attr:`CheckReport.scale16`), so that all images of a set share one scale. Without it (a lone file) the
    file's own peak decides (:func:`scale16`). The image is resized with an antialiased bilinear filter; the
    aspect ratio is not kept (as in the paper's loaders).
    """
    import torch

    arr = read_array(path)
    if arr.dtype == np.uint8:
        divisor = 255.0
    else:
        divisor = scale if scale is not None else scale16(int(arr.max(initial=0)))
    arr = arr.astype(np.float32) / divisor
    if arr.ndim == 3 and arr.shape[2] == 2:  # grey + alpha
        arr = arr[..., 0]
    if arr.ndim == 3:
        arr = arr[..., :3]
        arr = arr.mean(axis=2, keepdims=True) if channels == 1 else arr
    else:
        arr = arr[..., None]
        arr = np.repeat(arr, channels, axis=2) if channels == 3 else arr
    planes = [np.asarray(Image.fromarray(arr[..., c]).resize((size, size), Image.BILINEAR)) for c in range(channels)]
    return torch.from_numpy(np.stack(planes)).clamp_(0, 1)


def mask_labels(path: Path, binary: bool | None = None, threshold: int | None = None) -> np.ndarray:
    """A mask file's labels at its own size: int64 0/1 for a binary mask, 0..K for a label map.

    ``binary``: the folder's kind (:attr:`bench.integrity.CheckReport.mask_kind`), since a mask of one label
    means foreground in a binary folder and that label in a label map; None (a lone file): binary when it holds
    one value besides 0. ``threshold`` (``--mask-threshold``): binary, foreground where the value exceeds it;
    otherwise any value above 0 is foreground, so that 0/255, 0/1 and 0/128 masks read alike.
    """
    arr = read_array(path)
    if arr.ndim == 3:
        arr = arr[..., 0]
    if binary is None:
        binary = threshold is not None or len(set(np.unique(arr).tolist()) - {0}) <= 1
    if binary or threshold is not None:
        return (arr > (threshold or 0)).astype(np.int64)
    return arr.astype(np.int64)


def read_mask(path: Path, size: int, binary: bool | None = None, threshold: int | None = None) -> torch.Tensor:
    """Read a mask as an int64 ``size x size`` tensor: 0/1 for binary masks, 0..K for multi-class ones
    (``binary`` and ``threshold`` as in :func:`mask_labels`).

    Masks of labels 0/1 (every binary one) are resized by area averaging and thresholded at 0.5; other label maps
    use nearest-neighbour resizing so no label is invented.
    """
    import torch

    labels = mask_labels(path, binary, threshold)
    if labels.max(initial=0) <= 1:
        fg = np.asarray(Image.fromarray(labels.astype(np.float32)).resize((size, size), Image.BOX))
        return torch.from_numpy((fg >= 0.5).astype(np.int64))
    lab = Image.fromarray(labels.astype(np.int32)).resize((size, size), Image.NEAREST)
    return torch.from_numpy(np.asarray(lab).astype(np.int64))
