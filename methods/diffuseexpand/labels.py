"""Label maps in diffusion space: how masks with labels 0..K become denoiser samples and conditions, and back.

Binary sets (K = 1) keep the released layout: the {0, 1} mask is replicated onto the C image channels and a
generated mask is the sign of their mean, so binary networks and samples are those of before multi-class masks.

For K > 1 a mask is K one-hot foreground channels in [-1, 1] (background is the pixel where every channel is
negative) and is decoded by argmax over [0, x_1 .. x_K]; one-hot rather than one channel of scaled labels, so
that no class lies "between" two others and one denoising error cannot turn class 1 into class 3. Masks and
images share the denoiser's max(C, K) data channels, as binary masks share the C image channels (the mode
embedding y1 tells them apart); the channels a sample does not use are held at :data:`PAD`, a value the
denoiser learns to reproduce exactly. The image condition y2 is the K one-hot channels (the mask itself when
binary).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PAD = -1.0
"""Value of the data channels a sample leaves unused (an empty mask channel, a black image channel)."""


def data_channels(image_channels: int, mask_channels: int) -> int:
    """Sample channels of the denoiser for C image channels and K foreground classes (C when binary)."""
    return image_channels if mask_channels == 1 else max(image_channels, mask_channels)


def one_hot(labels: torch.Tensor, mask_channels: int) -> torch.Tensor:
    """Foreground one-hot of int labels ``N x H x W`` in 0..K: float ``N x K x H x W`` in {0, 1} (the condition y2)."""
    classes = torch.arange(1, mask_channels + 1, device=labels.device)
    return (labels[:, None] == classes[None, :, None, None]).float()


def from_one_hot(channels: torch.Tensor) -> torch.Tensor:
    """Int64 labels ``N x H x W`` of a foreground one-hot ``N x K x H x W`` (the inverse of :func:`one_hot`)."""
    classes = torch.arange(1, channels.shape[1] + 1, device=channels.device, dtype=channels.dtype)
    return (channels * classes[None, :, None, None]).sum(1).round().long()


def encode_masks(labels: torch.Tensor, mask_channels: int, channels: int) -> torch.Tensor:
    """Masks ``N x H x W`` (labels 0..K) as denoiser samples: float ``N x channels x H x W`` in [-1, 1]."""
    x = one_hot(labels, mask_channels) * 2 - 1
    if mask_channels == 1:
        return x.expand(-1, channels, -1, -1)
    return F.pad(x, (0, 0, 0, 0, 0, channels - mask_channels), value=PAD)


def encode_images(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Images float ``N x C x H x W`` in [0, 1] as denoiser samples: ``N x channels x H x W`` in [-1, 1]."""
    return F.pad(images.float() * 2 - 1, (0, 0, 0, 0, 0, channels - images.shape[1]), value=PAD)


def decode_masks(x: torch.Tensor, mask_channels: int) -> torch.Tensor:
    """Int64 labels ``N x H x W`` of generated mask samples ``N x D x H x W`` (see the module docstring)."""
    x = x.float()
    if mask_channels == 1:
        return (x.mean(1) > 0).long()
    scores = torch.cat([torch.zeros_like(x[:, :1]), x[:, :mask_channels]], 1)
    return scores.argmax(1)


def binary_median(mask: torch.Tensor, size: int) -> torch.Tensor:
    """Median filter of a {0, 1} mask ``N x 1 x H x W`` with an odd window (a majority vote; borders replicate)."""
    if size % 2 == 0:
        raise ValueError(f"median window must be odd, got {size}")
    padded = F.pad(mask, [size // 2] * 4, mode="replicate")
    return (F.avg_pool2d(padded, size, stride=1) > 0.5).to(mask.dtype)


def mode_filter(labels: torch.Tensor, mask_channels: int, size: int) -> torch.Tensor:
    """Per-pixel majority label of int labels ``N x H x W`` in an odd ``size`` window (borders replicate).

    Binary masks go through :func:`binary_median` (an odd window never ties two labels). With more labels a tie
    keeps the pixel's own label when it is among the most frequent, else the lowest tied label.
    """
    if mask_channels == 1:
        return binary_median(labels[:, None].float(), size)[:, 0].long()
    if size % 2 == 0:
        raise ValueError(f"mode filter window must be odd, got {size}")
    votes = F.one_hot(labels, mask_channels + 1).permute(0, 3, 1, 2).float()
    padded = F.pad(votes, [size // 2] * 4, mode="replicate")
    counts = F.avg_pool2d(padded, size, stride=1, divisor_override=1)
    return (counts + 0.5 * votes).argmax(1)
