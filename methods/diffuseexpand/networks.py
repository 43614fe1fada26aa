"""The networks of DiffuseExpand: its conditional denoiser and its noise-aware segmenter.

* :class:`Denoiser` (stage I): ε_θ(x_t, t, y1, y2) for masks and images (paper Eq. 3).
* :class:`NoisySegmenter` (stage II): f_ψ (pixel logits) and g_ω (mode logits) on noised samples (Eq. 4).

Both are diffusers models (``ModelMixin, ConfigMixin``): the constructor arguments are the saved config, so
``save_pretrained`` / ``from_pretrained`` write and read a stage folder (``config.json`` +
``diffusion_pytorch_model.safetensors``), read back by :func:`methods.diffusion.unet.load_model`; their UNets are
:func:`methods.diffusion.unet_config`'s, and :data:`methods.diffusion.NOISE_SCHEDULE` is saved beside the
denoiser as ``scheduler_config.json`` so that training, guidance and sampling use one forward process.

Two conditions enter the denoiser:

* ``y1`` (mode): :data:`MODE_MASK` = 1 generates a mask, :data:`MODE_IMAGE` = 0 an image: a two-entry embedding
  added to the time embedding. The paper's text swaps the two words while its Eq. 3 and the released code use
  1 = mask, 0 = image; we follow Eq. 3 and the code.
* ``y2`` (the mask an image is generated for), used by image samples only: the {0,1} mask, or for K > 1
  foreground classes its K one-hot channels (:mod:`.labels`, where the sample channels are laid out too):

  - ``conditioning="embedding"`` (paper / released code): the mask goes through conv3x3 (no bias, K -> 1) ->
    adaptive average pool to 16x16 -> flatten -> Linear(256 -> time-embedding width), added to the time
    embedding, so the mask reaches every residual block as one global vector through scale-shift norm.
    The null condition is the zero mask, whose embedding is the Linear bias.
  - ``conditioning="concat"`` (spatial alternative): the mask is K extra input channels; zeros for the null
    condition and for mask samples.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import UNet2DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from bench.files import reading
from methods.diffuseexpand.labels import data_channels
from methods.diffuseexpand.options import CONDITIONING, DiffuseExpandOptions
from methods.diffusion import pretrained
from methods.diffusion.augment import AUGMENT_DIM, AugmentEmbedding
from methods.diffusion.unet import load_model, norm_groups, unet_config

logger = logging.getLogger(__name__)

MODE_IMAGE = 0
MODE_MASK = 1


class MaskEncoder(nn.Module):
    """Global mask embedding of the released code: conv3x3 (no bias) -> avg-pool -> flatten -> Linear."""

    def __init__(self, embed_dim: int, pool: int, mask_channels: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(mask_channels, 1, kernel_size=3, padding=1, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(pool)
        self.proj = nn.Linear(pool * pool, embed_dim)

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        """Map float ``N x K x H x W`` masks in {0, 1} to ``N x embed_dim`` vectors."""
        return self.proj(self.pool(self.conv(mask)).flatten(1))


class Denoiser(ModelMixin, ConfigMixin):
    """ε-predictor ε_θ(x_t, t, y1, y2) for both generation modes (paper Eq. 3).

    Args:
        unet_config (`dict`): config of the ``UNet2DModel`` (``class_embed_type="identity"``; input the D sample
            channels, +K for ``concat`` conditioning; output D), see :func:`unet_config`.
        conditioning (`str`): how the mask condition enters, ``"embedding"`` or ``"concat"`` (module docstring).
        mask_pool (`int`, *optional*, defaults to 16): pooled size of the ``embedding`` mask encoder (paper: 16).
        mask_channels (`int`, *optional*, defaults to 1): foreground classes K of the masks.
        image_channels (`int`, *optional*): image channels C, when fewer than the D sample channels.
        augment_dim (`int`, *optional*, defaults to 0): entries of the non-leaking augmentation condition
            (:data:`methods.diffusion.augment.AUGMENT_DIM` when trained with ``augment_p > 0``; 0: none).

    The two class-count arguments enter the saved config only when masks are multi-class, and ``augment_dim`` only
    when it is > 0, so a denoiser's ``config.json`` (and every stage folder holding one) is the one written before
    those existed.
    """

    def __init__(
        self,
        unet_config: dict[str, Any],
        conditioning: str,
        mask_pool: int = 16,
        mask_channels: int = 1,
        image_channels: int | None = None,
        augment_dim: int = 0,
    ) -> None:
        super().__init__()
        classes = {"mask_channels": mask_channels, "image_channels": image_channels} if mask_channels > 1 else {}
        classes.update({"augment_dim": augment_dim} if augment_dim else {})
        self.register_to_config(unet_config=unet_config, conditioning=conditioning, mask_pool=mask_pool, **classes)
        if conditioning not in CONDITIONING:
            raise ValueError(f"conditioning must be one of {CONDITIONING}, got {conditioning!r}")
        if unet_config.get("class_embed_type") != "identity":
            raise ValueError("the denoiser's UNet needs class_embed_type='identity' (conditions are added vectors)")
        self.unet = UNet2DModel.from_config(dict(unet_config))
        embed_dim = self.unet.time_embedding.linear_2.out_features
        self.mode_embedding = nn.Embedding(2, embed_dim)
        self.mask_encoder = MaskEncoder(embed_dim, mask_pool, mask_channels) if conditioning == "embedding" else None
        self.mask_channels = mask_channels
        self.image_channels = image_channels or self.channels
        # built last, so that every other weight draws from the seed as without it
        self.augment_embedding = AugmentEmbedding(embed_dim) if augment_dim else None

    @property
    def channels(self) -> int:
        """Sample channels D (input and output): the image channels C for binary masks, see :mod:`.labels`."""
        return int(self.unet.config.out_channels)

    @property
    def size(self) -> int:
        return int(self.unet.config.sample_size)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | int,
        mode: torch.Tensor,
        cond: torch.Tensor | None = None,
        augment: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the noise.

        Args:
            sample: float ``N x D x H x W``, the noised sample x_t in diffusion space ([-1, 1] at t = 0).
            timestep: int timestep(s) in [0, T), scalar or ``N``.
            mode: int64 ``N``, :data:`MODE_IMAGE` or :data:`MODE_MASK` (y1).
            cond: float ``N x K x H x W`` masks in {0, 1} (y2, :func:`.labels.one_hot`) for image samples; zeros
                (or ``None`` for the whole batch) is the null condition. Ignored for mask samples.
            augment: float ``N x AUGMENT_DIM``, the warps of augmented training samples; ``None`` (sampling, or
                a denoiser trained without augmentation) adds nothing, as the zero vector does.

        Returns:
            float ``N x D x H x W`` predicted noise.
        """
        is_image = (mode == MODE_IMAGE).to(sample.dtype)
        if cond is None:
            cond = sample.new_zeros(sample.shape[0], self.mask_channels, *sample.shape[-2:])
        cond = cond.to(sample.dtype) * is_image[:, None, None, None]
        emb = self.mode_embedding(mode)
        if augment is not None and self.augment_embedding is not None:
            emb = emb + self.augment_embedding(augment)
        if self.mask_encoder is not None:
            emb = emb + self.mask_encoder(cond) * is_image[:, None]
        else:
            sample = torch.cat([sample, cond], dim=1)
        return self.unet(sample, timestep, class_labels=emb).sample


@dataclass
class SegmenterOutput:
    """Outputs of :class:`NoisySegmenter`.

    Attributes:
        logits: float ``N x 1 x H x W`` pixel logits of the foreground (f_ψ), or ``N x (K+1) x H x W`` class
            logits (background first) for K > 1 foreground classes.
        mode_logits: float ``N x 2`` logits of y1 (g_ω): index 0 image, 1 mask.
    """

    logits: torch.Tensor
    mode_logits: torch.Tensor


class NoisySegmenter(ModelMixin, ConfigMixin):
    """f_ψ and g_ω on one time-conditioned UNet (paper §3.3).

    g_ω reads the last decoder feature map through GroupNorm -> SiLU -> global average pool -> Linear(2).

    Args:
        unet_config (`dict`): config of a ``UNet2DModel`` with one output channel (the foreground logit) for binary
            masks, K + 1 (softmax over the labels) for K > 1 foreground classes.
    """

    @register_to_config
    def __init__(self, unet_config: dict[str, Any]) -> None:
        super().__init__()
        self.unet = UNet2DModel.from_config(dict(unet_config))
        width = self.unet.config.block_out_channels[0]
        self.mode_head = nn.Sequential(
            nn.GroupNorm(norm_groups([width]), width),
            nn.SiLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(width, 2),
        )

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | int) -> SegmenterOutput:
        """Segment a noised sample ``N x C x H x W`` (diffusion space) at timestep(s) of the denoiser's schedule."""
        features: list[torch.Tensor] = []
        hook = self.unet.conv_norm_out.register_forward_pre_hook(lambda _m, args: features.append(args[0]))
        try:
            logits = self.unet(sample, timestep).sample
        finally:
            hook.remove()
        return SegmenterOutput(logits, self.mode_head(features[0]))

    @property
    def num_classes(self) -> int:
        """Labels including background that the pixel head tells apart (2 for binary masks)."""
        return max(2, int(self.unet.config.out_channels))


def build_denoiser(o: DiffuseExpandOptions, size: int, channels: int, seed: int, num_classes: int = 2) -> Denoiser:
    """The stage-I network the options describe, initialised from ``seed`` (or from ``o.pretrained``).

    ``channels`` are the image channels C and ``num_classes`` the mask labels K + 1 (2 for binary masks).

    The paper's options give the ADM configuration (553 M parameters at 256 x 256). With ``o.pretrained`` (a
    local diffusers ``UNet2DModel`` folder, never downloaded; paper §3.2 fine-tunes an ImageNet DPM) its
    architecture replaces the ``denoiser_*`` network options, see :func:`adapt_pretrained`.

    Raises:
        ValueError: for an unknown conditioning or a size the network cannot halve often enough.
        FileNotFoundError: if ``o.pretrained`` is not a folder.
    """
    k = num_classes - 1
    samples = data_channels(channels, k)
    in_channels = samples + (k if o.conditioning == "concat" else 0)
    classes = {"mask_channels": k, "image_channels": channels} if k > 1 else {}
    classes.update({"augment_dim": AUGMENT_DIM} if o.augment_p > 0 else {})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if o.pretrained is not None and (Path(o.pretrained) / pretrained.RECORD).is_file():
            return _from_pretraining(Path(o.pretrained), _denoiser(o, size, in_channels, samples, classes))
        if o.pretrained is not None:
            source = _load_pretrained(Path(o.pretrained))
            config = {**source.config, "sample_size": size, "in_channels": in_channels, "out_channels": samples}
            config.update(class_embed_type="identity", num_class_embeds=None)
            config.update({"dropout": o.denoiser_dropout} if o.denoiser_dropout > 0 else {})
            denoiser = Denoiser(_plain(config), o.conditioning, **classes)
            adapt_pretrained(denoiser.unet, source, channels)
            return denoiser
        return _denoiser(o, size, in_channels, samples, classes)


def _denoiser(o: DiffuseExpandOptions, size: int, in_channels: int, samples: int, classes: dict) -> Denoiser:
    config = unet_config(
        size,
        in_channels,
        samples,
        o.denoiser_widths,
        o.denoiser_layers,
        o.denoiser_attention,
        o.denoiser_head_dim,
        resblock_updown=o.denoiser_resblock_updown,
        dropout=o.denoiser_dropout,
    )
    return Denoiser(config, o.conditioning, **classes)


def _from_pretraining(folder: Path, denoiser: Denoiser) -> Denoiser:
    """``denoiser`` with the weights ``bench pretrain`` wrote in ``folder``, mode and mask embeddings included."""
    source = load_model(Denoiser, folder, origin=pretrained.OPTION, remedy=pretrained.REMAKE)
    return pretrained.copy_weights(denoiser, source, folder)


def build_segmenter(
    o: DiffuseExpandOptions, size: int, channels: int, seed: int, num_classes: int = 2
) -> NoisySegmenter:
    """The stage-II network the options describe (released: width 64, mult 1, 2, 2, 4, middle attention).

    It reads the denoiser's samples (``channels`` image channels C, laid out by :mod:`.labels` for
    ``num_classes`` labels) and has one logit per label for multi-class masks, one in all for binary ones.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        config = unet_config(
            size,
            data_channels(channels, num_classes - 1),
            1 if num_classes == 2 else num_classes,
            o.segmenter_widths,
            o.segmenter_layers,
            o.segmenter_attention,
            mid_attention=True,
            resblock_updown=True,
            class_embedding=False,
        )
        return NoisySegmenter(config)


def _load_pretrained(folder: Path) -> UNet2DModel:
    if not folder.is_dir():
        raise FileNotFoundError(f"pretrained UNet folder not found: {folder}")
    expected = "a diffusers UNet2DModel (config.json and diffusion_pytorch_model.safetensors)"
    with reading(folder, expected, origin=pretrained.OPTION):
        return UNet2DModel.from_pretrained(folder, local_files_only=True)


def _plain(config: Any) -> dict[str, Any]:
    """A diffusers config as a plain dict without its private ``_`` keys."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dict(config).items() if not k.startswith("_")}


def adapt_pretrained(unet: UNet2DModel, source: UNet2DModel, image_channels: int) -> None:
    """Copy a pretrained UNet's weights into ``unet``, fitting the first and last convolutions.

    The first convolution's kernels are summed over the pretrained input channels and shared out over the new
    image channels (a grey image seen by an RGB network is the image on every channel, so this keeps the
    first layer's response); ``concat`` condition channels and sample channels beyond the image's start at zero.
    The last convolution keeps the first outputs, one per sample channel (the ε channels of a learned-variance
    model). The pretrained class
    embedding is dropped; the mode and mask embeddings stay new, as in the released code.
    """
    state = source.state_dict()
    new_in = torch.zeros_like(unet.conv_in.weight)
    new_in[:, :image_channels] = state["conv_in.weight"].sum(dim=1, keepdim=True) / image_channels
    state["conv_in.weight"] = new_in
    out = unet.config.out_channels
    state["conv_out.weight"] = state["conv_out.weight"][:out]
    state["conv_out.bias"] = state["conv_out.bias"][:out]
    own = unet.state_dict()
    skipped = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
    unet.load_state_dict({k: v for k, v in state.items() if k not in skipped}, strict=False)
    if skipped:
        logger.info("pretrained UNet: %d tensors not reused: %s", len(skipped), ", ".join(skipped[:5]))
