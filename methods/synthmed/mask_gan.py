"""Stage 1, the mask GAN: its discriminator and generator losses on the real training masks."""

from __future__ import annotations

import torch
from torch import nn

from bench.generator_training import PartLoss
from methods.synthmed.gan import discriminator_loss, generator_loss
from methods.synthmed.options import SynthmedOptions


def mask_gan_losses(masks: torch.Tensor, o: SynthmedOptions) -> dict[str, PartLoss]:
    """Discriminator and generator losses of the mask GAN on real masks (float ``N x 1 x S x S`` in {-1, 1}).

    Real and fake masks go through the discriminator as one batch (it has no batch statistics), so it runs
    once per step, as data-parallel training requires.
    """
    n, device = masks.shape[0], masks.device

    def latent(generator: torch.Generator) -> torch.Tensor:
        return torch.randn((o.batch, o.latent_dim), generator=generator).to(device)

    def discriminator(parts: dict[str, nn.Module], generator: torch.Generator) -> torch.Tensor:
        real = masks[torch.randint(0, n, (o.batch,), generator=generator).to(device)]
        with torch.no_grad():
            fake = torch.tanh(parts["generator"](latent(generator)))
        logits = parts["discriminator"](torch.cat([real, fake]))
        return discriminator_loss(logits, o.batch, o.label_smoothing)

    def generator(parts: dict[str, nn.Module], generator: torch.Generator) -> torch.Tensor:
        fake = torch.tanh(parts["generator"](latent(generator)))
        return generator_loss(parts["discriminator"](fake))

    return {"discriminator": discriminator, "generator": generator}
