import json

import pytest
import torch
from synthetic_pairs import disc_pairs

from bench.config import ConfigError
from bench.segmentation.xlsor import XLSorOptions, transform_pair

STRONG = XLSorOptions(rotate_degrees=30, scale=0.3, translate=0.15, shear=0.1, elastic_magnitude=0.03)
NO_GEOMETRY_NOR_INTENSITY = XLSorOptions(
    rotate_degrees=0,
    scale=0,
    translate=0,
    shear=0,
    elastic_magnitude=0,
    gamma=0,
    contrast=0,
    brightness=0,
    noise_std=0,
    abnormality_prob=1.0,
    opacity_strength=1.0,
)


def test_geometry_moves_image_and_mask_together():
    """The disc is the mask: after a strong warp the warped mask still covers the bright disc, and only it."""
    pairs = disc_pairs(4)
    moved = 0
    for seed in range(8):
        image, mask, params = transform_pair(
            pairs.images[seed % 4], pairs.masks[seed % 4], STRONG, seed, abnormal=False
        )
        assert set(mask.unique().tolist()) <= {0, 1} and mask.sum() > 0
        moved += int(not torch.equal(mask, pairs.masks[seed % 4]))
        disagree = ((image[0] > 0.5).long() != mask).float().mean()
        assert disagree < 0.03, (seed, params)
        assert image[0][mask == 1].mean() > 0.7 and image[0][mask == 0].mean() < 0.3
    assert moved == 8


def test_opacities_change_the_image_inside_the_foreground_only_and_never_the_mask():
    pairs = disc_pairs(4)
    for seed in range(4):
        source_image, source_mask = pairs.images[seed], pairs.masks[seed]
        warped, _, _ = transform_pair(source_image, source_mask, NO_GEOMETRY_NOR_INTENSITY, seed, abnormal=False)
        image, mask, params = transform_pair(source_image, source_mask, NO_GEOMETRY_NOR_INTENSITY, seed)
        assert torch.equal(mask, source_mask)
        assert params["opacities"] == len(json.loads(params["opacity_params"])) >= 1
        inside = source_mask == 1
        assert torch.allclose(image[0][~inside], warped[0][~inside], atol=1e-6)
        # the foreground is blended towards the darker surrounding tissue
        assert (warped[0][inside] - image[0][inside]).max() > 0.2
        assert image[0][inside].mean() < warped[0][inside].mean()


def test_recorded_shift_and_zoom_describe_the_content():
    mask = torch.zeros(64, 64, dtype=torch.long)
    mask[24:40, 24:40] = 1
    o = XLSorOptions(rotate_degrees=0, shear=0, elastic_magnitude=0, scale=0.2, translate=0.1)
    for seed in range(3):
        _, moved, p = transform_pair(mask[None].float(), mask, o, seed, abnormal=False)
        ys, xs = moved.nonzero(as_tuple=True)
        assert (
            abs(ys.float().mean() - 31.5 - p["shift_y"] * 64) <= 1
            and abs(xs.float().mean() - 31.5 - p["shift_x"] * 64) <= 1
        )
        assert abs(moved.sum() ** 0.5 / 16 - p["zoom"]) < 0.1


def test_multi_class_masks_keep_their_labels():
    pairs = disc_pairs(2)
    labels = pairs.masks[0] + (torch.arange(32)[None, :] > 16).long() * pairs.masks[0]
    _, mask, _ = transform_pair(pairs.images[0], labels, STRONG, seed=3)
    assert set(mask.unique().tolist()) == {0, 1, 2}


def test_options_are_checked():
    with pytest.raises(ConfigError, match="scale"):
        XLSorOptions(scale=1.5)
    with pytest.raises(ConfigError, match="max_opacities"):
        XLSorOptions(max_opacities=0)
