"""The two GANs of Synthmed as diffusers models (``ModelMixin, ConfigMixin``), so that ``save_pretrained`` /
``from_pretrained`` write and read their stage folders: :class:`MaskGAN` (stage 1, DCGAN-style) and
:class:`ImageGAN` (stage 2, pix2pix-style); both discriminators are spectrally normalised and unnormalised."""

from __future__ import annotations

import math

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from monai.networks.nets import Discriminator, Generator, PatchDiscriminator, UNet
from torch import nn

LEAKY = ("LEAKYRELU", {"negative_slope": 0.2})


def _levels(size: int) -> int:
    """How many times the networks halve a ``size`` image (down to 4 x 4)."""
    return int(math.log2(size)) - 2


def _spectral(module: nn.Module) -> nn.Module:
    """Spectral normalisation on every convolution and linear layer of ``module`` (in place)."""
    for layer in list(module.modules()):
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.utils.parametrizations.spectral_norm(layer)
    return module


class MaskGAN(ModelMixin, ConfigMixin):
    """Stage 1: a DCGAN-style generator of masks from a latent vector, and its discriminator.

    Args:
        size (`int`): mask side, a power of two >= 8; the generator doubles a 4 x 4 map ``log2(size) - 2`` times.
        latent_dim (`int`): length of the noise vector.
        width (`int`): channels at full resolution, doubling per halving up to ``8 * width``.
    """

    @register_to_config
    def __init__(self, size: int, latent_dim: int, width: int) -> None:
        super().__init__()
        levels = _levels(size)
        widths = [min(width * 2**i, 8 * width) for i in range(levels + 1)]
        self.generator = Generator(
            latent_shape=(latent_dim,),
            start_shape=(widths[levels], 4, 4),
            channels=(*reversed(widths[:levels]), 1),
            strides=(2,) * levels + (1,),
            num_res_units=0,
            act="RELU",
            norm="BATCH",
        )
        self.discriminator = _spectral(
            Discriminator(
                in_shape=(1, size, size),
                channels=widths[:levels],
                strides=(2,) * levels,
                num_res_units=0,
                act=LEAKY,
                norm=None,
                dropout=None,
                last_act=None,
            )
        )

    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """Masks in [-1, 1] (``N x 1 x S x S``, tanh) for latent vectors ``z`` (``N x latent_dim``)."""
        return torch.tanh(self.generator(z))


class ImageGAN(ModelMixin, ConfigMixin):
    """Stage 2: a pix2pix-style U-Net from a mask to an image, and a PatchGAN discriminator on (mask, image).

    Args:
        size (`int`): image side, a power of two >= 8.
        channels (`int`): image channels (1 or 3).
        width (`int`): channels of the first level, doubling per level up to ``8 * width``.
    """

    @register_to_config
    def __init__(self, size: int, channels: int, width: int) -> None:
        super().__init__()
        levels = _levels(size)
        self.generator = UNet(
            spatial_dims=2,
            in_channels=1,
            out_channels=channels,
            channels=[min(width * 2**i, 8 * width) for i in range(levels + 1)],
            strides=(2,) * levels,
            num_res_units=1,
            act=LEAKY,
            norm="INSTANCE",
        )
        self.discriminator = _spectral(
            PatchDiscriminator(spatial_dims=2, channels=width, in_channels=1 + channels, num_layers_d=3, norm=None)
        )

    def translate(self, masks: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] (``N x C x S x S``, tanh) for masks in {-1, 1} (``N x 1 x S x S``)."""
        return torch.tanh(self.generator(masks))
