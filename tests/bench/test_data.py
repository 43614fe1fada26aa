"""Loading, saving and checking pair sets as tensors (bench/data.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pair_files import SIZE, disc_mask, gradient, put, shipped_folder, square_mask
from PIL import Image

from bench.data import fingerprint, load_pairs, save_pairs
from bench.masks import MaskReading
from bench.pairs import DatasetError, PairSet


def _random_pairs(n: int, size: int, classes: int = 2, channels: int = 1) -> PairSet:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, channels, size, size), generator=g).float() / 255
    masks = torch.randint(0, classes, (n, size, size), generator=g)
    masks[:, 0, 0] = classes - 1  # every mask uses the top label
    return PairSet([f"p{i}" for i in range(n)], images, masks, name="rand")


@pytest.mark.parametrize(("classes", "channels"), [(2, 1), (4, 1), (2, 3)])
def test_save_load_round_trip(tmp_path: Path, classes: int, channels: int) -> None:
    pairs = _random_pairs(3, 16, classes, channels)
    root = save_pairs(pairs, tmp_path / "set")
    assert sorted(p.name for p in (root / "masks").iterdir()) == ["p0.png", "p1.png", "p2.png"]
    stored = np.asarray(Image.open(root / "masks" / "p0.png"))
    assert set(np.unique(stored).tolist()) == ({0, 255} if classes == 2 else set(range(classes)))
    loaded = load_pairs(root, 16, channels=channels)
    assert loaded.ids == pairs.ids and loaded.name == "set"
    assert torch.allclose(loaded.images, pairs.images, atol=1e-6)
    assert torch.equal(loaded.masks, pairs.masks)


def test_save_pairs_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    save_pairs(_random_pairs(3, 8), tmp_path / "set")
    save_pairs(_random_pairs(1, 8), tmp_path / "set")
    assert len(list((tmp_path / "set" / "images").iterdir())) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["set"]


def test_load_pairs_raises_listing_problems(broken_folder: Path) -> None:
    with pytest.raises(DatasetError, match="lonely.png"):
        load_pairs(broken_folder, 16)


def _stored_folders(root: Path) -> dict[str, Path]:
    """Pair sets as stored before masks could be read otherwise: 0/255, 0/1, labels, 16-bit images."""
    multi = np.zeros((SIZE, SIZE), np.uint8)
    multi[:8], multi[8:16], multi[16:19] = 1, 2, 3
    kinds = {
        "binary255": [square_mask(), np.roll(square_mask(), 5, axis=0)],
        "binary01": [square_mask(value=1), np.roll(square_mask(value=1), 7, axis=1)],
        "labels": [square_mask(value=1), multi],  # one mask of label 1 only: resized as a binary one
    }
    for kind, masks in kinds.items():
        for i, m in enumerate(masks):
            put(root / kind, "images", f"p{i}.png", gradient(i))
            put(root / kind, "masks", f"p{i}.png", m)
    for i in range(2):
        put(root / "deep", "images", f"p{i}.png", gradient(i).astype(np.uint16) * 16)
        put(root / "deep", "masks", f"p{i}.png", square_mask())
    return {kind: root / kind for kind in (*kinds, "deep")}


# Their fingerprints at two sizes, as the package gave them before --mask-threshold and --mask-suffix existed:
# cached stages and expansions keyed by them stay reachable.
STORED_FINGERPRINTS = {
    "binary255": ("e169fbdea61688e7", "aa31d16fc1115b29"),
    "binary01": ("49ac2ebe27fa1d52", "9ae523b46074ae82"),
    "labels": ("1981ed2ef67145ea", "223e2ba7ef3ef8bf"),
    "deep": ("4d2295bc95067b5f", "134993b6f397a70a"),
}


def test_fingerprints_of_masks_read_as_stored_are_unchanged(tmp_path: Path) -> None:
    for kind, folder in _stored_folders(tmp_path).items():
        found = tuple(fingerprint(load_pairs(folder, size)) for size in (24, 40))
        assert found == STORED_FINGERPRINTS[kind], kind
        assert found == tuple(fingerprint(load_pairs(folder, size, reading=MaskReading())) for size in (24, 40))


def test_jpeg_masks_read_with_a_threshold_are_the_intended_binary_masks(tmp_path: Path) -> None:
    folder = shipped_folder(tmp_path, 6, mask_ext=".jpg")
    with pytest.raises(DatasetError, match="--mask-threshold 127"):
        load_pairs(folder, SIZE)
    pairs = load_pairs(folder, SIZE, reading=MaskReading(threshold=127))
    intended = torch.from_numpy(np.stack([disc_mask(i) > 0 for i in range(6)]).astype(np.int64))
    assert torch.equal(pairs.masks, intended)
    assert pairs.reading == "mask_threshold=127"


def test_two_valued_masks_read_as_their_0_255_twins(tmp_path: Path) -> None:
    grey = load_pairs(shipped_folder(tmp_path / "grey", 4, value=128), 24)
    white = load_pairs(shipped_folder(tmp_path / "white", 4), 24)
    assert torch.equal(grey.masks, white.masks) and int(grey.masks.max()) == 1
    assert fingerprint(grey) == fingerprint(white)  # the same pixels read as stored: one set


def test_a_threshold_or_a_suffix_is_part_of_the_fingerprint(tmp_path: Path) -> None:
    """Masks read another way never share a cache with the set read as stored, even where the pixels agree."""
    folder = shipped_folder(tmp_path / "plain", 4)
    stored = load_pairs(folder, 24)
    thresholded = load_pairs(folder, 24, reading=MaskReading(threshold=127))
    assert torch.equal(stored.masks, thresholded.masks)
    assert fingerprint(stored) != fingerprint(thresholded)
    assert fingerprint(thresholded.subset(["c01", "c02"])) != fingerprint(stored.subset(["c01", "c02"]))
    both = PairSet.concat([thresholded, _renamed(stored)], "both")
    assert both.reading == "mask_threshold=127"
    isic = shipped_folder(tmp_path / "isic", 4, suffix="_segmentation")
    named = load_pairs(isic, 24, reading=MaskReading(suffix="_segmentation"))
    assert named.ids == stored.ids and torch.equal(named.masks, stored.masks)
    assert fingerprint(named) != fingerprint(stored) and named.reading == "mask_suffix=_segmentation"


def _renamed(pairs: PairSet) -> PairSet:
    return PairSet([f"x{k}" for k in pairs.ids], pairs.images, pairs.masks, pairs.name)
