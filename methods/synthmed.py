"""Synthmed: a dual GAN (Guibas et al. 2017, "Synthetic medical images from dual generative adversarial networks").

Stage 1, the **mask GAN**, is an unconditional DCGAN-style pair (MONAI ``Generator`` from a latent vector,
MONAI ``Discriminator`` ending in one logit) that samples masks from noise. Stage 2, the **image GAN**, is a
pix2pix-style translator: a U-Net generator (MONAI ``UNet``) turns a mask into an image, judged by a PatchGAN
discriminator (MONAI ``PatchDiscriminator``) that sees the mask beside the image, trained with the adversarial
loss plus λ·L1 to the real image. Both train on the real training split only, through the project's one
training loop (:func:`bench.training.train_loop`, discriminator step then generator step).

Stabilisers, so that a GAN trained on a hundred images does not collapse: spectral normalisation on every layer
of both discriminators, one-sided label smoothing (real target ``1 - label_smoothing``), Adam with β1 = 0.5
(Radford et al. 2016), no normalisation layer in the discriminators.

Variants: ``dual`` (the paper's method: GAN masks, translated) and ``pix2pix`` (real training masks jittered by
a random affine transform, translated by stage 2: isolates what the mask GAN contributes). The image GAN takes
no noise input, as pix2pix found its generator ignores one: a mask determines its image.

======================  ============================================================================
folder                  contents
======================  ============================================================================
``mask_gan/<hash>``     ``MaskGAN`` (``save_pretrained``), ``train_log.json``, ``losses.csv`` (both
                        networks' loss per step); ``checkpoints/step_<n>/`` while training
``image_gan/<hash>``    ``ImageGAN``, likewise
``samples/<hash>``      the n pairs (``images/``, ``masks/``), ``records.csv``, ``gallery.png``
======================  ============================================================================
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import PartialState
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from monai.networks.nets import Discriminator, Generator, PatchDiscriminator, UNet
from monai.transforms import Affine
from monai.utils import convert_to_tensor
from torch import nn

from bench.config import ConfigError
from bench.data import PairSet, fingerprint, load_pairs, save_pairs
from bench.training import PartLoss, StepCallback, TrainLog, train_loop
from methods.base import (
    Expansion,
    ExpansionMethod,
    MethodContext,
    PairRecord,
    register_method,
    synthetic_ids,
    write_records,
)
from methods.diffuseexpand.networks import load_model
from methods.diffuseexpand.sampler import pair_seeds
from methods.gallery import save_gallery
from methods.stages import Stage, cached_stage, stage_options, stage_seed, train_network, training_history

VARIANTS = ("dual", "pix2pix")
LEAKY = ("LEAKYRELU", {"negative_slope": 0.2})


@dataclass(frozen=True)
class SynthmedOptions:
    """Knobs of the dual GAN.

    Attributes:
        latent_dim: length of the mask GAN's noise vector (DCGAN: 100).
        mask_gan_width: channels of the mask GAN's widest-resolution layer; they double per halving, up to 8x.
        mask_gan_steps: optimiser steps of the mask GAN (one discriminator + one generator update each).
        image_gan_width: channels of the U-Net's and the PatchGAN's first layer, doubling per level up to 8x.
        image_gan_steps: optimiser steps of the image GAN.
        batch: pairs per step, both GANs.
        lr: Adam learning rate of every network (pix2pix and DCGAN: 2e-4), constant.
        beta1: Adam's β1 (0.5 for GANs).
        label_smoothing: one-sided: the discriminators' target for real data is ``1 - label_smoothing``.
        l1_weight: λ of the image GAN's L1 term (pix2pix: 100).
        jitter_degrees, jitter_translate, jitter_scale: ``pix2pix`` variant only: the affine jitter of a real mask
            (rotation in ±degrees, shift in ± fraction of the side, zoom in 1 ± scale).
        sample_batch: pairs per generator call when sampling.
        checkpoint_every: optimiser steps between training checkpoints (0: none).
        mixed_precision: bf16 autocast on CUDA.
    """

    latent_dim: int = 100
    mask_gan_width: int = 64
    mask_gan_steps: int = 8000
    image_gan_width: int = 64
    image_gan_steps: int = 8000
    batch: int = 16
    lr: float = 2e-4
    beta1: float = 0.5
    label_smoothing: float = 0.1
    l1_weight: float = 100.0
    jitter_degrees: float = 10.0
    jitter_translate: float = 0.06
    jitter_scale: float = 0.08
    sample_batch: int = 32
    checkpoint_every: int = 250
    mixed_precision: bool = True

    def __post_init__(self) -> None:
        problems = []
        for name in ("latent_dim", "mask_gan_width", "mask_gan_steps", "image_gan_width", "image_gan_steps"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch < 2:
            problems.append(f"batch must be >= 2 (the generators use batch normalisation), got {self.batch}")
        if self.sample_batch < 1:
            problems.append(f"sample_batch must be >= 1, got {self.sample_batch}")
        if not (self.lr > 0 and 0 <= self.beta1 < 1):
            problems.append(f"need lr > 0 and beta1 in [0, 1), got lr {self.lr}, beta1 {self.beta1}")
        if not 0 <= self.label_smoothing < 0.5:
            problems.append(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if self.l1_weight < 0 or self.checkpoint_every < 0:
            problems.append("l1_weight and checkpoint_every must be >= 0")
        if not (0 <= self.jitter_degrees <= 180 and 0 <= self.jitter_translate < 0.5 and 0 <= self.jitter_scale < 1):
            problems.append("need jitter_degrees in [0, 180], jitter_translate in [0, 0.5), jitter_scale in [0, 1)")
        if problems:
            raise ConfigError("synthmed options: " + "; ".join(problems))


PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"latent_dim": 16, "mask_gan_width": 8, "mask_gan_steps": 4, "image_gan_width": 8,
              "image_gan_steps": 4, "batch": 4, "checkpoint_every": 0},
    "cpu": {"latent_dim": 64, "mask_gan_width": 16, "mask_gan_steps": 1000, "image_gan_width": 16,
            "image_gan_steps": 1000},
    "paper": {},
}  # fmt: skip


def _levels(size: int) -> int:
    """How many times the networks halve a ``size`` image (down to 4 x 4)."""
    return int(math.log2(size)) - 2


def _spectral(module: nn.Module) -> nn.Module:
    """Spectral normalisation on every convolution and linear layer of ``module`` (in place)."""
    for layer in list(module.modules()):
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.utils.parametrizations.spectral_norm(layer)
    return module


class MaskGAN(ModelMixin, ConfigMixin):
    """Stage 1: a DCGAN-style generator of masks from a latent vector, and its discriminator.

    Args:
        size (`int`): mask side, a power of two >= 8; the generator doubles a 4 x 4 map ``log2(size) - 2`` times.
        latent_dim (`int`): length of the noise vector.
        width (`int`): channels at full resolution, doubling per halving up to ``8 * width``.
    """

    @register_to_config
    def __init__(self, size: int, latent_dim: int, width: int) -> None:
        super().__init__()
        levels = _levels(size)
        widths = [min(width * 2**i, 8 * width) for i in range(levels + 1)]
        self.generator = Generator(
            latent_shape=(latent_dim,),
            start_shape=(widths[levels], 4, 4),
            channels=(*reversed(widths[:levels]), 1),
            strides=(2,) * levels + (1,),
            num_res_units=0,
            act="RELU",
            norm="BATCH",
        )
        self.discriminator = _spectral(
            Discriminator(
                in_shape=(1, size, size),
                channels=widths[:levels],
                strides=(2,) * levels,
                num_res_units=0,
                act=LEAKY,
                norm=None,
                dropout=None,
                last_act=None,
            )
        )

    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """Masks in [-1, 1] (``N x 1 x S x S``, tanh) for latent vectors ``z`` (``N x latent_dim``)."""
        return torch.tanh(self.generator(z))


class ImageGAN(ModelMixin, ConfigMixin):
    """Stage 2: a pix2pix-style U-Net from a mask to an image, and a PatchGAN discriminator on (mask, image).

    Args:
        size (`int`): image side, a power of two >= 8.
        channels (`int`): image channels (1 or 3).
        width (`int`): channels of the first level, doubling per level up to ``8 * width``.
    """

    @register_to_config
    def __init__(self, size: int, channels: int, width: int) -> None:
        super().__init__()
        levels = _levels(size)
        self.generator = UNet(
            spatial_dims=2,
            in_channels=1,
            out_channels=channels,
            channels=[min(width * 2**i, 8 * width) for i in range(levels + 1)],
            strides=(2,) * levels,
            num_res_units=1,
            act=LEAKY,
            norm="INSTANCE",
        )
        self.discriminator = _spectral(
            PatchDiscriminator(spatial_dims=2, channels=width, in_channels=1 + channels, num_layers_d=3, norm=None)
        )

    def translate(self, masks: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] (``N x C x S x S``, tanh) for masks in {-1, 1} (``N x 1 x S x S``)."""
        return torch.tanh(self.generator(masks))


def _discriminator_loss(logits: torch.Tensor, real: int, smoothing: float) -> torch.Tensor:
    """BCE of a discriminator whose first ``real`` logits are real data (target ``1 - smoothing``), rest fake."""
    target = torch.zeros_like(logits)
    target[:real] = 1 - smoothing
    return F.binary_cross_entropy_with_logits(logits, target)


def _fools(logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss: BCE against the 'real' target."""
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


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
        return _discriminator_loss(logits, o.batch, o.label_smoothing)

    def generator(parts: dict[str, nn.Module], generator: torch.Generator) -> torch.Tensor:
        fake = torch.tanh(parts["generator"](latent(generator)))
        return _fools(parts["discriminator"](fake))

    return {"discriminator": discriminator, "generator": generator}


def image_gan_losses(images: torch.Tensor, masks: torch.Tensor, o: SynthmedOptions) -> dict[str, PartLoss]:
    """Discriminator and generator (adversarial + λ·L1) losses of the image GAN on real pairs (images float
    ``N x C x S x S`` in [-1, 1], masks float ``N x 1 x S x S`` in {-1, 1})."""
    n, device = images.shape[0], images.device

    def batch(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.randint(0, n, (o.batch,), generator=generator).to(device)
        return images[index], masks[index]

    def judge(parts: dict[str, nn.Module], mask: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return parts["discriminator"](torch.cat([mask, image], dim=1))[-1]

    def discriminator(parts: dict[str, nn.Module], generator: torch.Generator) -> torch.Tensor:
        image, mask = batch(generator)
        with torch.no_grad():
            fake = torch.tanh(parts["generator"](mask))
        logits = judge(parts, torch.cat([mask, mask]), torch.cat([image, fake]))
        return _discriminator_loss(logits, o.batch, o.label_smoothing)

    def generator(parts: dict[str, nn.Module], generator: torch.Generator) -> torch.Tensor:
        image, mask = batch(generator)
        fake = torch.tanh(parts["generator"](mask))
        return _fools(judge(parts, mask, fake)) + o.l1_weight * F.l1_loss(fake, image)

    return {"discriminator": discriminator, "generator": generator}


def fit_gan(
    model: MaskGAN | ImageGAN,
    losses: dict[str, PartLoss],
    steps: int,
    o: SynthmedOptions,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    checkpoint_dir: Path | None = None,
    callback: StepCallback | None = None,
) -> TrainLog:
    """Train one GAN with :func:`bench.training.train_loop`: per step a discriminator update, then a generator
    update; Adam(lr, (β1, 0.999)) at a constant rate, no EMA, resumable from ``checkpoint_dir``."""
    return train_loop(
        model,
        losses,
        steps=steps,
        lr=o.lr,
        betas=(o.beta1, 0.999),
        seed=seed,
        device=device,
        lr_schedule="constant",
        ema_decay=0.0,
        mixed_precision=o.mixed_precision,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=o.checkpoint_every,
        callback=callback,
    )


def jitter_mask(mask: torch.Tensor, o: SynthmedOptions, rng: np.random.Generator) -> tuple[torch.Tensor, dict]:
    """One random affine transform of a real mask (int64 ``H x W``), nearest-neighbour; returns the parameters
    drawn (``rotate`` degrees, ``zoom``, ``shift_y`` / ``shift_x`` as fractions of the side)."""
    size = mask.shape[-1]
    p = {
        "rotate": float(rng.uniform(-o.jitter_degrees, o.jitter_degrees)),
        "zoom": float(rng.uniform(1 - o.jitter_scale, 1 + o.jitter_scale)),
        "shift_y": float(rng.uniform(-o.jitter_translate, o.jitter_translate)),
        "shift_x": float(rng.uniform(-o.jitter_translate, o.jitter_translate)),
    }
    affine = Affine(
        rotate_params=math.radians(p["rotate"]),
        # MONAI's grid maps output to input pixels: the inverse of the content's shift and zoom
        scale_params=(1 / p["zoom"], 1 / p["zoom"]),
        translate_params=(-p["shift_y"] * size, -p["shift_x"] * size),
        mode="nearest",
        padding_mode="zeros",
        image_only=True,
    )
    out = convert_to_tensor(affine(mask[None].float()), track_meta=False)[0].round().long()
    return out, p


@register_method("synthmed")
class Synthmed(ExpansionMethod):
    """Dual GAN: masks from a DCGAN-style GAN, images from a pix2pix-style GAN conditioned on them.

    After :meth:`expand`, ``self.stats`` holds ``{"variant", "seconds": {"mask_gan", "image_gan", "sampler"},
    "final_losses", "counts", "cached"}`` and ``self.history`` every GAN's per-step losses.
    """

    version = "1"
    variants = VARIANTS
    description = "Dual GAN: GAN-sampled masks translated into images by a pix2pix GAN (Synthmed)."
    Options = SynthmedOptions
    binary_masks_only = True
    presets: ClassVar[dict[str, dict[str, Any]]] = PRESETS

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
        from bench.benchmark import timed, train_step_seconds
        from bench.config import PRESETS as RUN_PRESETS
        from bench.config import merge_options

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
            params = sum(p.numel() for p in model.parameters()) / 1e6
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
        masks = torch.stack(masks)
        images = []
        for start in range(0, len(seeds), o.sample_batch):
            m = masks[start : start + o.sample_batch, None].float().mul(2).sub(1).to(device)
            images.append((networks["image_gan"].translate(m).float() / 2 + 0.5).clamp(0, 1).cpu())
        for info, mask in zip(infos, masks):
            info["foreground"] = round(float(mask.float().mean()), 6)
        return torch.cat(images), masks, infos

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

        def sample(folder: Path) -> dict[str, Any]:
            start = time.perf_counter()
            images, masks, infos = self.generate(seeds)
            pairs = PairSet(ids, (images * 255).round() / 255, masks, "synthmed", True)
            save_pairs(pairs, folder)
            write_records([PairRecord(k, s, "kept", i) for k, s, i in zip(ids, seeds, infos)], folder / "records.csv")
            save_gallery(folder / "gallery.png", pairs.images, pairs.masks)
            return {"seconds": time.perf_counter() - start, "n": n, "infos": infos}

        upstream = {role: s.digest for role, s in fitted["stages"].items()}
        key = {"role": "samples", "version": self.version, "variant": self.variant, "upstream": upstream}
        key.update(sampling=stage_options(o, "sample_batch", prefix="jitter_"), n=n, seed=ctx.seed)
        stage = cached_stage(ctx, key, sample)
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
