"""Loading, saving and checking pair sets as tensors (bench/data.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.data import load_pairs, save_pairs
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
