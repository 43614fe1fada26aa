"""GenSeg as an :class:`~methods.base.ExpansionMethod`: the stage-I GAN (``image_gan/<hash>``), for ``end2end`` the
architecture search that continues it (``search/<hash>``), then the generated pairs (``samples/<hash>``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import PartialState
from diffusers.utils import SAFETENSORS_WEIGHTS_NAME

from bench.config import MODEL_STRIDES, ConfigError
from bench.data import fingerprint, load_pairs
from bench.files import write_json, writing
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
from methods.genseg.augment import draw_affine, warp_masks
from methods.genseg.networks import MaskToImageGAN
from methods.genseg.options import GenSegOptions
from methods.genseg.search import search_architecture
from methods.genseg.validation import hold_out
from methods.stages import (
    Stage,
    cached_stage,
    progress_callback,
    stage_options,
    stage_seed,
    train_network,
    training_history,
)
from methods.synthmed.gan import fit_gan
from methods.synthmed.pix2pix import image_gan_losses, kept_samples, translate_masks

GAN_OPTIONS = ("gan_width", "gan_steps", "batch", "lr", "beta1", "label_smoothing", "l1_weight", "mixed_precision")
SEARCH_OPTIONS = ("search_steps", "segmenter", "seg_lr", "fake_weight", "arch_lr", "fd_epsilon")
SEGMENTER_CONFIG = ("loss", "width", "unet_encoder", "vit_layers", "vit_dim", "vit_heads")
"""The downstream config's fields the inner segmenter is built and trained with (its search stage's key)."""


@register_method("genseg")
class GenSeg(ExpansionMethod):
    """GenSeg: augmented real masks translated into images by a pix2pix generator with a searchable architecture.

    After :meth:`expand`, ``self.stats`` holds ``{"variant", "validation" (the held-back ids), "seconds",
    "architecture" (softmax weights per cell), "search" (first and last validation loss, ``end2end``), "counts",
    "cached"}`` and ``self.history`` the GAN's and the search's per-step losses.
    """

    binary_masks_only = True  # Options and presets: the registry row's (options.py)

    @classmethod
    def check_request(cls, variant: str, options: GenSegOptions, image_size: int, channels: int) -> None:
        """Refuse, before any work, a size the U-Net cannot halve down to 1 x 1, or that the inner segmenter of
        ``end2end`` cannot take."""
        if image_size < 8 or image_size & (image_size - 1):
            raise ConfigError(
                f"--image-size {image_size}: genseg's generator halves the image down to 1x1, "
                "so the size must be a power of two >= 8"
            )
        stride = MODEL_STRIDES[options.segmenter]
        if variant == "end2end" and image_size % stride:
            raise ConfigError(
                f"--image-size {image_size}: genseg's inner segmenter '{options.segmenter}' needs a multiple of "
                f"{stride} (--option segmenter=...)"
            )

    @classmethod
    def speed(cls, preset: str, device: torch.device, steps: int) -> list[dict[str, Any]]:
        """Seconds per stage-I GAN step, per ``end2end`` search step and per generated pair (see :mod:`.speed`)."""
        from methods.genseg.speed import benchmark

        return benchmark(preset, device, steps)

    @classmethod
    def check_train(cls, options: GenSegOptions, train: int) -> None:
        """Refuse a training split the validation pairs would leave with fewer than 2 pairs."""
        options.check_pairs(train)

    def __init__(self, variant: str | None = None, options: GenSegOptions | None = None) -> None:
        super().__init__(variant, options)
        self._fitted: dict[str, Any] | None = None

    def fit(self, train: PairSet, ctx: MethodContext) -> None:
        """Hold back the validation pairs, train (or reuse) the stage-I GAN on the rest and, for ``end2end``, run
        (or reuse) the architecture search.

        Raises:
            ConfigError: too few pairs for ``val_pairs``, or a size the networks cannot take. ValueError:
                non-square images or multi-class masks.
        """
        o = self.options
        o.check_pairs(len(train))
        channels, size, width = (int(v) for v in train.images.shape[1:])
        if size != width:
            raise ValueError(f"{train.name}: genseg needs square images, got {size}x{width}")
        if train.num_classes != 2:
            raise ValueError(f"{train.name}: genseg generates binary masks; found {train.num_classes} labels")
        self.check_request(self.variant, o, size, channels)
        fit_pairs, val = hold_out(train, o.val_pairs, ctx.seed)
        data = {"fingerprint": fingerprint(fit_pairs), "pairs": len(fit_pairs), "size": size, "channels": channels}
        device = torch.device(ctx.device)
        stages = {"image_gan": self._gan_stage(fit_pairs, data, ctx)}
        if self.variant == "end2end":
            stages["search"] = self._search_stage(fit_pairs, val, data, stages["image_gan"], ctx)
        final = stages["search" if self.variant == "end2end" else "image_gan"]
        self.history = training_history(*stages.values())
        self._fitted = {
            "data": data,
            "stages": stages,
            "model": load_model(MaskToImageGAN, final.folder, device),
            "trained": load_model(MaskToImageGAN, stages["image_gan"].folder, device),
            "train": fit_pairs,
            "validation": list(val.ids),
        }

    def _gan_stage(self, fit_pairs: PairSet, data: dict[str, Any], ctx: MethodContext) -> Stage:
        """Stage I: the generator's weights and the discriminator on the real pairs, architecture fixed."""
        o, device = self.options, torch.device(ctx.device)
        masks = fit_pairs.masks[:, None].float().mul(2).sub(1).to(device)
        images = fit_pairs.images.float().mul(2).sub(1).to(device)

        def compute(folder: Path) -> dict[str, Any]:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(stage_seed(ctx.seed, "image_gan"))
                model = MaskToImageGAN(data["size"], data["channels"], o.gan_width)

            def fit(checkpoints: Path, callback: StepCallback | None) -> TrainLog:
                return fit_gan(
                    model,
                    image_gan_losses(images, masks, o),
                    o.gan_steps,
                    o,
                    seed=stage_seed(ctx.seed, "image_gan-train"),
                    device=device,
                    checkpoint_dir=checkpoints,
                    callback=callback,
                )

            return train_network(ctx, folder, model, fit, total=o.gan_steps)

        key = {"role": "image_gan", "version": self.version, "data": data, "seed": ctx.seed}
        key.update(options=stage_options(o, *GAN_OPTIONS), processes=PartialState().num_processes)
        return cached_stage(ctx, key, compute, everyone=True)

    def _search_stage(
        self, fit_pairs: PairSet, val: PairSet, data: dict[str, Any], gan: Stage, ctx: MethodContext
    ) -> Stage:
        """Stages I-III interleaved from the stage-I GAN (:mod:`methods.genseg.search`), on the main process;
        resumable from its checkpoints (``folder/checkpoints`` until it completes), which its key leaves out."""
        o, device = self.options, torch.device(ctx.device)

        def compute(folder: Path) -> dict[str, Any]:
            model = load_model(MaskToImageGAN, gan.folder, device)
            callback = progress_callback(ctx, f"{Path(ctx.workdir).name} search", o.search_steps)
            seed = stage_seed(ctx.seed, "search")
            checkpoints = folder / "checkpoints"
            log = search_architecture(model, fit_pairs, val, o, ctx.train, seed, device, callback, checkpoints)
            with writing(folder / SAFETENSORS_WEIGHTS_NAME):
                model.save_pretrained(folder)
            parts = {k: log[k] for k in ("arch_grad", "discriminator", "generator")}
            write_json(
                folder / "train_log.json", {"losses": log["val_loss"], "part_losses": parts, "seconds": log["seconds"]}
            )
            shutil.rmtree(checkpoints, ignore_errors=True)
            first_last = [log["val_loss"][0], log["val_loss"][-1]]
            return {"seconds": log["seconds"], "steps": log["steps"], "val_loss": first_last}

        segmenter = {k: getattr(ctx.train, k) for k in SEGMENTER_CONFIG}
        key = {"role": "search", "version": self.version, "upstream": gan.digest, "seed": ctx.seed}
        key.update(validation={"ids": list(val.ids), "fingerprint": fingerprint(val)}, segmenter=segmenter)
        key.update(options=stage_options(o, *GAN_OPTIONS, *SEARCH_OPTIONS))
        return cached_stage(ctx, key, compute)

    @torch.no_grad()
    def generate(self, seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]:
        """Pairs for ``seeds`` after :meth:`fit`, each from its own seed alone: a real mask (of the pairs the
        generator trained on), its GenSeg transform, and the generator's image of the result.

        Returns:
            Images float ``N x C x S x S`` in [0, 1], masks int64 ``N x S x S`` in {0, 1}, and per pair what made
            it (``source`` id and the transform's parameters).
        """
        if self._fitted is None:
            raise RuntimeError("GenSeg.generate called before fit")
        o, model, train = self.options, self._fitted["model"], self._fitted["train"]
        masks, infos = [], []
        for seed in seeds:
            rng = np.random.default_rng(seed)
            source = int(rng.integers(len(train)))
            matrix, params = draw_affine(rng)
            masks.append(warp_masks(train.masks[source][None], [matrix])[0])
            infos.append({"source": train.ids[source], **{k: _rounded(v) for k, v in params.items()}})
        return translate_masks(model, masks, infos, o.sample_batch)

    def expand(self, n: int, ctx: MethodContext) -> Expansion:
        """Generate ``n`` pairs (no filter: every record is ``kept``).

        Returns:
            Expansion of ``n`` pairs, ids ``syn_00000`` ..., images quantised to 8 bits as stored.

        Raises:
            RuntimeError: before :meth:`fit`. ValueError: for ``n < 1``.
        """
        if self._fitted is None:
            raise RuntimeError("GenSeg.expand called before fit")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        fitted = self._fitted
        seeds = pair_seeds(stage_seed(ctx.seed, "samples"), n)
        ids = synthetic_ids(n)
        stages = fitted["stages"]
        upstream = {role: s.digest for role, s in stages.items()}
        key = {"role": "samples", "version": self.version, "variant": self.variant, "upstream": upstream}
        key.update(sampling=stage_options(self.options, "sample_batch"), n=n, seed=ctx.seed)
        stage = cached_stage(ctx, key, kept_samples(self.generate, ids, seeds, "genseg"))
        data = fitted["data"]
        pairs = load_pairs(stage.folder, data["size"], data["channels"], name="genseg", synthetic=True)
        records = [PairRecord(k, s, "kept", i) for k, s, i in zip(ids, seeds, stage.done["infos"])]
        expansion = Expansion(pairs, records)
        search = stages.get("search")
        self.stats = {
            "variant": self.variant,
            "validation": fitted["validation"],
            "seconds": {**{r: s.done.get("seconds") for r, s in stages.items()}, "sampler": stage.done["seconds"]},
            "architecture": {
                "trained": _mixture(fitted["trained"]),
                "used": _mixture(fitted["model"]),
            },
            **({"search": {"val_loss": search.done["val_loss"]}} if search is not None else {}),
            "counts": expansion.counts(),
            "cached": [s.role for s in (*stages.values(), stage) if s.reused],
        }
        return expansion


def _mixture(model: MaskToImageGAN) -> list[list[float]]:
    """Each cell's softmax weights over its candidates, rounded (what the search moved)."""
    return [[round(float(w), 6) for w in row] for row in model.arch.detach().softmax(-1)]


def _rounded(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value
