"""Reading one image or mask file (bench/images.py): bit depths, channels, binary and label masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pair_files import SIZE, put, square_mask

from bench import images


def test_read_image_16bit_to_unit_range(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    path = put(tmp_path, "images", "a.png", ramp)
    img = images.read_image(path, 24)
    assert img.shape == (1, 24, 24) and img.dtype == torch.float32
    assert 0.0 <= img.min() < 0.05 and 0.95 < img.max() <= 1.0
    rgb = images.read_image(path, 24, channels=3)
    assert rgb.shape == (3, 24, 24)
    assert torch.equal(rgb[0], rgb[1]) and torch.equal(rgb[1], rgb[2])


def test_read_image_rgb(tmp_path: Path) -> None:
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[..., 0] = 255
    path = put(tmp_path, "images", "a.png", rgb)
    gray = images.read_image(path, 20)
    assert gray.shape == (1, 20, 20)
    assert torch.allclose(gray, torch.full_like(gray, 1 / 3), atol=1e-4)
    colour = images.read_image(path, 20, channels=3)
    assert colour.shape == (3, 20, 20)
    assert torch.allclose(colour[0], torch.ones(20, 20)) and colour[1:].abs().max() == 0


@pytest.mark.parametrize("value", [255, 1])
def test_read_binary_mask_is_0_1_after_resizing(tmp_path: Path, value: int) -> None:
    mask = square_mask(64, value)
    mask[5, 5] = value  # a single pixel: smaller than one output pixel, must not leak as a fraction
    path = put(tmp_path, "masks", "a.png", mask)
    for size in (64, 20, 128):
        out = images.read_mask(path, size)
        assert out.shape == (size, size) and out.dtype == torch.int64
        assert set(out.unique().tolist()) == {0, 1}
    exact = images.read_mask(path, 64)
    assert torch.equal(exact, torch.from_numpy((mask > 0).astype(np.int64)))
    frac = images.read_mask(path, 32).float().mean().item()
    assert abs(frac - (mask > 0).mean()) < 0.02


def test_read_multiclass_mask_keeps_labels(tmp_path: Path) -> None:
    labels = np.zeros((60, 60), np.uint8)
    labels[:20], labels[20:40], labels[40:] = 0, 1, 2
    labels[:, 50:] = 3
    path = put(tmp_path, "masks", "a.png", labels)
    out = images.read_mask(path, 17)
    assert out.shape == (17, 17)
    assert set(out.unique().tolist()) == {0, 1, 2, 3}


def test_read_image_12bit_in_16bit_container(tmp_path: Path) -> None:
    arr = np.full((SIZE, SIZE), 4095, np.uint16)
    arr[:, : SIZE // 2] = 0
    path = put(tmp_path, "images", "x.png", arr)
    img = images.read_image(path, SIZE)
    assert img.max().item() == pytest.approx(1.0, abs=1e-3) and img.min().item() == pytest.approx(0.0, abs=1e-3)


def test_mask_labels_follow_the_folder_kind_and_the_threshold(tmp_path: Path) -> None:
    """One label besides 0 is foreground in a binary folder and that label in a label map; a threshold makes any
    mask binary, foreground where the value exceeds it."""
    two = put(tmp_path, "masks", "two.png", square_mask(value=128))
    assert set(np.unique(images.mask_labels(two)).tolist()) == {0, 1}  # a lone file: binary
    assert set(np.unique(images.mask_labels(two, binary=False)).tolist()) == {0, 128}
    ramp = put(tmp_path, "masks", "ramp.png", np.arange(256, dtype=np.uint8).reshape(16, 16))
    assert int(images.mask_labels(ramp, threshold=127).sum()) == 128
    thresholded = torch.from_numpy(images.mask_labels(ramp, True, 200))
    assert torch.equal(images.read_mask(ramp, 16, threshold=200), thresholded)
