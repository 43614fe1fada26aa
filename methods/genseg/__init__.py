"""GenSeg (Zhang et al., "Generative AI enables medical image segmentation in ultra low-data regimes", Nature
Communications 2025, arXiv 2408.17421; code: importZL/semantic_segmentation).

New pairs start from **real masks under geometric augmentation** (flip, crop, per-axis scale, translation,
rotation, shear); a **pix2pix generator with a searchable architecture** turns each into an image. GenSeg's
three stages: (I) the generator's weights train on the real pairs with the architecture fixed; (II) a
segmenter trains on real + generated pairs; (III) that segmenter's loss on held-back validation pairs, through
the generated images, moves the architecture weights (a DARTS-style mixture of candidate convolutions).

Variants: ``separate`` (stage I only: the generator trained on its own, its architecture left as it started)
and ``end2end`` (stages I-III interleaved from the stage-I generator, the paper's method). Both hold back the
same ``val_pairs`` validation pairs from the generator, so that they share one stage-I GAN; the downstream model
that ``bench run`` scores trains on all labelled pairs plus the generated ones, like every method.

=====================  =========================================================================================
file                   role
=====================  =========================================================================================
``options.py``         :class:`GenSegOptions`, every knob with its one default, and the per-preset overrides
``validation.py``      which training pairs are held back as validation pairs
``augment.py``         the release's mask augmentation, one affine matrix per pair
``networks.py``        :class:`MaskToImageGAN`: the searchable U-Net generator and its PatchGAN
``hypergradient.py``   stage III's hypergradient (DARTS's finite-difference approximation)
``search.py``          the ``end2end`` loop: GAN step, architecture step, inner-segmenter step
``speed.py``           ``bench speed``: seconds per GAN step, search step and generated pair at a preset's sizes
``method.py``          :class:`GenSeg`: the stages composed behind ``ExpansionMethod``, each a cached stage
=====================  =========================================================================================

======================  ========================================================================================
folder                  contents
======================  ========================================================================================
``image_gan/<hash>``    stage I's ``MaskToImageGAN`` (``save_pretrained``), ``train_log.json``, ``losses.csv``
``search/<hash>``       ``end2end``: the GAN after the search, ``train_log.json`` (validation loss per step);
                        ``checkpoints/step_<n>`` while it runs (:mod:`.search`)
``samples/<hash>``      the n pairs (``images/``, ``masks/``), ``records.csv``, ``gallery.png``
======================  ========================================================================================
"""

__all__ = ["GenSeg"]


def __getattr__(name: str):
    """``GenSeg`` on first use: its options module must import without torch (refusals stay instant)."""
    if name == "GenSeg":
        from methods.genseg.method import GenSeg

        return GenSeg
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
