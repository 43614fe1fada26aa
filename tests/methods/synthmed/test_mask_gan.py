"""Stage 1: the mask GAN's losses move both of its networks."""

import numpy as np
import torch
from synthetic_pairs import disc_pairs
from synthmed_cases import TINY, gan_tensors

from methods.synthmed.gan import fit_gan
from methods.synthmed.mask_gan import mask_gan_losses
from methods.synthmed.networks import MaskGAN


def test_mask_gan_losses_train_both_networks():
    _, masks = gan_tensors(disc_pairs(6))
    model = MaskGAN(32, TINY.latent_dim, 8)
    before = [p.detach().clone() for p in model.parameters()]
    log = fit_gan(model, mask_gan_losses(masks, TINY), 3, TINY, seed=0)
    assert set(log.part_losses) == {"discriminator", "generator"} and len(log.part_losses["generator"]) == 3
    assert all(np.isfinite(v) for v in log.losses)
    changed = [not torch.equal(a, b) for a, b in zip(before, model.parameters())]
    assert all(changed), "every parameter of both networks moves"
