"""Adversarial training: a killed GAN training resumes from its checkpoint to the same weights."""

import pytest
import torch
from synthetic_pairs import disc_pairs
from synthmed_cases import TINY, gan_tensors

from methods.synthmed.gan import fit_gan
from methods.synthmed.networks import ImageGAN
from methods.synthmed.pix2pix import image_gan_losses


def test_training_resumes_after_a_kill(tmp_path):
    images, masks = gan_tensors(disc_pairs(4))
    o = TINY

    def build():
        torch.manual_seed(0)
        return ImageGAN(32, 1, 8)

    whole = build()
    fit_gan(whole, image_gan_losses(images, masks, o), 6, o, seed=1)

    def kill(step, loss):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_gan(build(), image_gan_losses(images, masks, o), 6, o, seed=1, checkpoint_dir=tmp_path, callback=kill)
    resumed = build()
    log = fit_gan(resumed, image_gan_losses(images, masks, o), 6, o, seed=1, checkpoint_dir=tmp_path)
    assert log.resumed_from == 2 and log.steps == 6 and len(log.part_losses["discriminator"]) == 6
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6)
