"""Synthmed: a dual GAN (Guibas et al. 2017, "Synthetic medical images from dual generative adversarial networks").

Stage 1, the **mask GAN**, is an unconditional DCGAN-style pair (MONAI ``Generator`` from a latent vector,
MONAI ``Discriminator`` ending in one logit) that samples masks from noise. Stage 2, the **image GAN**, is a
pix2pix-style translator: a U-Net generator (MONAI ``UNet``) turns a mask into an image, judged by a PatchGAN
discriminator (MONAI ``PatchDiscriminator``) that sees the mask beside the image, trained with the adversarial
loss plus λ·L1 to the real image. Both train on the real training split only, through the project's one
training loop (:func:`bench.generator_training.train_loop`, discriminator step then generator step).

Stabilisers, so that a GAN trained on a hundred images does not collapse: spectral normalisation on every layer
of both discriminators, one-sided label smoothing (real target ``1 - label_smoothing``), Adam with β1 = 0.5
(Radford et al. 2016), no normalisation layer in the discriminators.

Variants: ``dual`` (the paper's method: GAN masks, translated) and ``pix2pix`` (real training masks jittered by
a random affine transform, translated by stage 2: isolates what the mask GAN contributes). The image GAN takes
no noise input, as pix2pix found its generator ignores one: a mask determines its image.

=================  =====================================================================================
file               role
=================  =====================================================================================
``options.py``     :class:`SynthmedOptions`, every knob with its one default, and the per-preset overrides
``networks.py``    :class:`MaskGAN` and :class:`ImageGAN`: the generators and their discriminators
``gan.py``         what both GANs' training shares: the discriminator and generator losses, :func:`fit_gan`
``mask_gan.py``    stage 1's losses on real masks
``pix2pix.py``     stage 2's losses on real pairs, the ``pix2pix`` variant's jittered real masks, and the
                   pairs a mask-to-image generator makes and stores (GenSeg's too)
``method.py``      :class:`Synthmed`: the stages composed behind ``ExpansionMethod``, each a cached stage
=================  =====================================================================================

======================  ============================================================================
folder                  contents
======================  ============================================================================
``mask_gan/<hash>``     ``MaskGAN`` (``save_pretrained``), ``train_log.json``, ``losses.csv`` (both
                        networks' loss per step); ``checkpoints/step_<n>/`` while training
``image_gan/<hash>``    ``ImageGAN``, likewise
``samples/<hash>``      the n pairs (``images/``, ``masks/``), ``records.csv``, ``gallery.png``
======================  ============================================================================
"""

__all__ = ["Synthmed"]


def __getattr__(name: str):
    """``Synthmed`` on first use: its options module must import without torch (refusals stay instant)."""
    if name == "Synthmed":
        from methods.synthmed.method import Synthmed

        return Synthmed
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
