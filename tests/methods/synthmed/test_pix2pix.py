"""Stage 2: the image GAN follows its mask; the pix2pix variant's jittered masks."""

import dataclasses

import numpy as np
import torch
from synthetic_pairs import disc_pairs
from synthmed_cases import TINY, gan_tensors

from methods.synthmed.gan import fit_gan
from methods.synthmed.networks import ImageGAN
from methods.synthmed.pix2pix import image_gan_losses, jitter_mask


def test_image_generator_follows_its_mask():
    """After a short fit on discs, growing the mask changes the image inside the grown region far more than outside."""
    pairs = disc_pairs(8)
    images, masks = gan_tensors(pairs)
    o = dataclasses.replace(TINY, image_gan_width=8, batch=8, lr=2e-3)
    torch.manual_seed(0)
    model = ImageGAN(32, 1, 8)
    fit_gan(model, image_gan_losses(images, masks, o), 60, o, seed=0)
    yy, xx = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    small = ((yy - 16) ** 2 + (xx - 16) ** 2 <= 16).float()
    large = ((yy - 16) ** 2 + (xx - 16) ** 2 <= 81).float()
    with torch.no_grad():
        a = model.translate((small * 2 - 1)[None, None])[0, 0]
        b = model.translate((large * 2 - 1)[None, None])[0, 0]
    changed = (large - small).bool()
    inside, outside = (a - b).abs()[changed].mean(), (a - b).abs()[~large.bool()].mean()
    assert inside > 3 * outside, (float(inside), float(outside))


def test_jitter_moves_the_mask_and_keeps_it_binary():
    mask = disc_pairs(1).masks[0]
    moved, params = jitter_mask(mask, TINY, np.random.default_rng(3))
    assert set(moved.unique().tolist()) <= {0, 1} and not torch.equal(moved, mask)
    assert abs(float(moved.float().mean()) / float(mask.float().mean()) - params["zoom"] ** 2) < 0.25
    still, _ = jitter_mask(mask, dataclasses.replace(TINY, jitter_degrees=0, jitter_translate=0, jitter_scale=0),
                           np.random.default_rng(3))  # fmt: skip
    assert torch.equal(still, mask)
