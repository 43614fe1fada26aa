"""Downstream segmentation networks (paper §4.1: U-Net, Attention U-Net, TransUNet; no pretraining).

Every network maps ``N x C x H x W`` images (C = 1 or 3) to logits ``N x O x H x W`` with ``O = 1`` for binary
masks and ``O = num_classes`` otherwise. No network applies sigmoid or softmax: the loss and the harness do.
"""

from __future__ import annotations

import warnings

# timm's hrnet uses torch.jit.interface, deprecated in recent torch: a warning on every command, not ours to fix
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*torch.jit.interface.*is deprecated", category=FutureWarning)
    import timm

import torch
from monai.networks.blocks import Convolution
from monai.networks.nets import AttentionUnet
from monai.networks.nets.basic_unet import UpCat
from segmentation_models_pytorch import Unet
from timm.layers import trunc_normal_
from timm.models.vision_transformer import Block
from torch import nn

from bench.config import MODEL_STRIDES, MODELS, TrainConfig


def output_channels(num_classes: int) -> int:
    """Logit channels for ``num_classes`` labels (background included): 1 for binary, else ``num_classes``."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2 (background + foreground), got {num_classes}")
    return 1 if num_classes == 2 else num_classes


class TransUNet(nn.Module):
    """CNN + ViT hybrid in the spirit of TransUNet (Chen et al. 2021, R50-ViT with a cascaded upsampler).

    A randomly initialised ResNet-50-like encoder (timm, bottleneck blocks 3-4-9, deep stem, widths scaled by
    ``width``; ``width = 64`` gives TransUNet's 64/256/512/1024 channels) yields skips at 1/2, 1/4 and 1/8 and
    a 1/16 map. Its pixels become tokens (1 x 1 patches), get a learned position embedding and pass through
    ``depth`` transformer blocks; the decoder upsamples x2 four times, concatenating the three skips.

    Args:
        in_channels: image channels.
        out_channels: logit channels.
        image_size: input side length (multiple of 16); fixes the number of position embeddings.
        width: base width of the CNN and the decoder.
        dim, depth, heads: transformer width, number of blocks and attention heads.
    """

    def __init__(
        self, in_channels: int, out_channels: int, image_size: int, width: int, dim: int, depth: int, heads: int
    ) -> None:
        super().__init__()
        w = width
        self.encoder = timm.create_model(
            "resnet50",
            pretrained=False,
            features_only=True,
            out_indices=(0, 1, 2, 3),
            in_chans=in_channels,
            layers=(3, 4, 9, 3),
            channels=(w, 2 * w, 4 * w, 8 * w),
            stem_type="deep",
            stem_width=max(w // 2, 1),
        )
        skip_chs = self.encoder.feature_info.channels()
        self.grid = image_size // 16
        self.patch_embed = nn.Conv2d(skip_chs[3], dim, kernel_size=1)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid * self.grid, dim))
        trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_ratio=4.0, qkv_bias=True) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.conv_more = Convolution(2, dim, 8 * w, kernel_size=3, act="relu", norm="batch", bias=False)
        dec_chs = (4 * w, 2 * w, w, max(w // 4, 8))
        up = dict(
            spatial_dims=2,
            act="relu",
            norm="batch",
            bias=False,
            upsample="nontrainable",
            pre_conv=None,
            interp_mode="bilinear",
            align_corners=True,
        )
        self.decoder = nn.ModuleList(
            [
                UpCat(in_chns=8 * w, cat_chns=skip_chs[2], out_chns=dec_chs[0], **up),
                UpCat(in_chns=dec_chs[0], cat_chns=skip_chs[1], out_chns=dec_chs[1], **up),
                UpCat(in_chns=dec_chs[1], cat_chns=skip_chs[0], out_chns=dec_chs[2], **up),
                UpCat(in_chns=dec_chs[2], cat_chns=0, out_chns=dec_chs[3], **up),
            ]
        )
        self.head = nn.Conv2d(dec_chs[3], out_channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``N x C x H x W`` -> logits ``N x O x H x W``."""
        f2, f4, f8, f16 = self.encoder(x)
        n, _, h, w = f16.shape
        if h * w != self.pos_embed.shape[1]:
            raise ValueError(
                f"TransUNet built for {self.grid * 16}x{self.grid * 16} inputs, got {x.shape[-2]}x{x.shape[-1]}"
            )
        tokens = self.patch_embed(f16).flatten(2).transpose(1, 2) + self.pos_embed
        tokens = self.norm(self.blocks(tokens))
        y = self.conv_more(tokens.transpose(1, 2).reshape(n, -1, h, w))
        for block, skip in zip(self.decoder, (f8, f4, f2, None)):
            y = block(y, skip)
        return self.head(y)


def build_model(name: str, in_channels: int, num_classes: int, image_size: int, cfg: TrainConfig) -> nn.Module:
    """A randomly initialised downstream network returning logits.

    Args:
        name: one of ``bench.config.MODELS``: ``unet`` (segmentation-models-pytorch U-Net with the
            ``cfg.unet_encoder`` encoder), ``attnunet`` (Attention U-Net of Oktay et al., MONAI, channels
            ``width x (1, 2, 4, 8, 16)``) or ``transunet`` (:class:`TransUNet`).
        in_channels: image channels (1 or 3).
        num_classes: labels including background (2 for binary masks).
        image_size: input side length; a multiple of 32 for ``unet`` and of 16 for the others.
        cfg: downstream config (``width``, ``unet_encoder``, ``vit_*``).

    Returns:
        Module mapping ``N x in_channels x S x S`` to logits ``N x O x S x S`` (O = 1 if binary else num_classes).

    Raises:
        ValueError: for an unknown name, a bad channel count, an unsupported size or inconsistent ViT settings.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model '{name}'; known models: {', '.join(MODELS)}")
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 or 3, got {in_channels}")
    if image_size <= 0 or image_size % MODEL_STRIDES[name]:
        raise ValueError(f"model '{name}' needs an image size divisible by {MODEL_STRIDES[name]}, got {image_size}")
    out = output_channels(num_classes)
    if name == "unet":
        return Unet(encoder_name=cfg.unet_encoder, encoder_weights=None, in_channels=in_channels, classes=out)
    w = cfg.width
    if name == "attnunet":
        return AttentionUnet(
            spatial_dims=2,
            in_channels=in_channels,
            out_channels=out,
            channels=(w, 2 * w, 4 * w, 8 * w, 16 * w),
            strides=(2, 2, 2, 2),
        )
    if cfg.vit_dim % cfg.vit_heads:
        raise ValueError(f"vit_dim ({cfg.vit_dim}) must be divisible by vit_heads ({cfg.vit_heads})")
    return TransUNet(in_channels, out, image_size, w, cfg.vit_dim, cfg.vit_layers, cfg.vit_heads)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of ``model`` (trainable or not)."""
    return sum(p.numel() for p in model.parameters())
