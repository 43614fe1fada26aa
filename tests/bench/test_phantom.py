"""Tests for bench/phantom.py: the synthetic demo pair set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data import load_pairs
from bench.integrity import check
from bench.phantom import PHANTOM_VERSION, generate, write_demo


@pytest.fixture(scope="module")
def demo64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo (120 pairs) at 64x64."""
    return write_demo(tmp_path_factory.mktemp("phantom") / "demo", size=64)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_write_demo_is_byte_identical(tmp_path: Path) -> None:
    a = _files(write_demo(tmp_path / "a", n=6, size=64, seed=3))
    b = _files(write_demo(tmp_path / "b", n=6, size=64, seed=3))
    c = _files(write_demo(tmp_path / "c", n=6, size=64, seed=4))
    assert a == b
    assert len(a) == 13  # 6 images, 6 masks, SOURCE.md
    assert a["images/phantom_0000.png"] != c["images/phantom_0000.png"]


def test_pair_does_not_depend_on_n() -> None:
    few, more = generate(2, 48, 0), generate(4, 48, 0)
    assert torch.equal(few.images, more.images[:2]) and torch.equal(few.masks, more.masks[:2])


def test_demo_passes_check_with_no_problems(demo64: Path) -> None:
    rep = check(demo64)
    assert rep.errors == [] and rep.warnings == []
    assert len(rep.ids) >= 100 and rep.mask_kind == "binary"
    assert [p.name for p in demo64.parent.iterdir()] == ["demo"]  # no temporary folder left behind


def test_demo_masks_are_plausible_lungs(demo64: Path) -> None:
    pairs = load_pairs(demo64, 64)
    assert pairs.images.shape == (120, 1, 64, 64) and set(pairs.masks.unique().tolist()) == {0, 1}
    fractions = pairs.masks.float().mean(dim=(1, 2))
    assert fractions.min() > 0.1 and fractions.max() < 0.45
    assert fractions.std() > 0.01  # the lung fields vary from pair to pair
    left, right = pairs.masks[:, :, :32].float().mean(), pairs.masks[:, :, 32:].float().mean()
    assert (pairs.masks[:, :, :32].sum(dim=(1, 2)) > 0).all() and (pairs.masks[:, :, 32:].sum(dim=(1, 2)) > 0).all()
    assert right < left  # the heart takes part of the image-right (patient's left) lung field
    # Lungs are darker than the rest of the body, and the image corners (background) darker still.
    img, m = pairs.images[:, 0], pairs.masks.bool()
    lung_mean = img[m].mean()
    centre_band = img[:, 40:56, 28:36].mean()
    assert img[:, :3, :3].mean() < lung_mean < centre_band


def test_source_md_says_synthetic(demo64: Path) -> None:
    text = (demo64 / "SOURCE.md").read_text()
    assert "SYNTHETIC" in text and "not patient data" in text
    assert f"PHANTOM_VERSION {PHANTOM_VERSION}" in text
    assert "Pairs: 120" in text and "64x64" in text and "Seed: 0" in text


def test_full_size_pairs() -> None:
    pairs = generate(2, 256, 0)
    assert pairs.synthetic and pairs.name == "demo"
    assert pairs.images.shape == (2, 1, 256, 256) and pairs.masks.shape == (2, 256, 256)
    fractions = pairs.masks.float().mean(dim=(1, 2))
    assert ((fractions > 0.1) & (fractions < 0.45)).all()
    assert pairs.images.min() >= 0 and pairs.images.max() <= 1
    # Soft lung borders: the image has many grey levels, not a two-tone cartoon.
    assert len(torch.unique(pairs.images[0])) > 100


def test_write_demo_replaces_existing_folder(tmp_path: Path) -> None:
    write_demo(tmp_path / "demo", n=4, size=32)
    write_demo(tmp_path / "demo", n=2, size=32)
    assert len(list((tmp_path / "demo" / "images").iterdir())) == 2
    assert "Pairs: 2" in (tmp_path / "demo" / "SOURCE.md").read_text()


@pytest.mark.parametrize(("n", "size"), [(0, 64), (3, 8)])
def test_invalid_arguments_raise(tmp_path: Path, n: int, size: int) -> None:
    with pytest.raises(ValueError):
        write_demo(tmp_path / "demo", n=n, size=size)
    assert not (tmp_path / "demo").exists()
    assert list(tmp_path.iterdir()) == []


def test_masks_differ_between_pairs() -> None:
    pairs = generate(6, 64, 1)
    m = pairs.masks.bool()
    inter = (m[:, None] & m[None]).sum(dim=(2, 3)).float()
    union = (m[:, None] | m[None]).sum(dim=(2, 3)).float()
    iou = inter / union
    off_diagonal = iou[~torch.eye(6, dtype=torch.bool)]
    assert off_diagonal.max() < 0.95 and np.isfinite(off_diagonal.numpy()).all()
