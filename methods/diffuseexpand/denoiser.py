"""Stage I: one conditional denoiser for masks and images (paper §3.2, Eq. 3).

The network predicts the noise ε of a noised sample x_t (ε-prediction, linear β from 1e-4 to 0.02, T = 1000).
Two conditions enter it:

* ``y1`` (mode): :data:`MODE_MASK` = 1 generates a mask, :data:`MODE_IMAGE` = 0 generates an image. It is a
  two-entry embedding added to the time embedding. The paper's text swaps the two words ("y1 is 0/1 means the
  DPM synthesizes the mask/image") while its Eq. 3 and the released code use 1 = mask, 0 = image; we follow
  Eq. 3 and the code.
* ``y2`` (the mask an image is generated for), used by image samples only:

  - ``conditioning="embedding"`` (paper / released code): the {0,1} mask goes through conv3x3 (no bias) ->
    adaptive average pool to 16x16 -> flatten -> Linear(256 -> time-embedding width), added to the time
    embedding, so the mask reaches every residual block as one global vector through scale-shift norm.
    The null condition is the zero mask, whose embedding is the Linear bias.
  - ``conditioning="concat"`` (spatial alternative): the mask is one extra input channel; zeros for the null
    condition and for mask samples.

Training (:func:`fit_denoiser`) follows Eq. 3: every real pair gives a mask sample and an image sample
(conditioned on its mask); the mask condition of image samples is dropped with probability ``cfg_dropout``
(0.5) for classifier-free sampling. The loop (:func:`train_loop`) adds what the released code lacks: an EMA of
the weights, bf16 autocast on CUDA, and resumable, atomically written checkpoints.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel, compute_snr
from torch import nn

from bench.data import PairSet

logger = logging.getLogger(__name__)

MODE_IMAGE = 0
MODE_MASK = 1
CONDITIONING = ("embedding", "concat")

NOISE_SCHEDULE: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 1e-4,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "prediction_type": "epsilon",
}
"""The forward process shared by every stage (paper §2; released code: linear β, T = 1000, ε-prediction)."""

BatchLoss = Callable[[nn.Module, torch.Generator], torch.Tensor]
StepCallback = Callable[[int, float], None]


def noise_scheduler(config: dict[str, Any] | None = None) -> DDPMScheduler:
    """The DDPM scheduler whose ``add_noise`` noises training samples.

    Args:
        config (`dict`, *optional*, defaults to :data:`NOISE_SCHEDULE`): a scheduler config, e.g. the one saved
            next to a denoiser, so that the segmenter and the sampler use the denoiser's exact schedule.
    """
    return DDPMScheduler.from_config(dict(config or NOISE_SCHEDULE))


# ----------------------------------------------------------------------------------------------------------
# Networks
# ----------------------------------------------------------------------------------------------------------


def _norm_groups(widths: Sequence[int]) -> int:
    """Largest group count <= 32 that divides every width (32 for the paper's widths)."""
    return math.gcd(32, *widths)


def build_unet(
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
) -> UNet2DModel:
    """An ADM-style diffusers ``UNet2DModel`` (scale-shift norm, residual up/down-sampling).

    Args:
        size: input height = width; must be divisible by ``2 ** (len(widths) - 1)``.
        in_channels, out_channels: channel counts of input and output.
        widths: channel width per resolution level (ADM: ``width * channel_mult``).
        layers_per_block: residual blocks per level on the way down (one more on the way up, as in ADM).
        attention_resolutions: feature-map sizes (in pixels) whose blocks get self-attention.
        head_dim: channels per attention head (capped at the level width).
        mid_attention: self-attention in the middle block.
        resblock_updown: down/up-sample with residual blocks (ADM ``resblock_updown``) instead of convolutions.
        class_embedding: accept a precomputed vector (``class_labels``) added to the time embedding.

    Raises:
        ValueError: if ``size`` cannot be halved ``len(widths) - 1`` times.
    """
    levels = len(widths)
    if size % 2 ** (levels - 1):
        raise ValueError(f"image size {size} is not divisible by 2**{levels - 1} (levels of widths {tuple(widths)})")
    attn = [size // 2**i in set(attention_resolutions) for i in range(levels)]
    plain_down = "ResnetDownsampleBlock2D" if resblock_updown else "DownBlock2D"
    plain_up = "ResnetUpsampleBlock2D" if resblock_updown else "UpBlock2D"
    down = tuple("AttnDownBlock2D" if a else plain_down for a in attn)
    up = tuple("AttnUpBlock2D" if a else plain_up for a in reversed(attn))
    return UNet2DModel(
        sample_size=size,
        in_channels=in_channels,
        out_channels=out_channels,
        block_out_channels=tuple(widths),
        layers_per_block=layers_per_block,
        down_block_types=down,
        up_block_types=up,
        downsample_type="resnet" if resblock_updown else "conv",
        upsample_type="resnet" if resblock_updown else "conv",
        attention_head_dim=min(head_dim, min(widths)),
        norm_num_groups=_norm_groups(widths),
        resnet_time_scale_shift="scale_shift",
        add_attention=mid_attention,
        class_embed_type="identity" if class_embedding else None,
    )


class MaskEncoder(nn.Module):
    """Global mask embedding of the released code: conv3x3 (no bias) -> avg-pool -> flatten -> Linear.

    Args:
        embed_dim: output width (the time-embedding width of the UNet).
        pool: side of the average-pooled map (16 in the paper, giving 256 features).
    """

    def __init__(self, embed_dim: int, pool: int = 16) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, kernel_size=3, padding=1, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(pool)
        self.proj = nn.Linear(pool * pool, embed_dim)

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        """Map float ``N x 1 x H x W`` masks in {0, 1} to ``N x embed_dim`` vectors."""
        return self.proj(self.pool(self.conv(mask)).flatten(1))


class Denoiser(nn.Module):
    """ε-predictor ε_θ(x_t, t, y1, y2) for both generation modes (paper Eq. 3).

    Args:
        unet: a ``UNet2DModel`` built with ``class_embed_type="identity"``; its input has ``channels`` image
            channels (+1 for ``concat`` conditioning) and its output ``channels``.
        conditioning (`str`, *optional*, defaults to ``"embedding"``): how the mask condition enters, see the
            module docstring.
        mask_pool (`int`, *optional*, defaults to 16): pooled size of the ``embedding`` mask encoder.
    """

    def __init__(self, unet: UNet2DModel, conditioning: str = "embedding", mask_pool: int = 16) -> None:
        super().__init__()
        if conditioning not in CONDITIONING:
            raise ValueError(f"conditioning must be one of {CONDITIONING}, got {conditioning!r}")
        if unet.config.class_embed_type != "identity":
            raise ValueError("the denoiser's UNet needs class_embed_type='identity' (conditions are added vectors)")
        self.unet = unet
        self.conditioning = conditioning
        self.mask_pool = mask_pool
        embed_dim = unet.time_embedding.linear_2.out_features
        self.mode_embedding = nn.Embedding(2, embed_dim)
        self.mask_encoder = MaskEncoder(embed_dim, mask_pool) if conditioning == "embedding" else None

    @property
    def channels(self) -> int:
        """Image channels C (the sample and output channel count)."""
        return self.unet.config.out_channels

    @property
    def size(self) -> int:
        return int(self.unet.config.sample_size)

    def forward(
        self, sample: torch.Tensor, timestep: torch.Tensor | int, mode: torch.Tensor, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Predict the noise.

        Args:
            sample: float ``N x C x H x W``, the noised sample x_t in diffusion space ([-1, 1] at t = 0).
            timestep: int timestep(s) in [0, T), scalar or ``N``.
            mode: int64 ``N``, :data:`MODE_IMAGE` or :data:`MODE_MASK` (y1).
            cond: float ``N x 1 x H x W`` masks in {0, 1} (y2) for image samples; zeros (or ``None`` for the
                whole batch) is the null condition. Ignored for mask samples.

        Returns:
            float ``N x C x H x W`` predicted noise.
        """
        is_image = (mode == MODE_IMAGE).to(sample.dtype)
        if cond is None:
            cond = sample.new_zeros(sample.shape[0], 1, *sample.shape[-2:])
        cond = cond.to(sample.dtype) * is_image[:, None, None, None]
        emb = self.mode_embedding(mode)
        if self.mask_encoder is not None:
            emb = emb + self.mask_encoder(cond) * is_image[:, None]
        else:
            sample = torch.cat([sample, cond], dim=1)
        return self.unet(sample, timestep, class_labels=emb).sample

    def export_config(self) -> dict[str, Any]:
        """JSON-serialisable description from which :func:`denoiser_from_config` rebuilds the architecture."""
        return {"conditioning": self.conditioning, "mask_pool": self.mask_pool, "unet": _jsonable(self.unet.config)}


def _jsonable(config: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dict(config), default=list))


def build_denoiser(
    size: int,
    channels: int = 1,
    conditioning: str = "embedding",
    widths: Sequence[int] = (256, 256, 512, 512, 1024, 1024),
    layers_per_block: int = 2,
    attention_resolutions: Sequence[int] = (32, 16, 8),
    head_dim: int = 64,
    resblock_updown: bool = True,
    mask_pool: int = 16,
    pretrained: str | os.PathLike | None = None,
    seed: int = 0,
) -> Denoiser:
    """Build the stage-I denoiser; defaults are the paper's ADM configuration (553 M parameters at 256x256).

    Args:
        size: image height = width.
        channels: image channels C (1 for X-rays); masks are replicated to C channels.
        conditioning: ``"embedding"`` (paper) or ``"concat"``.
        widths: per-level widths (paper: width 256 x mult (1, 1, 2, 2, 4, 4)).
        layers_per_block: residual blocks per level (paper: 2).
        attention_resolutions: feature sizes in pixels with self-attention (paper: 32, 16, 8).
        head_dim: channels per attention head (paper: 64).
        resblock_updown: residual down/up-sampling (paper: True).
        mask_pool: pooled size of the mask encoder (paper: 16).
        pretrained: optional local diffusers-format ``UNet2DModel`` folder to start from (paper §3.2 fine-tunes an
            ImageNet DPM); its architecture replaces ``widths``/``layers_per_block``/attention settings. Never
            downloaded.
        seed: initialisation seed.

    Raises:
        ValueError: for an unknown ``conditioning`` or an incompatible size.
        FileNotFoundError: if ``pretrained`` is not a folder.
    """
    in_channels = channels + (1 if conditioning == "concat" else 0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if pretrained is not None:
            unet = _adapt_pretrained(Path(pretrained), size, in_channels, channels)
        else:
            unet = build_unet(
                size,
                in_channels,
                channels,
                widths,
                layers_per_block,
                attention_resolutions,
                head_dim,
                resblock_updown=resblock_updown,
            )
        return Denoiser(unet, conditioning, mask_pool)


def _adapt_pretrained(folder: Path, size: int, in_channels: int, out_channels: int) -> UNet2DModel:
    """Load a local ``UNet2DModel`` and fit its first/last convolutions to our channel counts.

    The first convolution's kernels are summed over the pretrained input channels and shared out over the new
    image channels (a grey image seen by an RGB network is the image on every channel, so this keeps the
    first layer's response); a ``concat`` condition channel starts at zero. The last convolution keeps the
    first ``out_channels`` outputs (the ε channels of a learned-variance model). The pretrained class
    embedding is dropped; the mode and mask embeddings are new.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"pretrained UNet folder not found: {folder}")
    source = UNet2DModel.from_pretrained(folder, local_files_only=True)
    config = dict(source.config)
    config.update(
        sample_size=size,
        in_channels=in_channels,
        out_channels=out_channels,
        class_embed_type="identity",
        num_class_embeds=None,
    )
    unet = UNet2DModel.from_config(config)
    state = source.state_dict()
    image_channels = out_channels
    w_in = state["conv_in.weight"]
    new_in = torch.zeros_like(unet.conv_in.weight)
    new_in[:, :image_channels] = w_in.sum(dim=1, keepdim=True) / image_channels
    state["conv_in.weight"] = new_in
    state["conv_out.weight"] = state["conv_out.weight"][:out_channels]
    state["conv_out.bias"] = state["conv_out.bias"][:out_channels]
    own = unet.state_dict()
    skipped = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
    unet.load_state_dict({k: v for k, v in state.items() if k not in skipped}, strict=False)
    if skipped:
        logger.info("pretrained %s: %d tensors not reused: %s", folder, len(skipped), ", ".join(skipped[:5]))
    return unet


def denoiser_from_config(config: dict[str, Any]) -> Denoiser:
    """Rebuild an (untrained) denoiser from :meth:`Denoiser.export_config`."""
    return Denoiser(UNet2DModel.from_config(config["unet"]), config["conditioning"], config["mask_pool"])


def save_denoiser(denoiser: Denoiser, folder: Path, scheduler_config: dict[str, Any] | None = None) -> None:
    """Write ``denoiser.json``, ``scheduler_config.json`` and ``model.pt`` (last, so its presence means done)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "denoiser.json", denoiser.export_config())
    write_json(folder / "scheduler_config.json", dict(scheduler_config or NOISE_SCHEDULE))
    atomic_save({k: v.detach().cpu() for k, v in denoiser.state_dict().items()}, folder / "model.pt")


def load_denoiser(folder: Path, device: torch.device | str = "cpu") -> tuple[Denoiser, dict[str, Any]]:
    """Load a denoiser written by :func:`save_denoiser`, in eval mode, with its scheduler config."""
    denoiser = denoiser_from_config(json.loads((folder / "denoiser.json").read_text()))
    denoiser.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
    return denoiser.to(device).eval(), json.loads((folder / "scheduler_config.json").read_text())


# ----------------------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------------------


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: Path, obj: Any) -> None:
    """Write indented JSON atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=str)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------


@dataclass
class TrainLog:
    """What a training loop did.

    Attributes:
        losses: loss of every step, resumed steps included.
        seconds: wall-clock training time, summed over interrupted attempts.
        steps: optimiser steps done.
        resumed_from: the step the last call started from (0 for a fresh run).
    """

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0
    resumed_from: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def autocast_context(device: torch.device, enabled: bool = True) -> torch.autocast:
    """bf16 autocast on CUDA; disabled elsewhere (bf16 matmuls are slower than fp32 on common CPUs)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


def train_loop(
    model: nn.Module,
    batch_loss: BatchLoss,
    *,
    steps: int,
    lr: float,
    seed: int,
    device: torch.device,
    lr_schedule: str = "linear",
    ema_decay: float = 0.0,
    mixed_precision: bool = True,
    checkpoint: Path | None = None,
    checkpoint_every: int = 0,
    callback: StepCallback | None = None,
) -> TrainLog:
    """AdamW training with optional EMA and resumable checkpoints; leaves the (EMA) weights in ``model``.

    Args:
        model: the network, already on ``device``; left in train mode while training, eval mode at the end.
        batch_loss: ``(model, generator) -> scalar loss``; draws its batch and noise from ``generator`` only,
            so that a resumed run continues the same random stream.
        steps: total optimiser steps.
        lr: peak learning rate (AdamW, weight decay 0).
        seed: seeds the loop's CPU ``torch.Generator``.
        device: compute device (bf16 autocast when it is CUDA and ``mixed_precision``).
        lr_schedule: ``"linear"`` (decay to 0 at ``steps``, released stage I) or ``"constant"``.
        ema_decay: EMA decay (diffusers ``EMAModel``, warm-up ``(1 + n) / (10 + n)`` capped at the decay);
            ``0`` disables EMA.
        checkpoint: file for the latest checkpoint (model, optimiser, LR schedule, EMA, generator state, step,
            losses, seconds), written atomically every ``checkpoint_every`` steps; if it exists the loop
            resumes from it.
        checkpoint_every: steps between checkpoints; ``0`` writes none.
        callback: called after every step with ``(step, loss)`` (1-based step).

    Returns:
        TrainLog of the whole run (resumed steps included).
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    scheduler = get_scheduler(lr_schedule, optimizer, num_warmup_steps=0, num_training_steps=steps)
    ema = EMAModel(model.parameters(), decay=ema_decay) if ema_decay > 0 else None
    log = TrainLog()
    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
            ema.to(device)
        log = TrainLog(state["losses"], state["seconds"], state["step"], resumed_from=state["step"])
        logger.info("resuming from %s at step %d/%d", checkpoint, log.steps, steps)
    model.train()
    start = time.perf_counter()
    seconds_before = log.seconds
    for step in range(log.steps + 1, steps + 1):
        with autocast_context(device, mixed_precision):
            loss = batch_loss(model, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.float().backward()
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.step(model.parameters())
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"training loss is {value} at step {step}")
        log.losses.append(value)
        log.steps = step
        log.seconds = seconds_before + time.perf_counter() - start
        if checkpoint is not None and checkpoint_every > 0 and (step % checkpoint_every == 0 or step == steps):
            atomic_save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "generator": generator.get_state(),
                    "ema": ema.state_dict() if ema is not None else None,
                    "step": step,
                    "losses": log.losses,
                    "seconds": log.seconds,
                },
                checkpoint,
            )
        if callback is not None:
            callback(step, value)
    if ema is not None:
        ema.copy_to(model.parameters())
    model.eval()
    return log


def diffusion_samples(pairs: PairSet) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The 2N stage-I training samples of N pairs (paper Eq. 3).

    Returns:
        ``x0`` float ``2N x C x H x W`` in [-1, 1] (N masks replicated to C channels, then N images), ``mode``
        int64 ``2N`` (:data:`MODE_MASK` then :data:`MODE_IMAGE`) and ``cond`` float ``2N x 1 x H x W`` in {0, 1}
        (each sample's pair mask).
    Raises:
        ValueError: if the masks are not binary.
    """
    if len(pairs) and int(pairs.masks.max()) > 1:
        raise ValueError(
            f"{pairs.name}: DiffuseExpand needs binary masks, found labels up to {int(pairs.masks.max())}"
        )
    masks = pairs.masks[:, None].float()
    c = pairs.images.shape[1]
    x0 = torch.cat([masks.expand(-1, c, -1, -1), pairs.images.float()]) * 2 - 1
    n = len(pairs)
    mode = torch.cat([torch.full((n,), MODE_MASK), torch.full((n,), MODE_IMAGE)]).long()
    return x0, mode, torch.cat([masks, masks])


def denoiser_loss(
    x0: torch.Tensor,
    mode: torch.Tensor,
    cond: torch.Tensor,
    *,
    batch_size: int,
    cfg_dropout: float,
    scheduler: DDPMScheduler,
    snr_gamma: float = 0.0,
) -> BatchLoss:
    """The Eq. 3 batch loss: ‖ε_θ(x_t, t, y1, y2) − ε‖² on a random batch of :func:`diffusion_samples`.

    Image samples keep their mask condition with probability ``1 - cfg_dropout`` (dropped = zero mask);
    every random draw (batch, t, ε, dropout) comes from the loop's generator. ``snr_gamma > 0`` weights each
    sample by min(SNR_t, γ) / SNR_t (Min-SNR-γ, Hang et al. 2023; diffusers ``compute_snr``), which converges
    faster than the paper's plain MSE (``snr_gamma = 0``).
    """
    n = x0.shape[0]
    t_max = scheduler.config.num_train_timesteps

    def loss(model: nn.Module, generator: torch.Generator) -> torch.Tensor:
        index = torch.randint(0, n, (batch_size,), generator=generator)
        t = torch.randint(0, t_max, (batch_size,), generator=generator)
        noise = torch.randn((batch_size, *x0.shape[1:]), generator=generator)
        keep = (torch.rand(batch_size, generator=generator) >= cfg_dropout).float()
        device = x0.device
        index, t, noise, keep = index.to(device), t.to(device), noise.to(device), keep.to(device)
        x_t = scheduler.add_noise(x0[index], noise, t)
        eps = model(x_t, t, mode[index], cond[index] * keep[:, None, None, None])
        if snr_gamma <= 0:
            return F.mse_loss(eps.float(), noise)
        snr = compute_snr(scheduler, t)
        weight = snr.clamp(max=snr_gamma) / snr
        return (weight * F.mse_loss(eps.float(), noise, reduction="none").flatten(1).mean(1)).mean()

    return loss


def fit_denoiser(
    denoiser: Denoiser,
    pairs: PairSet,
    *,
    steps: int,
    batch_size: int = 16,
    lr: float = 1e-4,
    cfg_dropout: float = 0.5,
    ema_decay: float = 0.9999,
    snr_gamma: float = 0.0,
    seed: int = 0,
    device: torch.device | str = "cpu",
    mixed_precision: bool = True,
    scheduler_config: dict[str, Any] | None = None,
    checkpoint: Path | None = None,
    checkpoint_every: int = 0,
    callback: StepCallback | None = None,
) -> TrainLog:
    """Train the denoiser on real pairs (paper §3.2; AdamW 1e-4 decaying linearly to 0, batch 16).

    Args:
        denoiser: from :func:`build_denoiser`; moved to ``device`` and left in eval mode with EMA weights.
        pairs: real training pairs; images float ``N x C x H x W`` in [0, 1], masks int64 ``N x H x W`` in {0, 1}.
        steps, batch_size, lr, ema_decay, seed, mixed_precision, checkpoint, checkpoint_every, callback:
            see :func:`train_loop`.
        cfg_dropout: probability of training an image sample with the null condition (paper: 0.5).
        snr_gamma: Min-SNR-γ loss weighting; 0 (paper) is plain MSE, see :func:`denoiser_loss`.
        device: compute device.
        scheduler_config: noise schedule (defaults to :data:`NOISE_SCHEDULE`).

    Raises:
        ValueError: for non-binary masks, channel/size mismatch or a dropout outside [0, 1].
    """
    if not 0 <= cfg_dropout <= 1:
        raise ValueError(f"cfg_dropout must be in [0, 1], got {cfg_dropout}")
    if pairs.images.shape[1] != denoiser.channels or pairs.images.shape[-1] != denoiser.size:
        raise ValueError(
            f"pairs are {tuple(pairs.images.shape[1:])}, the denoiser expects "
            f"{denoiser.channels} x {denoiser.size} x {denoiser.size}"
        )
    device = torch.device(device)
    x0, mode, cond = (t.to(device) for t in diffusion_samples(pairs))
    loss = denoiser_loss(
        x0,
        mode,
        cond,
        batch_size=batch_size,
        cfg_dropout=cfg_dropout,
        scheduler=noise_scheduler(scheduler_config),
        snr_gamma=snr_gamma,
    )
    return train_loop(
        denoiser.to(device),
        loss,
        steps=steps,
        lr=lr,
        seed=seed,
        device=device,
        lr_schedule="linear",
        ema_decay=ema_decay,
        mixed_precision=mixed_precision,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        callback=callback,
    )
