"""Training-batch augmentation for downstream segmentation (paper Table 1: "+" = RandAugment, "*" = CutMix; and
XLSor's warps, opacities and intensity changes, the transforms of the ``xlsor`` expansion method applied online; and
nnU-Net v2's training augmentation, built from batchgeneratorsv2 as nnU-Net builds it).

Every transform moves image and mask together and keeps mask labels integer. It is applied to training batches
only; the test set is never augmented (the released code re-augmented it every epoch, which we do not copy).
All randomness comes from the ``torch.Generator`` argument.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

from bench.config import AUGMENTS
from bench.segmentation.xlsor import XLSorOptions, transform_pair

RANDAUGMENT_OPS = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
NUM_BINS = 31


def _check_pair(images: torch.Tensor, masks: torch.Tensor) -> None:
    same = images.ndim == 4 and masks.ndim == 3 and images.shape[0] == masks.shape[0]
    if not same or images.shape[-2:] != masks.shape[-2:]:
        raise ValueError(
            f"expected images N x C x H x W and masks N x H x W of the same N, H, W; got "
            f"{tuple(images.shape)} and {tuple(masks.shape)}"
        )


def _apply_op(x: torch.Tensor, op: str, level: float, size: tuple[int, int]) -> torch.Tensor:
    """One RandAugment geometric op at ``level`` in [0, 1] of its range (sign included) on a C x H x W stack."""
    h, w = size
    nearest = TF.InterpolationMode.NEAREST
    if op == "ShearX" or op == "ShearY":
        deg = math.degrees(math.atan(0.3 * level))
        shear = [deg, 0.0] if op == "ShearX" else [0.0, deg]
        return TF.affine(
            x, angle=0.0, translate=[0, 0], scale=1.0, shear=shear, interpolation=nearest, fill=0.0, center=[0, 0]
        )
    if op == "TranslateX" or op == "TranslateY":
        shift = int(150.0 / 331.0 * (w if op == "TranslateX" else h) * level)
        translate = [shift, 0] if op == "TranslateX" else [0, shift]
        return TF.affine(
            x, angle=0.0, translate=translate, scale=1.0, shear=[0.0, 0.0], interpolation=nearest, fill=0.0
        )
    if op == "Rotate":
        return TF.rotate(x, 30.0 * level, interpolation=nearest, fill=0.0)
    return x


def randaugment(
    images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator, num_ops: int = 2, magnitude: int = 9
) -> tuple[torch.Tensor, torch.Tensor]:
    """Joint geometric RandAugment, as in the released code's augmentation.

    Each sample draws ``num_ops`` ops uniformly (with replacement) from Identity, ShearX, ShearY, TranslateX,
    TranslateY and Rotate, each with a random sign, at magnitude bin ``magnitude`` of 31 (bin 9: shear 0.09,
    translation 0.136 x size, rotation 9 degrees). Image and mask get the same op, with nearest interpolation
    and fill 0, so mask labels stay integers and stay aligned with the image.

    Args:
        images: float ``N x C x H x W``.
        masks: integer ``N x H x W``.
        generator: source of all randomness.
        num_ops: ops per sample.
        magnitude: bin index in ``0 .. 30``.

    Returns:
        New ``(images, masks)`` tensors of the input shapes and dtypes.
    """
    _check_pair(images, masks)
    if not 0 <= magnitude < NUM_BINS:
        raise ValueError(f"magnitude must be a bin index in 0..{NUM_BINS - 1}, got {magnitude}")
    if num_ops < 0:
        raise ValueError(f"num_ops must be >= 0, got {num_ops}")
    n, c = images.shape[:2]
    size = (images.shape[-2], images.shape[-1])
    ops = torch.randint(len(RANDAUGMENT_OPS), (n, num_ops), generator=generator)
    signs = torch.where(torch.rand(n, num_ops, generator=generator) < 0.5, -1.0, 1.0)
    level = magnitude / (NUM_BINS - 1)
    out_images, out_masks = images.clone(), masks.clone()
    for i in range(n):
        stack = torch.cat([images[i], masks[i, None].to(images.dtype)])
        for j in range(num_ops):
            stack = _apply_op(stack, RANDAUGMENT_OPS[int(ops[i, j])], float(signs[i, j]) * level, size)
        out_images[i] = stack[:c]
        out_masks[i] = stack[c].round().to(masks.dtype)
    return out_images, out_masks


def cutmix(
    images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator, alpha: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Segmentation CutMix (Yun et al. 2019): paste a box of a shuffled partner into every sample.

    Per sample, ``lam ~ Beta(alpha, alpha)`` sets the box area to ``(1 - lam) H W`` (clipped at the border) and
    the box centre is uniform; the partner's image and mask pixels replace the sample's inside the box.

    Args:
        images: float ``N x C x H x W``.
        masks: integer ``N x H x W``.
        generator: source of all randomness.
        alpha: Beta concentration (> 0).

    Returns:
        New ``(images, masks)`` tensors of the input shapes and dtypes.
    """
    _check_pair(images, masks)
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    n, _, h, w = images.shape
    partner = torch.randperm(n, generator=generator)
    rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator)))
    cut = torch.from_numpy(np.sqrt(1.0 - rng.beta(alpha, alpha, size=n)))
    cy = torch.randint(h, (n,), generator=generator)
    cx = torch.randint(w, (n,), generator=generator)
    half_h = (cut * h).long() // 2
    half_w = (cut * w).long() // 2
    rows = torch.arange(h)[None]
    cols = torch.arange(w)[None]
    in_rows = (rows >= (cy - half_h).clamp(min=0)[:, None]) & (rows < (cy + half_h).clamp(max=h)[:, None])
    in_cols = (cols >= (cx - half_w).clamp(min=0)[:, None]) & (cols < (cx + half_w).clamp(max=w)[:, None])
    box = (in_rows[:, :, None] & in_cols[:, None, :]).to(images.device)
    partner = partner.to(images.device)
    return (torch.where(box[:, None], images[partner], images), torch.where(box, masks[partner], masks))


def xlsor(
    images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator, options: XLSorOptions | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """XLSor's transforms on every sample of a batch, as the ``xlsor`` method makes its pairs offline.

    Each sample draws a seed from ``generator`` and gets :func:`~bench.segmentation.xlsor.transform_pair` with it:
    a joint affine + elastic warp, then opacities inside the foreground (with the options' probability) and
    gamma / contrast / brightness / noise on the image. Images are expected in [0, 1].

    Args:
        images: float ``N x C x H x W``.
        masks: integer ``N x H x W``.
        generator: source of all randomness.
        options: the transforms' ranges (XLSor's defaults when None).

    Returns:
        New ``(images, masks)`` tensors of the input shapes and dtypes.
    """
    _check_pair(images, masks)
    o = options or XLSorOptions()
    seeds = torch.randint(2**31 - 1, (images.shape[0],), generator=generator).tolist()
    out_images, out_masks = images.clone(), masks.clone()
    for i, seed in enumerate(seeds):
        image, mask, _ = transform_pair(images[i].float(), masks[i].long(), o, seed)
        out_images[i] = image.to(images.dtype)
        out_masks[i] = mask.to(masks.dtype)
    return out_images, out_masks


def nnunet(
    images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """nnU-Net v2's training augmentation (:mod:`bench.segmentation.nnunet_transforms`) on every sample of a batch.

    nnU-Net augments normalised images, so each image channel is z-scored (its own mean and standard deviation, as
    nnU-Net's ``ZScoreNormalization``), transformed, and mapped back with the same mean and deviation: noise,
    brightness and contrast act at nnU-Net's strength relative to the image's contrast, and the result stays on the
    input's scale, unclipped (noise may leave [0, 1] as it leaves nnU-Net's range). Masks keep their labels: the
    spatial transform resamples each label's indicator and takes the arg-max.

    Args:
        images: float ``N x C x H x W``.
        masks: integer ``N x H x W``.
        generator: source of all randomness (one seed per batch for the global generators batchgeneratorsv2 reads).

    Returns:
        New ``(images, masks)`` tensors of the input shapes and dtypes.
    """
    _check_pair(images, masks)
    from bench.segmentation.nnunet_transforms import nnunet_transforms  # batchgeneratorsv2 takes 2 s to import

    transform = nnunet_transforms(*images.shape[-2:])
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    out_images, out_masks = torch.empty_like(images), torch.empty_like(masks)
    with _global_rngs(seed):
        for i in range(images.shape[0]):
            x = images[i].float()
            mean = x.mean(dim=(1, 2), keepdim=True)
            std = x.std(dim=(1, 2), keepdim=True, unbiased=False).clamp_min(1e-8)
            out = transform(image=(x - mean) / std, segmentation=masks[i, None].to(torch.int64, copy=True))
            out_images[i] = (out["image"] * std + mean).to(images.dtype)
            out_masks[i] = out["segmentation"][0].to(masks.dtype)
    return out_images, out_masks


@contextlib.contextmanager
def _global_rngs(seed: int) -> Iterator[None]:
    """numpy's global generator and torch's CPU one seeded with ``seed`` inside, both as they were after."""
    state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


def augment_batch(
    name: str, images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply the augmentation ``name`` (one of ``bench.config.AUGMENTS``) to a training batch.

    ``none`` returns the inputs themselves; ``randaugment`` and ``cutmix`` use the paper/released settings,
    ``xlsor`` the ``xlsor`` method's defaults, ``nnunet`` nnU-Net v2's defaults.
    """
    if name == "none":
        return images, masks
    if name == "randaugment":
        return randaugment(images, masks, generator)
    if name == "cutmix":
        return cutmix(images, masks, generator)
    if name == "xlsor":
        return xlsor(images, masks, generator)
    if name == "nnunet":
        return nnunet(images, masks, generator)
    raise ValueError(f"unknown augmentation '{name}'; known: {', '.join(AUGMENTS)}")
