"""Non-leaking augmentation for the diffusion methods' stage I (Karras et al. 2022, EDM, App. C.4; the idea of
Karras et al. 2020, StyleGAN2-ADA).

With ``augment_p > 0`` each training sample is warped, every transform drawn on its own with probability p, and
the drawn parameters reach the denoiser as a vector added to its time embedding (:class:`AugmentEmbedding`). At
sampling the vector is zero, the value it has for an un-augmented training sample, so the network learns the
warped samples as other conditions instead of as more of the data, and the samples it makes are not warped.

The transforms are the ones of EDM's pipeline that keep a chest radiograph a chest radiograph: a small rotation,
an isotropic scale, an anisotropic stretch and a translation (no flips: they move the heart to the other side).
Image channels are resampled bilinearly, mask channels by nearest neighbour, with reflected borders, so a warped
pair is still an image with its mask.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import UNet2DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_2d import UNet2DOutput
from torch import nn

AUGMENT_DIM = 5
"""Entries of the condition vector: rotation (radians), log2 scale, log2 stretch, x and y shift (of the width)."""
ROTATE_MAX = math.radians(10)  # uniform in ±10°
SCALE_STD = 0.2  # log2 of the isotropic scale ~ N(0, 0.2²), EDM's scale_std
STRETCH_STD = 0.2  # log2 of the x-over-y stretch ~ N(0, 0.2²), EDM's aniso_std
SHIFT_STD = 0.05  # shift ~ N(0, 0.05²) of the image width per axis (EDM: 0.125, too far for a lung field)


def draw(n: int, p: float, generator: torch.Generator) -> torch.Tensor:
    """``n`` condition vectors (``n x AUGMENT_DIM``, on the CPU): each transform is drawn with probability ``p``,
    and a transform not drawn is 0 (its identity), so the all-zero vector is the un-augmented sample.

    Every draw comes from ``generator``, the training loop's, after the batch's own draws.
    """
    use = (torch.rand(n, 4, generator=generator) < p).float()
    rotate = (torch.rand(n, generator=generator) * 2 - 1) * ROTATE_MAX
    scale = torch.randn(n, generator=generator) * SCALE_STD
    stretch = torch.randn(n, generator=generator) * STRETCH_STD
    shift = torch.randn(n, 2, generator=generator) * SHIFT_STD
    return torch.cat(
        [
            (rotate * use[:, 0])[:, None],
            (scale * use[:, 1])[:, None],
            (stretch * use[:, 2])[:, None],
            shift * use[:, 3:4],
        ],
        dim=1,
    )


def sampling_grid(params: torch.Tensor, size: int) -> torch.Tensor:
    """The ``grid_sample`` grid (``N x size x size x 2``) that warps by ``params`` (rows of :func:`draw`).

    The warp maps a point of the input to R(θ) · diag(s·2^(a/2), s·2^(-a/2)) · x + 2·shift in ``affine_grid``'s
    [-1, 1] coordinates; the grid holds, for every output pixel, the input point it comes from (the inverse).
    """
    theta, log_scale, log_stretch = params[:, 0], params[:, 1], params[:, 2]
    sx = torch.exp2(log_scale + log_stretch / 2)
    sy = torch.exp2(log_scale - log_stretch / 2)
    cos, sin = torch.cos(theta), torch.sin(theta)
    forward = torch.zeros(len(params), 3, 3, dtype=torch.float64)
    forward[:, 0, 0], forward[:, 0, 1] = cos * sx, -sin * sy
    forward[:, 1, 0], forward[:, 1, 1] = sin * sx, cos * sy
    forward[:, :2, 2] = 2 * params[:, 3:5]
    forward[:, 2, 2] = 1
    inverse = torch.linalg.inv(forward)[:, :2].float()
    return F.affine_grid(inverse, [len(params), 1, size, size], align_corners=False)


def warp(x: torch.Tensor, grid: torch.Tensor, nearest: bool) -> torch.Tensor:
    """``x`` (``N x C x H x W``) resampled on ``grid``, by nearest neighbour for masks, bilinearly for images."""
    mode = "nearest" if nearest else "bilinear"
    return F.grid_sample(x, grid.to(x.device, x.dtype), mode=mode, padding_mode="reflection", align_corners=False)


class AugmentEmbedding(nn.Module):
    """The condition vector mapped to the time-embedding width (EDM's ``map_augment``: a linear map without bias,
    so the zero vector of sampling adds exactly nothing)."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(AUGMENT_DIM, embed_dim, bias=False)

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        return self.proj(params.to(self.proj.weight.dtype))


class AugmentedUNet(ModelMixin, ConfigMixin):
    """A diffusers ``UNet2DModel`` that also takes the augmentation condition, for a method whose denoiser is a
    plain UNet (``joint``): the condition enters as the UNet's class embedding (``class_embed_type="identity"``).

    Args:
        unet_config (`dict`): the UNet's config, with ``class_embed_type="identity"``.
    """

    @register_to_config
    def __init__(self, unet_config: dict[str, Any]) -> None:
        super().__init__()
        if unet_config.get("class_embed_type") != "identity":
            raise ValueError("an augmented UNet needs class_embed_type='identity' (the condition is an added vector)")
        self.unet = UNet2DModel.from_config(dict(unet_config))
        self.augment_embedding = AugmentEmbedding(self.unet.time_embedding.linear_2.out_features)

    def forward(
        self, sample: torch.Tensor, timestep: torch.Tensor | int, augment: torch.Tensor | None = None
    ) -> UNet2DOutput:
        """The UNet's output at ``(sample, timestep)`` under the warp ``augment`` (``N x AUGMENT_DIM``; ``None``:
        un-augmented, as at sampling)."""
        if augment is None:
            augment = sample.new_zeros(sample.shape[0], AUGMENT_DIM)
        return self.unet(sample, timestep, class_labels=self.augment_embedding(augment))
