"""The ADM-style diffusers ``UNet2DModel`` the diffusion methods build their networks from, and reading a trained
one back from its stage folder."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from diffusers.models.modeling_utils import ModelMixin

from bench.files import reading


def norm_groups(widths: Sequence[int]) -> int:
    """Largest group count <= 32 that divides every width (32 for the paper's widths)."""
    return math.gcd(32, *widths)


def unet_config(
    size: int,
    in_channels: int,
    out_channels: int,
    widths: Sequence[int],
    layers_per_block: int,
    attention_resolutions: Sequence[int] = (),
    head_dim: int = 64,
    mid_attention: bool = True,
    resblock_updown: bool = True,
    class_embedding: bool = True,
    dropout: float = 0.0,
) -> dict[str, Any]:
    """Config of an ADM-style diffusers ``UNet2DModel`` (scale-shift norm, residual up/down-sampling).

    Args:
        size: input height = width; must be divisible by ``2 ** (len(widths) - 1)``.
        in_channels, out_channels: channel counts of input and output.
        widths: channel width per resolution level (ADM: ``width * channel_mult``).
        layers_per_block: residual blocks per level on the way down (one more on the way up, as in ADM).
        attention_resolutions: feature-map sizes (in pixels) whose blocks get self-attention.
        head_dim: channels per attention head (capped at the narrowest level).
        mid_attention: self-attention in the middle block.
        resblock_updown: down/up-sample with residual blocks (ADM ``resblock_updown``) instead of convolutions.
        class_embedding: accept a precomputed vector (``class_labels``) added to the time embedding.
        dropout: dropout in every residual block (entered in the config only when > 0, so that the configs of
            networks built before it existed are unchanged).

    Raises:
        ValueError: if ``size`` cannot be halved ``len(widths) - 1`` times.
    """
    levels = len(widths)
    if size % 2 ** (levels - 1):
        raise ValueError(f"image size {size} is not divisible by 2**{levels - 1} (levels of widths {tuple(widths)})")
    attn = [size // 2**i in set(attention_resolutions) for i in range(levels)]
    plain_down = "ResnetDownsampleBlock2D" if resblock_updown else "DownBlock2D"
    plain_up = "ResnetUpsampleBlock2D" if resblock_updown else "UpBlock2D"
    return {
        "sample_size": size,
        "in_channels": in_channels,
        "out_channels": out_channels,
        "block_out_channels": tuple(widths),
        "layers_per_block": layers_per_block,
        "down_block_types": tuple("AttnDownBlock2D" if a else plain_down for a in attn),
        "up_block_types": tuple("AttnUpBlock2D" if a else plain_up for a in reversed(attn)),
        "downsample_type": "resnet" if resblock_updown else "conv",
        "upsample_type": "resnet" if resblock_updown else "conv",
        "attention_head_dim": min(head_dim, min(widths)),
        "norm_num_groups": norm_groups(widths),
        "resnet_time_scale_shift": "scale_shift",
        "add_attention": mid_attention,
        "class_embed_type": "identity" if class_embedding else None,
        **({"dropout": dropout} if dropout > 0 else {}),
    }


def load_model(
    cls: type[ModelMixin], folder: Path, device: torch.device | str = "cpu", origin: str = "", remedy: str = ""
) -> Any:
    """``cls.from_pretrained(folder)`` on ``device``, in eval mode, with every weight in freshly allocated memory.

    safetensors hands out tensors at unaligned offsets of the file, and CPU kernels take other code paths on
    unaligned data, so outputs would differ in the last bits from the model that was saved; a copy restores
    bit-identical results.

    Raises:
        bench.files.CorruptFileError: a folder that holds no such network (torn or foreign files), naming
            ``origin`` (the option that gave it) and ``remedy``; by default, as for a cached stage, that deleting
            the folder or ``--force`` makes it again.
    """
    remedy = remedy or f"delete {folder} (or run with --force) to make it again"
    with reading(folder, f"a trained {cls.__name__}", remedy, origin):
        model = cls.from_pretrained(folder)
    with torch.no_grad():
        for param in model.parameters():
            param.data = param.data.clone()
    return model.to(device).eval()
