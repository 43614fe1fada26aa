"""Speed of the GenSeg stages at a preset's sizes, on random data, for ``bench speed --method genseg``.

Stage I's GAN step is timed inside the project's training loop (:func:`bench.generator_training.train_loop`, as
:func:`methods.synthmed.gan.fit_gan` trains it), the ``end2end`` search step inside
:func:`methods.genseg.search.search_architecture`, and a pair as :meth:`GenSeg.generate` makes it (mask
augmentation, then the generator). ``separate`` costs stage I and sampling; ``end2end`` adds the search.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from bench.benchmark import check_steps, random_pairs, seconds_per_step, timed, train_step_seconds
from bench.config import PRESETS, TrainConfig, merge_options
from bench.segmentation.models import count_parameters
from methods.genseg.augment import draw_affine, warp_masks
from methods.genseg.networks import MaskToImageGAN
from methods.genseg.options import PRESETS as METHOD_PRESETS
from methods.genseg.options import GenSegOptions
from methods.genseg.search import search_architecture
from methods.synthmed.pix2pix import image_gan_losses, translate_masks


def benchmark(preset: str, device: torch.device | str, steps: int = 3) -> list[dict[str, Any]]:
    """Time each GenSeg stage with the networks and options of a preset.

    Args:
        preset: a run preset; sets the image size, the method options and the inner segmenter's config.
        device: where to run.
        steps: timed repetitions of each measurement (after one warm-up).

    Returns:
        Rows ``{"stage", "what", "seconds", "unit"}``: ``image_gan`` (s/step), ``search`` (s/step, ``end2end``
        only), ``sampler`` (s/pair).

    Raises:
        ValueError: if ``steps < 1``.
    """
    check_steps(steps)
    device = torch.device(device)
    o = merge_options(GenSegOptions, {}, METHOD_PRESETS.get(preset, {}))
    train_cfg = merge_options(TrainConfig, {}, PRESETS[preset].get("train", {}))
    size = PRESETS[preset]["image_size"]
    pairs = random_pairs(max(o.batch, 2) + o.val_pairs, size)
    fit, val = pairs.subset(pairs.ids[o.val_pairs :]), pairs.subset(pairs.ids[: o.val_pairs])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = MaskToImageGAN(size, 1, o.gan_width)
    params = count_parameters(model) / 1e6
    images, masks = fit.images.mul(2).sub(1).to(device), fit.masks[:, None].float().mul(2).sub(1).to(device)
    gan_seconds = train_step_seconds(
        model,
        image_gan_losses(images, masks, o),
        steps,
        device,
        betas=(o.beta1, 0.999),
        ema_decay=0.0,
        mixed_precision=o.mixed_precision,
    )
    search_options = dataclasses.replace(o, search_steps=steps + 1)
    search_seconds = seconds_per_step(
        lambda callback: search_architecture(model, fit, val, search_options, train_cfg, 0, device, callback)
    )
    sources = fit.masks

    def sample() -> None:
        rng = np.random.default_rng(0)
        drawn = [warp_masks(sources[i % len(sources)][None], [draw_affine(rng)[0]])[0] for i in range(o.sample_batch)]
        translate_masks(model, drawn, [{} for _ in drawn], o.sample_batch)

    pair_seconds = timed(sample, device, steps) / o.sample_batch
    return [
        {"stage": "image_gan", "what": f"train step (D + G), batch {o.batch}, {params:.1f} M params",
         "seconds": gan_seconds, "unit": "s/step"},
        {"stage": "search", "what": f"end2end step (GAN, architecture, {o.segmenter}), batch {o.batch}",
         "seconds": search_seconds, "unit": "s/step"},
        {"stage": "sampler", "what": f"pair (augmented mask + image), batch {o.sample_batch}",
         "seconds": pair_seconds, "unit": "s/pair"},
    ]  # fmt: skip
