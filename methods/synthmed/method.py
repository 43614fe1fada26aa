"""Synthmed as an :class:`~methods.base.ExpansionMethod`: the GANs the variant needs, each a cached stage folder
(``mask_gan/<hash>``, ``image_gan/<hash>``), then the sampled pairs (``samples/<hash>``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import PartialState

from bench.config import ConfigError
from bench.data import fingerprint, load_pairs
from bench.generator_training import StepCallback, TrainLog
from bench.pairs import PairSet
from methods.base import (
    Expansion,
    ExpansionMethod,
    MethodContext,
    PairRecord,
    pair_seeds,
    register_method,
    synthetic_ids,
)
from methods.diffusion.unet import load_model
from methods.stages import Stage, cached_stage, stage_options, stage_seed, train_network, training_history
from methods.synthmed.gan import fit_gan
from methods.synthmed.mask_gan import mask_gan_losses
from methods.synthmed.networks import ImageGAN, MaskGAN
from methods.synthmed.options import SynthmedOptions
from methods.synthmed.pix2pix import image_gan_losses, jitter_mask, kept_samples, translate_masks


@register_method("synthmed")
class Synthmed(ExpansionMethod):
    """Dual GAN: masks from a DCGAN-style GAN, images from a pix2pix-style GAN conditioned on them.

    After :meth:`expand`, ``self.stats`` holds ``{"variant", "seconds": {"mask_gan", "image_gan", "sampler"},
    "final_losses", "counts", "cached"}`` and ``self.history`` every GAN's per-step losses.
    """

    binary_masks_only = True  # Options and presets: the registry row's (options.py)

    @classmethod
    def check_request(cls, variant: str, options: SynthmedOptions, image_size: int, channels: int) -> None:
        """Refuse, before any work, a size the GANs cannot build up from 4 x 4 by doubling."""
        if image_size < 8 or image_size & (image_size - 1):
            raise ConfigError(
                f"--image-size {image_size}: synthmed's GANs double a 4x4 map, so the size must be a power of two >= 8"
            )

    @classmethod
    def speed(cls, preset: str, device: torch.device, steps: int) -> list[dict[str, Any]]:
        """Seconds per training step of each GAN (discriminator + generator update) at a preset's sizes, on random
        data, timed inside the real training loop, and seconds per generated pair."""
        from bench.benchmark import check_steps, timed, train_step_seconds
        from bench.config import PRESETS as RUN_PRESETS
        from bench.config import merge_options
        from bench.segmentation.models import count_parameters

        check_steps(steps)
        o = merge_options(SynthmedOptions, {}, cls.presets.get(preset, {}))
        size = RUN_PRESETS[preset]["image_size"]
        g = torch.Generator().manual_seed(0)
        masks = (torch.rand(o.batch, 1, size, size, generator=g) > 0.5).float().mul(2).sub(1).to(device)
        images = torch.rand(o.batch, 1, size, size, generator=g).mul(2).sub(1).to(device)
        mask_gan, image_gan = MaskGAN(size, o.latent_dim, o.mask_gan_width), ImageGAN(size, 1, o.image_gan_width)
        rows = []
        for role, model, losses in (
            ("mask_gan", mask_gan, mask_gan_losses(masks, o)),
            ("image_gan", image_gan, image_gan_losses(images, masks, o)),
        ):
            params = count_parameters(model) / 1e6
            seconds = train_step_seconds(
                model, losses, steps, device, betas=(o.beta1, 0.999), ema_decay=0.0, mixed_precision=o.mixed_precision
            )
            what = f"train step (D + G), batch {o.batch}, {params:.1f} M params"
            rows.append({"stage": role, "what": what, "seconds": seconds, "unit": "s/step"})
        z = torch.randn(o.sample_batch, o.latent_dim, generator=g).to(device)

        @torch.no_grad()
        def sample() -> torch.Tensor:
            return image_gan.translate(mask_gan.sample(z).sign())

        seconds = timed(sample, torch.device(device), steps) / o.sample_batch
        rows.append({"stage": "sampler", "what": f"pair (mask + image), batch {o.sample_batch}", "seconds": seconds,
                     "unit": "s/pair"})  # fmt: skip
        return rows

    def __init__(self, variant: str | None = None, options: SynthmedOptions | None = None) -> None:
        super().__init__(variant, options)
        self._fitted: dict[str, Any] | None = None

    def fit(self, train: PairSet, ctx: MethodContext) -> None:
        """Train (or reuse) the GANs the variant needs on the real training pairs, data-parallel over processes.

        Raises:
            ValueError: for an empty set, non-square images or multi-class masks. ConfigError: for a size that
                is not a power of two.
        """
        o = self.options
        if len(train) < 2:
            raise ValueError(f"{train.name}: synthmed needs at least 2 training pairs, got {len(train)}")
        channels, size, width = (int(v) for v in train.images.shape[1:])
        if size != width:
            raise ValueError(f"{train.name}: synthmed needs square images, got {size}x{width}")
        if train.num_classes != 2:
            raise ValueError(f"{train.name}: synthmed generates binary masks; found {train.num_classes} labels")
        self.check_request(self.variant, o, size, channels)
        data = {"fingerprint": fingerprint(train), "pairs": len(train), "size": size, "channels": channels}
        device = torch.device(ctx.device)
        masks = train.masks[:, None].float().mul(2).sub(1).to(device)
        images = train.images.float().mul(2).sub(1).to(device)

        def stage(role: str, build: Callable[[], MaskGAN | ImageGAN], losses, steps: int, prefix: str) -> Stage:
            def compute(folder: Path) -> dict[str, Any]:
                model = build()
                seed = stage_seed(ctx.seed, f"{role}-train")

                def fit(checkpoints: Path, callback: StepCallback | None) -> TrainLog:
                    return fit_gan(
                        model,
                        losses,
                        steps,
                        o,
                        seed=seed,
                        device=device,
                        checkpoint_dir=checkpoints,
                        callback=callback,
                    )

                return train_network(ctx, folder, model, fit, total=steps)

            options = stage_options(o, "batch", "lr", "beta1", "label_smoothing", "mixed_precision", prefix=prefix)
            if role == "mask_gan":
                options["latent_dim"] = o.latent_dim
            else:
                options["l1_weight"] = o.l1_weight
            key = {"role": role, "version": self.version, "data": data, "seed": ctx.seed, "options": options}
            key["processes"] = PartialState().num_processes
            return cached_stage(ctx, key, compute, everyone=True)

        def build_image_gan() -> ImageGAN:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(stage_seed(ctx.seed, "image_gan"))
                return ImageGAN(size, channels, o.image_gan_width)

        def build_mask_gan() -> MaskGAN:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(stage_seed(ctx.seed, "mask_gan"))
                return MaskGAN(size, o.latent_dim, o.mask_gan_width)

        stages = {}
        if self.variant == "dual":
            stages["mask_gan"] = stage(
                "mask_gan", build_mask_gan, mask_gan_losses(masks, o), o.mask_gan_steps, "mask_gan_"
            )
        stages["image_gan"] = stage(
            "image_gan", build_image_gan, image_gan_losses(images, masks, o), o.image_gan_steps, "image_gan_"
        )
        networks = {"image_gan": load_model(ImageGAN, stages["image_gan"].folder, device)}
        if "mask_gan" in stages:
            networks["mask_gan"] = load_model(MaskGAN, stages["mask_gan"].folder, device)
        self.history = training_history(*stages.values())
        self._fitted = {"data": data, "stages": stages, "networks": networks, "train": train}

    @torch.no_grad()
    def generate(self, seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]:
        """Pairs for ``seeds`` after :meth:`fit`: each pair from its own seed alone (its latent vector, or its
        source mask and jitter), so a pair can be regenerated without the others.

        Returns:
            Images float ``N x C x S x S`` in [0, 1], masks int64 ``N x S x S`` in {0, 1}, and per pair what made
            it (``source``, the jitter parameters for ``pix2pix``).
        """
        if self._fitted is None:
            raise RuntimeError("Synthmed.generate called before fit")
        o, networks, train = self.options, self._fitted["networks"], self._fitted["train"]
        device = next(networks["image_gan"].parameters()).device
        masks, infos = [], []
        for seed in seeds:
            if self.variant == "dual":
                z = torch.randn((1, o.latent_dim), generator=torch.Generator().manual_seed(seed)).to(device)
                masks.append((networks["mask_gan"].sample(z)[0, 0] > 0).long().cpu())
                infos.append({"source": "mask_gan"})
            else:
                rng = np.random.default_rng(seed)
                source = int(rng.integers(len(train)))
                mask, params = jitter_mask(train.masks[source], o, rng)
                masks.append(mask)
                infos.append({"source": train.ids[source], **{k: round(v, 4) for k, v in params.items()}})
        return translate_masks(networks["image_gan"], masks, infos, o.sample_batch)

    def expand(self, n: int, ctx: MethodContext) -> Expansion:
        """Generate ``n`` pairs (no filter: every record is ``kept``).

        Returns:
            Expansion of ``n`` pairs, ids ``syn_00000`` ..., images quantised to 8 bits as stored.

        Raises:
            RuntimeError: before :meth:`fit`. ValueError: for ``n < 1``.
        """
        if self._fitted is None:
            raise RuntimeError("Synthmed.expand called before fit")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        fitted, o = self._fitted, self.options
        seeds = pair_seeds(stage_seed(ctx.seed, "samples"), n)
        ids = synthetic_ids(n)
        upstream = {role: s.digest for role, s in fitted["stages"].items()}
        key = {"role": "samples", "version": self.version, "variant": self.variant, "upstream": upstream}
        key.update(sampling=stage_options(o, "sample_batch", prefix="jitter_"), n=n, seed=ctx.seed)
        stage = cached_stage(ctx, key, kept_samples(self.generate, ids, seeds, "synthmed"))
        data = fitted["data"]
        pairs = load_pairs(stage.folder, data["size"], data["channels"], name="synthmed", synthetic=True)
        records = [PairRecord(k, s, "kept", i) for k, s, i in zip(ids, seeds, stage.done["infos"])]
        expansion = Expansion(pairs, records)
        stages = fitted["stages"]
        self.stats = {
            "variant": self.variant,
            "seconds": {**{r: s.done.get("seconds") for r, s in stages.items()}, "sampler": stage.done["seconds"]},
            "final_losses": {r: _final_losses(s) for r, s in stages.items()},
            "counts": expansion.counts(),
            "cached": [s.role for s in (*stages.values(), stage) if s.reused],
        }
        return expansion


def _final_losses(stage: Stage, last: int = 100) -> dict[str, float]:
    """Mean of each network's loss over a GAN stage's last ``last`` steps (a collapse shows here)."""
    prefix = f"{stage.role}/"
    return {
        key.removeprefix(prefix): round(float(np.mean(values[-last:])), 4)
        for key, values in training_history(stage).items()
        if values and key != f"{prefix}loss"
    }
