"""Stage I: train the one conditional denoiser for masks and images (paper §3.2, Eq. 3).

Every real pair gives two training samples: its mask (y1 = mask) and its image (y1 = image) conditioned on its
mask (y2). The network (:class:`~methods.diffuseexpand.networks.Denoiser`) predicts the noise ε of x_t; the
mask condition of image samples is dropped with probability ``cfg_dropout`` (0.5) for classifier-free
sampling. Training follows the diffusion methods' shared recipe (:func:`methods.diffusion.train_denoiser`: AdamW
decaying linearly to 0, EMA, bf16 on CUDA, resumable checkpoints, several processes), which the released code
lacked. Masks with K > 1 foreground classes are K one-hot
channels (:mod:`.labels`), so the one loss serves binary and multi-class sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers import DDPMScheduler
from torch import nn

from bench.generator_training import BatchLoss, StepCallback, TrainLog
from bench.pairs import PairSet
from methods.diffuseexpand.labels import data_channels, encode_images, encode_masks, one_hot
from methods.diffuseexpand.networks import MODE_IMAGE, MODE_MASK, Denoiser, build_denoiser
from methods.diffuseexpand.options import DiffuseExpandOptions
from methods.diffusion import augment, pretrained
from methods.diffusion.schedule import noise_scheduler, training_schedule
from methods.diffusion.training import denoising_loss, draw_batch, noised_input, train_denoiser


def diffusion_samples(pairs: PairSet, mask_channels: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The 2N stage-I training samples of N pairs (paper Eq. 3) whose masks have ``mask_channels`` = K
    foreground classes (labels 0..K).

    Returns:
        ``x0`` float ``2N x D x H x W`` in [-1, 1] (N masks, then N images, laid out by :mod:`.labels`;
        D = C for binary masks), ``mode`` int64 ``2N`` (:data:`MODE_MASK` then :data:`MODE_IMAGE`) and ``cond``
        float ``2N x K x H x W`` in {0, 1} (each sample's pair mask, one-hot).

    Raises:
        ValueError: if a mask holds a label above K.
    """
    if len(pairs) and int(pairs.masks.max()) > mask_channels:
        built = "binary masks" if mask_channels == 1 else f"labels 0..{mask_channels}"
        raise ValueError(
            f"{pairs.name}: DiffuseExpand was set up for {built}, found labels up to {int(pairs.masks.max())}"
        )
    channels = data_channels(pairs.images.shape[1], mask_channels)
    masks = one_hot(pairs.masks, mask_channels)
    x0 = torch.cat([encode_masks(pairs.masks, mask_channels, channels), encode_images(pairs.images, channels)])
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
    snr_gamma: float,
    augment_p: float = 0.0,
    prediction: str = "epsilon",
) -> BatchLoss:
    """The Eq. 3 batch loss: ‖ε_θ(x_t, t, y1, y2) − ε‖² on a random batch of :func:`diffusion_samples`.

    Image samples keep their mask condition with probability ``1 - cfg_dropout`` (dropped = zero mask);
    every random draw (batch, t, ε, dropout, then the warps) comes from the loop's generator. ``snr_gamma > 0``
    weights each sample by min(SNR_t, γ) / SNR_t (:func:`methods.diffusion.training.denoising_loss`;
    ``snr_gamma = 0``: the paper's plain MSE). With ``augment_p > 0`` each sample and its mask condition are
    warped together (:mod:`methods.diffusion.augment`; masks by nearest neighbour) and the warp is given to the
    network; with ``prediction="v_prediction"`` the network learns v instead of ε, with ``"edm"`` EDM's
    preconditioned denoiser at log-normal σ (:func:`methods.diffusion.training.denoising_loss`).
    """

    def loss(model: nn.Module, generator: torch.Generator) -> torch.Tensor:
        index, t, noise = draw_batch(x0, batch_size, scheduler, generator, prediction)
        keep = (torch.rand(batch_size, generator=generator) >= cfg_dropout).float().to(x0.device)
        x0_batch, cond_batch, params = x0[index], cond[index], None
        if augment_p > 0:
            params = augment.draw(batch_size, augment_p, generator).to(x0.device)
            grid = augment.sampling_grid(params, x0.shape[-1])
            is_mask = (mode[index] == MODE_MASK)[:, None, None, None]
            x0_batch = torch.where(
                is_mask, augment.warp(x0_batch, grid, nearest=True), augment.warp(x0_batch, grid, nearest=False)
            )
            cond_batch = augment.warp(cond_batch, grid, nearest=True)
        x_in, t_in = noised_input(x0_batch, noise, t, scheduler, prediction)
        kwargs = {} if params is None else {"augment": params}
        out = model(x_in, t_in, mode[index], cond_batch * keep[:, None, None, None], **kwargs)
        return denoising_loss(out, x0_batch, noise, t, scheduler, snr_gamma, prediction)

    return loss


def fit_denoiser(
    denoiser: Denoiser,
    pairs: PairSet,
    o: DiffuseExpandOptions,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    checkpoint_dir: Path | None = None,
    callback: StepCallback | None = None,
) -> TrainLog:
    """Train the denoiser on real pairs (paper §3.2: AdamW decaying linearly to 0; steps, batch, lr from ``o``).

    Args:
        denoiser: from :func:`~methods.diffuseexpand.networks.build_denoiser`; left in eval mode with its EMA
            weights.
        pairs: real training pairs; images float ``N x C x H x W`` in [0, 1], masks int64 ``N x H x W`` with
            labels 0..K (K the denoiser's ``mask_channels``).
        o: the options (``denoiser_steps``, ``denoiser_batch``, ``denoiser_lr``, ``cfg_dropout``, ``ema_decay``,
            ``snr_gamma``, ``mixed_precision``, ``grad_accumulation``, ``checkpoint_every``).
        seed, device, checkpoint_dir, callback: see :func:`bench.generator_training.train_loop`.

    Raises:
        ValueError: for labels above K or a channel / size mismatch.
    """
    if pairs.images.shape[1] != denoiser.image_channels or pairs.images.shape[-1] != denoiser.size:
        raise ValueError(
            f"pairs are {tuple(pairs.images.shape[1:])}, the denoiser expects "
            f"{denoiser.image_channels} x {denoiser.size} x {denoiser.size}"
        )
    samples = diffusion_samples(pairs, denoiser.mask_channels)
    device = torch.device(device)
    x0, mode, cond = (t.to(device) for t in samples)
    loss = denoiser_loss(
        x0,
        mode,
        cond,
        batch_size=o.denoiser_batch,
        cfg_dropout=o.cfg_dropout,
        scheduler=noise_scheduler(training_schedule(o.prediction)),
        snr_gamma=o.snr_gamma,
        augment_p=o.augment_p,
        prediction=o.prediction,
    )
    return train_denoiser(
        denoiser, loss, o, seed=seed, device=device, checkpoint_dir=checkpoint_dir, callback=callback
    )


def pretrain_denoiser(
    pairs: PairSet, o: DiffuseExpandOptions, folder: Path, seed: int, device: torch.device, progress: Any
) -> dict[str, Any]:
    """Stage I on ``pairs`` of another data set into ``folder`` (``bench pretrain``; see
    :func:`methods.diffusion.pretrained.pretrain_network`)."""
    size, channels = int(pairs.images.shape[-1]), int(pairs.images.shape[1])
    return pretrained.pretrain_network(
        lambda s: build_denoiser(o, size, channels, seed=s, num_classes=pairs.num_classes),
        fit_denoiser,
        pairs,
        o,
        folder,
        seed=seed,
        device=device,
        progress=progress,
    )
