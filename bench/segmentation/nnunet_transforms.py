"""nnU-Net v2's 2D training augmentation, composed from batchgeneratorsv2 (the package nnU-Net itself builds it from).

The pipeline and every probability and range follow ``nnunetv2/training/nnUNetTrainer/nnUNetTrainer.py``,
``nnUNetTrainer.get_training_transforms`` (nnunetv2 2.8), with the arguments
``configure_rotation_dummyDA_mirroring_and_inital_patch_size`` gives a square 2D patch: rotation in [-180°, 180°],
mirroring along both axes, no dummy-2D, no masking for normalisation, no deep supervision, no cascade, no regions,
no ignore label. nnunetv2 is read, never imported: batchgeneratorsv2 alone provides the transforms.

Two differences, both forced by where it runs here. (1) nnU-Net's loader hands the transform a patch larger than the
network's and crops its centre after rotating; our batches are whole images, so a rotated or shrunk image shows the
padding in its corners (the image's mean, in the normalised space the transforms work in, and background for the
mask). (2) ``GaussianBlurTransform(benchmark=True)`` times FFT against direct convolution and keeps the faster one, so
its output depends on the machine's timing; we always convolve directly (``benchmark=False``): same blur, and the
same bytes for the same seed.
"""

from __future__ import annotations

import functools
import math

from batchgeneratorsv2.transforms.base.basic_transform import BasicTransform
from batchgeneratorsv2.transforms.intensity.brightness import MultiplicativeBrightnessTransform
from batchgeneratorsv2.transforms.intensity.contrast import BGContrast, ContrastTransform
from batchgeneratorsv2.transforms.intensity.gamma import GammaTransform
from batchgeneratorsv2.transforms.intensity.gaussian_noise import GaussianNoiseTransform
from batchgeneratorsv2.transforms.noise.gaussian_blur import GaussianBlurTransform
from batchgeneratorsv2.transforms.spatial.low_resolution import SimulateLowResolutionTransform
from batchgeneratorsv2.transforms.spatial.mirroring import MirrorTransform
from batchgeneratorsv2.transforms.spatial.spatial import SpatialTransform
from batchgeneratorsv2.transforms.utils.compose import ComposeTransforms
from batchgeneratorsv2.transforms.utils.random import RandomTransform
from batchgeneratorsv2.transforms.utils.remove_label import RemoveLabelTansform

# nnU-Net's rotation range for a 2D patch whose sides differ by at most 1.5x (ours are square), in radians.
ROTATION = (-math.pi, math.pi)
MIRROR_AXES = (0, 1)


@functools.lru_cache(maxsize=8)
def nnunet_transforms(height: int, width: int) -> BasicTransform:
    """nnU-Net v2's training transforms for one ``C x height x width`` sample (``image``, float, normalised per
    channel) and its ``1 x height x width`` integer ``segmentation``, in nnU-Net's order.

    Randomness comes from numpy's and torch's global generators (batchgeneratorsv2's choice); the caller seeds them.
    """
    return ComposeTransforms(
        [
            SpatialTransform(
                (height, width),
                patch_center_dist_from_border=0,
                random_crop=False,
                p_elastic_deform=0,
                p_rotation=0.2,
                rotation=ROTATION,
                p_scaling=0.2,
                scaling=(0.7, 1.4),
                p_synchronize_scaling_across_axes=1,
                bg_style_seg_sampling=False,
                border_mode_seg="constant",
                padding_value_seg=-1,
            ),
            RandomTransform(
                GaussianNoiseTransform(noise_variance=(0, 0.1), p_per_channel=1, synchronize_channels=True),
                apply_probability=0.1,
            ),
            RandomTransform(
                GaussianBlurTransform(
                    blur_sigma=(0.5, 1.0),
                    synchronize_channels=False,
                    synchronize_axes=False,
                    p_per_channel=0.5,
                    benchmark=False,
                ),
                apply_probability=0.2,
            ),
            RandomTransform(
                MultiplicativeBrightnessTransform(
                    multiplier_range=BGContrast((0.75, 1.25)), synchronize_channels=False, p_per_channel=1
                ),
                apply_probability=0.15,
            ),
            RandomTransform(
                ContrastTransform(
                    contrast_range=BGContrast((0.75, 1.25)),
                    preserve_range=True,
                    synchronize_channels=False,
                    p_per_channel=1,
                ),
                apply_probability=0.15,
            ),
            RandomTransform(
                SimulateLowResolutionTransform(
                    scale=(0.5, 1),
                    synchronize_channels=False,
                    synchronize_axes=True,
                    ignore_axes=None,
                    allowed_channels=None,
                    p_per_channel=0.5,
                ),
                apply_probability=0.25,
            ),
            RandomTransform(
                GammaTransform(
                    gamma=BGContrast((0.7, 1.5)),
                    p_invert_image=1,
                    synchronize_channels=False,
                    p_per_channel=1,
                    p_retain_stats=1,
                ),
                apply_probability=0.1,
            ),
            RandomTransform(
                GammaTransform(
                    gamma=BGContrast((0.7, 1.5)),
                    p_invert_image=0,
                    synchronize_channels=False,
                    p_per_channel=1,
                    p_retain_stats=1,
                ),
                apply_probability=0.3,
            ),
            MirrorTransform(allowed_axes=MIRROR_AXES),
            RemoveLabelTansform(-1, 0),
        ]
    )
