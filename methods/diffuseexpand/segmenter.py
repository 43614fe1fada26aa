"""Stage II: train the noise-aware segmenter f_ψ with its mode head g_ω (paper §3.3, Eq. 4).

The network (:class:`~methods.diffuseexpand.networks.NoisySegmenter`) sees noised samples x_t of the denoiser's
forward process. Loss (Eq. 4): soft Dice + BCE of the pixel head against the clean mask on image samples, plus
the cross-entropy of g_ω against y1 on all samples (the paper writes it as a BCE; with two logits it is the
same loss). For K > 1 foreground classes the pixel head has K + 1 logits and the Dice + BCE pair becomes the
foreground-mean soft Dice + cross-entropy under softmax, the multi-class form of the same loss, and what the
guidance's softmax likelihood (:mod:`.guidance`) needs the head to be calibrated for.

Notes:
    Released code: a 14 M parameter ADM UNet (width 64, mult 1, 2, 2, 4, one residual block per level,
    attention in the middle block only, with 4-channel heads where we use 64) trained with a weighted-IoU +
    weighted-BCE structure loss and an extra L1 term; we use the paper's Dice + BCE. Its g_ω pools the normed
    features without an activation; we add the SiLU that ADM's own classifier head has. The COVID segmenter
    the authors used was trained on [0, 1] images while sampling feeds [-1, 1] x_t; here training and sampling
    share the denoiser's schedule and the [-1, 1] space.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from monai.losses import DiceLoss
from torch import nn

from bench.generator_training import BatchLoss, StepCallback, TrainLog, train_loop
from bench.pairs import PairSet
from methods.diffuseexpand.denoiser import diffusion_samples
from methods.diffuseexpand.labels import from_one_hot
from methods.diffuseexpand.networks import MODE_IMAGE, NoisySegmenter
from methods.diffuseexpand.options import DiffuseExpandOptions
from methods.diffusion.schedule import noise_scheduler
from methods.diffusion.training import noised_batch


def segmenter_loss(
    x0: torch.Tensor, mode: torch.Tensor, masks: torch.Tensor, *, batch_size: int, scheduler: DDPMScheduler
) -> BatchLoss:
    """The Eq. 4 batch loss on a random batch of q-sampled stage-I samples.

    Args:
        x0: float ``2N x C x H x W`` clean samples in [-1, 1] (masks and images).
        mode: int64 ``2N`` y1 of each sample.
        masks: float ``2N x K x H x W`` clean one-hot masks in {0, 1} (the pixel-head target); K = 1 trains one
            sigmoid logit, K > 1 K + 1 softmax logits.
        batch_size: samples per step.
        scheduler: the denoiser's noise schedule (its ``add_noise``).
    """
    binary = masks.shape[1] == 1
    dice = DiceLoss(sigmoid=True) if binary else DiceLoss(softmax=True, to_onehot_y=True, include_background=False)
    labels = None if binary else from_one_hot(masks)[:, None]

    def loss(model: nn.Module, generator: torch.Generator) -> torch.Tensor:
        index, t, _, x_t = noised_batch(x0, batch_size, scheduler, generator)
        out = model(x_t, t)
        y1 = mode[index]
        total = F.cross_entropy(out.mode_logits.float(), y1)
        image = y1 == MODE_IMAGE
        if image.any() and binary:
            logits, target = out.logits[image].float(), masks[index][image]
            total = total + dice(logits, target) + F.binary_cross_entropy_with_logits(logits, target)
        elif image.any():
            logits, target = out.logits[image].float(), labels[index][image]
            total = total + dice(logits, target) + F.cross_entropy(logits, target[:, 0])
        return total

    return loss


def fit_segmenter(
    segmenter: NoisySegmenter,
    pairs: PairSet,
    o: DiffuseExpandOptions,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    scheduler_config: dict[str, Any] | None = None,
    checkpoint_dir: Path | None = None,
    callback: StepCallback | None = None,
) -> TrainLog:
    """Train the segmenter on noised real pairs (paper §3.3; released: AdamW, constant LR).

    Args:
        segmenter: from :func:`~methods.diffuseexpand.networks.build_segmenter`; left in eval mode.
        pairs: real training pairs; images float ``N x C x H x W`` in [0, 1], masks int64 ``N x H x W`` with
            labels 0..K (K + 1 the segmenter's ``num_classes``).
        o: the options (``segmenter_steps``, ``segmenter_batch``, ``segmenter_lr``, ``mixed_precision``,
            ``grad_accumulation``, ``checkpoint_every``).
        scheduler_config: the denoiser's noise schedule, so that x_t matches what sampling feeds.
        seed, device, checkpoint_dir, callback: see :func:`bench.generator_training.train_loop`.
    """
    device = torch.device(device)
    x0, mode, masks = (t.to(device) for t in diffusion_samples(pairs, segmenter.num_classes - 1))
    loss = segmenter_loss(x0, mode, masks, batch_size=o.segmenter_batch, scheduler=noise_scheduler(scheduler_config))
    return train_loop(
        segmenter,
        loss,
        steps=o.segmenter_steps,
        lr=o.segmenter_lr,
        seed=seed,
        device=device,
        lr_schedule="constant",
        ema_decay=0.0,
        mixed_precision=o.mixed_precision,
        grad_accumulation=o.grad_accumulation,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=o.checkpoint_every,
        callback=callback,
    )
