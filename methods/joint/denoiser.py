"""The joint denoiser: an unconditional UNet of C + 1 channels (image and mask stacked), its training samples, its
loss (ε, v or EDM, on the shared stage-I recipe) and its fit."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import DDPMScheduler, UNet2DModel

from bench.generator_training import BatchLoss, StepCallback, TrainLog
from bench.pairs import PairSet
from methods.diffusion import augment, pretrained
from methods.diffusion.augment import AugmentedUNet
from methods.diffusion.options import JointOptions
from methods.diffusion.schedule import noise_scheduler, training_schedule
from methods.diffusion.training import denoising_loss, draw_batch, noised_input, train_denoiser
from methods.diffusion.unet import load_model, unet_config


def build_joint_denoiser(o: JointOptions, size: int, channels: int, seed: int) -> UNet2DModel | AugmentedUNet:
    """The unconditional UNet of ``C + 1`` channels in and out, DiffuseExpand's stage-I architecture; with
    ``augment_p > 0`` an :class:`~methods.diffusion.augment.AugmentedUNet` that also takes the warp; with
    ``pretrained`` (a ``bench pretrain`` folder) starting from its weights.

    Raises:
        ValueError: for a size the network cannot halve ``len(o.denoiser_widths) - 1`` times.
    """
    config = unet_config(
        size,
        channels + 1,
        channels + 1,
        o.denoiser_widths,
        o.denoiser_layers,
        o.denoiser_attention,
        o.denoiser_head_dim,
        resblock_updown=o.denoiser_resblock_updown,
        class_embedding=o.augment_p > 0,
        dropout=o.denoiser_dropout,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AugmentedUNet(config) if o.augment_p > 0 else UNet2DModel.from_config(config)
    if pretrained.made_by_bench(o.pretrained):  # the weights `bench pretrain` wrote, of this very architecture
        folder = Path(o.pretrained)
        source = load_model(joint_model_class(o), folder, origin=pretrained.OPTION, remedy=pretrained.REMAKE)
        return pretrained.copy_weights(model, source, o.pretrained)
    return model


def joint_model_class(o: JointOptions) -> type[UNet2DModel] | type[AugmentedUNet]:
    """The class :func:`build_joint_denoiser` builds for ``o`` (to load a trained one back)."""
    return AugmentedUNet if o.augment_p > 0 else UNet2DModel


def joint_samples(pairs: PairSet) -> torch.Tensor:
    """Float ``N x (C + 1) x H x W`` in [-1, 1]: each image with its binary mask as the last channel.

    Raises:
        ValueError: if the masks are not binary.
    """
    if len(pairs) and int(pairs.masks.max()) > 1:
        raise ValueError(f"{pairs.name}: joint diffusion needs binary masks, found labels up to {pairs.masks.max()}")
    return torch.cat([pairs.images.float(), pairs.masks[:, None].float()], dim=1) * 2 - 1


def joint_loss(
    x0: torch.Tensor,
    *,
    batch_size: int,
    scheduler: DDPMScheduler,
    snr_gamma: float,
    augment_p: float = 0.0,
    prediction: str = "epsilon",
) -> BatchLoss:
    """‖ε_θ(x_t, t) − ε‖² on a random batch of ``x0`` (Min-SNR-γ weighted when ``snr_gamma > 0``, as stage I; v
    instead of ε for ``prediction="v_prediction"``, EDM's preconditioned loss for ``"edm"``).

    With ``augment_p > 0`` each sample is warped (image channels bilinearly, the mask channel by nearest
    neighbour) and the model is given the warp (:mod:`methods.diffusion.augment`). Every random draw (batch, t, ε,
    then the warps) comes from the training loop's generator.
    """

    def loss(model: torch.nn.Module, generator: torch.Generator) -> torch.Tensor:
        index, t, noise = draw_batch(x0, batch_size, scheduler, generator, prediction)
        batch, kwargs = x0[index], {}
        if augment_p > 0:
            params = augment.draw(batch_size, augment_p, generator).to(x0.device)
            grid = augment.sampling_grid(params, x0.shape[-1])
            image = augment.warp(batch[:, :-1], grid, nearest=False)
            batch = torch.cat([image, augment.warp(batch[:, -1:], grid, nearest=True)], dim=1)
            kwargs = {"augment": params}
        out = model(*noised_input(batch, noise, t, scheduler, prediction), **kwargs).sample
        return denoising_loss(out, batch, noise, t, scheduler, snr_gamma, prediction)

    return loss


def fit_joint_denoiser(
    model: UNet2DModel,
    pairs: PairSet,
    o: JointOptions,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    checkpoint_dir: Path | None = None,
    callback: StepCallback | None = None,
) -> TrainLog:
    """Train the joint denoiser on :func:`joint_samples` with the shared stage-I recipe
    (:func:`methods.diffusion.train_denoiser`: AdamW decaying linearly to 0, EMA, resumable checkpoints in
    ``checkpoint_dir``); left in eval mode."""
    device = torch.device(device)
    loss = joint_loss(
        joint_samples(pairs).to(device),
        batch_size=o.denoiser_batch,
        scheduler=noise_scheduler(training_schedule(o.prediction)),
        snr_gamma=o.snr_gamma,
        augment_p=o.augment_p,
        prediction=o.prediction,
    )
    return train_denoiser(model, loss, o, seed=seed, device=device, checkpoint_dir=checkpoint_dir, callback=callback)
