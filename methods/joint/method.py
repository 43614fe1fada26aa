"""``Joint``: the joint denoiser and its sampler as cached stages behind ``ExpansionMethod`` (see
:mod:`methods.joint`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import torch
from accelerate import PartialState
from diffusers import UNet2DModel

from bench.config import ConfigError
from bench.data import fingerprint, load_pairs, save_pairs
from bench.pairs import PairSet
from bench.results import GALLERY_PNG
from methods.base import (
    Expansion,
    ExpansionMethod,
    MethodContext,
    PairRecord,
    pair_seeds,
    register_method,
    synthetic_ids,
    write_records,
)
from methods.diffusion import pretrained
from methods.diffusion.options import DENOISER_PRESETS, JointOptions
from methods.diffusion.sampling import sample_pairs
from methods.diffusion.stage import denoiser_stage
from methods.gallery import save_gallery
from methods.joint.denoiser import build_joint_denoiser, fit_joint_denoiser, joint_model_class
from methods.joint.sampler import JointSampler
from methods.stages import (
    Stage,
    cached_stage,
    progress_callback,
    stage_options,
    stage_seed,
    training_history,
)


@register_method("joint")
class Joint(pretrained.PretrainedStart, ExpansionMethod):
    """Joint image + mask diffusion: DiffuseExpand's stage-I network and budget, unconditional, one pass per pair.

    After :meth:`expand`, ``self.stats`` holds ``{"variant", "seconds": {"denoiser", "sampler"}, "counts",
    "cached"}``.
    """

    Options = JointOptions
    binary_masks_only = True
    presets: ClassVar[dict[str, dict[str, Any]]] = DENOISER_PRESETS

    @classmethod
    def check_request(cls, variant: str, options: JointOptions, image_size: int, channels: int) -> None:
        """Refuse, before any work, an image size the denoiser cannot halve often enough."""
        halvings = len(options.denoiser_widths) - 1
        if image_size % 2**halvings:
            raise ConfigError(
                f"--image-size {image_size}: joint's denoiser_widths {options.denoiser_widths} halve the image "
                f"{halvings} times, so the size must be a multiple of {2**halvings}"
            )

    @staticmethod
    def pretrain(
        pairs: PairSet, o: JointOptions, folder: Path, seed: int, device: torch.device, progress: Any
    ) -> dict[str, Any]:
        """The joint denoiser on ``pairs`` of another data set, for ``bench pretrain``."""
        size, channels = int(pairs.images.shape[-1]), int(pairs.images.shape[1])
        return pretrained.pretrain_network(
            lambda s: build_joint_denoiser(o, size, channels, seed=s),
            fit_joint_denoiser,
            pairs,
            o,
            folder,
            seed=seed,
            device=device,
            progress=progress,
        )

    def __init__(self, variant: str | None = None, options: JointOptions | None = None) -> None:
        super().__init__(variant, options)
        self._fitted: tuple[dict[str, Any], UNet2DModel, Stage, dict[str, Any]] | None = None

    def fit(self, train: PairSet, ctx: MethodContext) -> None:
        """Train (or reuse) the joint denoiser, data-parallel over the run's processes.

        Args:
            train: real training pairs; square images float ``N x C x S x S`` in [0, 1], binary masks int64.
            ctx: run context; the stage is cached under ``ctx.workdir/denoiser/<hash>``.

        Raises:
            ValueError: for an empty set, non-square images or multi-class masks. ConfigError: for a size the
                network cannot halve often enough.
        """
        o = self.options
        if len(train) == 0:
            raise ValueError(f"{train.name}: no training pairs")
        channels, size, width = (int(v) for v in train.images.shape[1:])
        if size != width:
            raise ValueError(f"{train.name}: joint diffusion needs square images, got {size}x{width}")
        if train.num_classes != 2:
            raise ValueError(f"{train.name}: joint diffusion generates binary masks; found {train.num_classes} labels")
        self.check_request(self.variant, o, size, channels)
        data = {"fingerprint": fingerprint(train), "pairs": len(train), "size": size, "channels": channels}

        key = {"role": "denoiser", "version": self.version, "data": data, "seed": ctx.seed}
        stage, model, schedule = denoiser_stage(
            ctx,
            key,
            o,
            (),
            joint_model_class(o),
            lambda seed: build_joint_denoiser(o, size, channels, seed=seed),
            fit_joint_denoiser,
            train,
        )
        self._fitted = (data, model, stage, schedule)
        self.history = training_history(stage)

    def expand(self, n: int, ctx: MethodContext) -> Expansion:
        """Sample ``n`` pairs, sharded over the run's processes (the same pairs for any process count).

        Returns:
            Expansion of ``n`` pairs (ids ``syn_00000`` ...; images float in [0, 1] quantised to 8 bits as
            stored, masks int64 {0, 1}), every record ``kept`` with ``info`` ``steps`` and ``foreground`` fraction.

        Raises:
            RuntimeError: before :meth:`fit`, or if the denoiser is in train mode. ValueError: for ``n < 1``.
        """
        if self._fitted is None:
            raise RuntimeError("Joint.expand called before fit")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        (data, model, denoiser, schedule), o = self._fitted, self.options
        seeds = pair_seeds(stage_seed(ctx.seed, "samples"), n)
        ids = synthetic_ids(n)

        def records(masks: torch.Tensor) -> list[PairRecord]:
            return [
                PairRecord(k, s, "kept", {"steps": o.sampling_steps, "foreground": round(float(m.float().mean()), 6)})
                for k, s, m in zip(ids, seeds, masks)
            ]

        def sample(folder):
            start = time.perf_counter()
            advance = progress_callback(ctx, "joint sampler", n)
            sampler = JointSampler(
                model,
                scheduler_config=schedule,
                solver_order=o.solver_order,
                dynamic_thresholding=o.dynamic_thresholding,
                mixed_precision=o.mixed_precision,
            )
            out = sample_pairs(
                sampler,
                seeds=seeds,
                batch_size=o.sample_batch,
                callback=advance,
                num_inference_steps=o.sampling_steps,
            )
            seconds = time.perf_counter() - start
            if PartialState().is_main_process:
                # 8-bit images, as stored, so that fresh and cached expansions are identical
                pairs = PairSet(ids, (out.images * 255).round() / 255, out.masks, "joint", True)
                save_pairs(pairs, folder)
                write_records(records(pairs.masks), folder / "records.csv")
                save_gallery(folder / GALLERY_PNG, pairs.images, pairs.masks)
            return {"seconds": seconds, "n": n}

        sampling = stage_options(
            o, "solver_order", "sampling_steps", "dynamic_thresholding", "mixed_precision", "sample_batch"
        )
        key = {"role": "samples", "version": self.version, "upstream": {"denoiser": denoiser.digest}}
        key.update(sampling=sampling, n=n, seed=ctx.seed)
        stage = cached_stage(ctx, key, sample, everyone=True)
        pairs = load_pairs(stage.folder, data["size"], data["channels"], name="joint", synthetic=True)
        expansion = Expansion(pairs, records(pairs.masks))
        self.stats = {
            "variant": self.variant,
            "seconds": {"denoiser": denoiser.done.get("seconds"), "sampler": stage.done.get("seconds")},
            "counts": expansion.counts(),
            "cached": [s.role for s in (denoiser, stage) if s.reused],
        }
        return expansion
