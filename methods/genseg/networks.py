"""GenSeg's mask-to-image GAN as a diffusers model, so that ``save_pretrained`` / ``from_pretrained`` write and read
its stage folders: a pix2pix U-Net whose every down- and up-convolution is a searchable cell, and a PatchGAN.

A cell mixes three candidate convolutions of stride 2 (kernels 4, 6 and 8, padding 1, 2 and 3: the release's
``conv_421`` / ``conv_622`` / ``conv_823`` and their transposed ``re_conv_*``) by the softmax of its row of
``arch``, the architecture weights. The U-Net halves the image down to 1 x 1 as pix2pix's ``unet_256`` does, so a
256 x 256 generator has 8 down and 8 up cells: 16 x 3 = 48 architecture weights, the release's count.
Differences from the release: instance normalisation without affine parameters (pix2pix's ``--norm instance``,
the lung script uses batch normalisation), no dropout (so that a mask determines its image), and ``arch``
starting at zero (every candidate weighted 1/3) where the release draws it from 1e-3 · N(0, 1).
"""

from __future__ import annotations

import math

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from monai.networks.nets import PatchDiscriminator
from torch import nn

from methods.genseg.options import CANDIDATES

KERNELS = ((4, 1), (6, 2), (8, 3))
"""(kernel, padding) of the candidates: each maps a side s to s / 2 (down) or 2 s (up) at stride 2."""


def levels(size: int) -> int:
    """How many times the generator halves a ``size`` image (down to 1 x 1)."""
    return int(math.log2(size))


class MixedCell(nn.Module):
    """One searchable cell: the candidates' outputs summed with the given weights (a row of softmax(arch))."""

    def __init__(self, c_in: int, c_out: int, up: bool) -> None:
        super().__init__()
        conv = nn.ConvTranspose2d if up else nn.Conv2d
        self.ops = nn.ModuleList(conv(c_in, c_out, k, stride=2, padding=p) for k, p in KERNELS)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self.ops))


class SearchableUNet(nn.Module):
    """pix2pix's U-Net generator with searchable cells; returns pre-tanh images.

    Cells ``0 .. L-1`` go down, ``L .. 2L-1`` come up (innermost first); ``arch`` holds one row per cell.
    """

    def __init__(self, size: int, channels: int, width: int) -> None:
        super().__init__()
        n = levels(size)
        widths = [min(width * 2**i, 8 * width) for i in range(n)]
        self.down = nn.ModuleList(MixedCell(1 if i == 0 else widths[i - 1], widths[i], up=False) for i in range(n))
        up_in = [widths[i] * (1 if i == n - 1 else 2) for i in range(n)]
        up_out = [channels if i == 0 else widths[i - 1] for i in range(n)]
        self.up = nn.ModuleList(MixedCell(up_in[i], up_out[i], up=True) for i in reversed(range(n)))
        self.down_norms = nn.ModuleList(nn.InstanceNorm2d(w) for w in widths)
        self.up_norms = nn.ModuleList(nn.InstanceNorm2d(c) for c in reversed(up_out))
        self.arch = nn.Parameter(torch.zeros(2 * n, CANDIDATES), requires_grad=False)

    def forward(self, masks: torch.Tensor) -> torch.Tensor:
        weights = self.arch.softmax(-1)
        n = len(self.down)
        skips, x = [], masks
        for i, cell in enumerate(self.down):
            x = cell(x if i == 0 else nn.functional.leaky_relu(x, 0.2), weights[i])
            if 0 < i < n - 1:
                x = self.down_norms[i](x)
            skips.append(x)
        for j, cell in enumerate(self.up):
            i = n - 1 - j
            x = cell(nn.functional.relu(x if i == n - 1 else torch.cat([x, skips[i]], 1)), weights[n + j])
            if i > 0:
                x = self.up_norms[j](x)
        return x


class MaskToImageGAN(ModelMixin, ConfigMixin):
    """The searchable generator from a mask to an image, and a PatchGAN discriminator on (mask, image).

    Args:
        size (`int`): image side, a power of two >= 8.
        channels (`int`): image channels (1 or 3).
        width (`int`): channels of the first level, doubling per level up to ``8 * width``.
    """

    @register_to_config
    def __init__(self, size: int, channels: int, width: int) -> None:
        super().__init__()
        self.generator = SearchableUNet(size, channels, width)
        self.discriminator = PatchDiscriminator(
            spatial_dims=2, channels=width, in_channels=1 + channels, num_layers_d=3, norm="INSTANCE"
        )

    @property
    def arch(self) -> nn.Parameter:
        """The architecture weights, one row of candidate logits per cell."""
        return self.generator.arch

    def translate(self, masks: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] (``N x C x S x S``, tanh) for masks in {-1, 1} (``N x 1 x S x S``)."""
        return torch.tanh(self.generator(masks))
