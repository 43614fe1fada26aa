"""The two GANs: output shapes and ranges, spectral normalisation."""

import torch

from methods.synthmed.networks import ImageGAN, MaskGAN


def test_networks_shapes_and_ranges():
    mask_gan = MaskGAN(32, latent_dim=16, width=8).eval()
    masks = mask_gan.sample(torch.randn(3, 16))
    assert masks.shape == (3, 1, 32, 32) and -1 <= masks.min() and masks.max() <= 1
    assert mask_gan.discriminator(masks).shape == (3, 1)
    image_gan = ImageGAN(32, channels=3, width=8).eval()
    images = image_gan.translate(masks.sign())
    assert images.shape == (3, 3, 32, 32) and -1 <= images.min() and images.max() <= 1
    spectral = [m for m in image_gan.discriminator.modules() if hasattr(m, "parametrizations")]
    assert spectral and all("weight" in m.parametrizations for m in spectral)
