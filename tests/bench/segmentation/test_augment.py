import pytest
import torch

from bench.segmentation.augment import augment_batch, cutmix, randaugment, xlsor
from bench.segmentation.xlsor import XLSorOptions, transform_pair


def _squares(n=8, size=32, channels=1):
    """Dark images, each with one bright square whose mask is exactly the square."""
    images = torch.zeros(n, channels, size, size)
    masks = torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        y, x = 6 + i % 10, 8 + (3 * i) % 12
        images[i, :, y : y + 10, x : x + 10] = 1.0
        masks[i, y : y + 10, x : x + 10] = 1
    return images, masks


@pytest.mark.parametrize("fn", [randaugment, cutmix, xlsor])
def test_shapes_dtypes_and_labels_kept(fn):
    images = torch.rand(6, 3, 32, 32)
    masks = torch.randint(0, 3, (6, 32, 32))
    out_images, out_masks = fn(images, masks, torch.Generator().manual_seed(0))
    assert out_images.shape == images.shape and out_images.dtype == images.dtype
    assert out_masks.shape == masks.shape and out_masks.dtype == masks.dtype
    assert set(out_masks.unique().tolist()) <= {0, 1, 2}


def test_randaugment_moves_image_and_mask_together():
    images, masks = _squares()
    out_images, out_masks = randaugment(images, masks, torch.Generator().manual_seed(1), magnitude=20)
    assert not torch.equal(out_masks, masks)  # something moved
    bright = out_images[:, 0] > 0.5
    assert torch.equal(bright, out_masks.bool())
    assert set(out_masks.unique().tolist()) <= {0, 1}


def test_cutmix_moves_image_and_mask_together():
    images, masks = _squares()
    out_images, out_masks = cutmix(images, masks, torch.Generator().manual_seed(2))
    assert not torch.equal(out_masks, masks)
    assert torch.equal(out_images[:, 0] > 0.5, out_masks.bool())
    # every output pixel comes from the sample itself or from one partner
    changed = (out_images != images).any(1)
    assert changed.any() and not changed.all()


def test_xlsor_is_the_xlsor_methods_transform_with_a_seed_drawn_per_sample():
    images, masks = _squares(4)
    out_images, out_masks = xlsor(images, masks, torch.Generator().manual_seed(5))
    seeds = torch.randint(2**31 - 1, (4,), generator=torch.Generator().manual_seed(5)).tolist()
    for i, seed in enumerate(seeds):
        image, mask, _ = transform_pair(images[i], masks[i], XLSorOptions(), seed)
        assert torch.equal(out_images[i], image) and torch.equal(out_masks[i], mask)
    assert not torch.equal(out_masks, masks)


def test_xlsor_warps_image_and_mask_together():
    images, masks = _squares()
    still = XLSorOptions(
        abnormality_prob=0.0, gamma=0.0, contrast=0.0, brightness=0.0, noise_std=0.0, rotate_degrees=20
    )
    out_images, out_masks = xlsor(images, masks, torch.Generator().manual_seed(6), still)
    assert not torch.equal(out_masks, masks)
    bright, labelled = out_images[:, 0] > 0.5, out_masks.bool()
    iou = (bright & labelled).sum() / (bright | labelled).sum()
    assert iou > 0.9


def test_same_seed_same_output_and_inputs_untouched():
    images, masks = _squares()
    before = images.clone(), masks.clone()
    for name in ("randaugment", "cutmix", "xlsor"):
        a = augment_batch(name, images, masks, torch.Generator().manual_seed(3))
        b = augment_batch(name, images, masks, torch.Generator().manual_seed(3))
        c = augment_batch(name, images, masks, torch.Generator().manual_seed(4))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        assert not torch.equal(a[1], c[1])
    assert torch.equal(images, before[0]) and torch.equal(masks, before[1])


def test_none_returns_inputs_unchanged():
    images, masks = _squares()
    out_images, out_masks = augment_batch("none", images, masks, torch.Generator().manual_seed(0))
    assert out_images is images and out_masks is masks


def test_bad_arguments_raise():
    images, masks = _squares(2)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="randaugment"):
        augment_batch("mixup", images, masks, g)
    with pytest.raises(ValueError, match="magnitude"):
        randaugment(images, masks, g, magnitude=31)
    with pytest.raises(ValueError, match="alpha"):
        cutmix(images, masks, g, alpha=0.0)
    with pytest.raises(ValueError, match="N x H x W"):
        randaugment(images, masks[:, None], g)
