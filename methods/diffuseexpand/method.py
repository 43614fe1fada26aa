"""DiffuseExpand as an :class:`~methods.base.ExpansionMethod`: the four stages composed, each cached by content.

``fit`` trains (or reuses) the stages the variant needs, ``expand`` samples and filters. Every stage is a
:func:`methods.stages.cached_stage` folder ``ctx.workdir/<role>/<hash>/`` (``key.json``, then ``done.json``
when complete), so another variant or another τ reuses whatever it shares. Masks may have labels 0..K
(:mod:`.labels`); K enters the keys only for K > 1, so binary stage folders keep the keys they were stored under.

======================  ============================================================================
folder                  contents
======================  ============================================================================
``denoiser/<hash>``     stage I (``save_pretrained``), ``scheduler_config.json``, ``train_log.json``
``segmenter/<hash>``    stage II (``save_pretrained``), ``train_log.json``
``filter/<hash>``       stage IV network: ``model.pt``, ``filter.json``
``samples/<hash>``      stage III: all n pairs (``images/``, ``masks/``), ``records.csv`` (id, seed, settings;
                        no decision yet), ``gallery.png``
``selection/<hash>``    stage IV decisions (``cf+cg+cs``): the kept + relabelled pairs, ``records.csv`` for all
                        n, ``gallery.png`` (contours green kept / orange relabelled / red dropped)
======================  ============================================================================
"""

from __future__ import annotations

import csv
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from accelerate import PartialState

from bench.config import ConfigError
from bench.data import fingerprint, load_pairs, save_pairs
from bench.files import write_csv
from bench.pairs import PairSet
from bench.results import GALLERY_PNG
from methods.base import (
    Expansion,
    ExpansionMethod,
    MethodContext,
    PairRecord,
    options_dict,
    pair_seeds,
    register_method,
    synthetic_ids,
    write_records,
)
from methods.diffuseexpand.denoiser import fit_denoiser, pretrain_denoiser
from methods.diffuseexpand.filter import MaskFilter, select
from methods.diffuseexpand.mask_source import augmented_masks, source_record, warp_knobs
from methods.diffuseexpand.networks import Denoiser, NoisySegmenter, build_denoiser, build_segmenter
from methods.diffuseexpand.options import DiffuseExpandOptions, check_size
from methods.diffuseexpand.sampler import PairSampler, guidance_stats
from methods.diffuseexpand.sampling_config import SamplingConfig
from methods.diffuseexpand.segmenter import fit_segmenter
from methods.diffusion import pretrained
from methods.diffusion.sampling import sample_pairs
from methods.diffusion.stage import denoiser_stage
from methods.diffusion.unet import load_model
from methods.gallery import save_gallery
from methods.stages import (
    Stage,
    cached_stage,
    progress_callback,
    stage_options,
    stage_seed,
    train_network,
    training_history,
)

THINNING = ("guidance_every", "guidance_until", "guide_mask_phase", "guide_image_phase")
"""Options that thin out the guidance (see :mod:`.guidance`); they change samples only when guidance is on."""
GUIDANCE_KEYED = (*THINNING, "guidance_reduction")
"""Guidance options that enter the samples key when guidance is on, and only away from their neutral values."""


@dataclass
class FittedStages:
    """What :meth:`DiffuseExpand.fit` leaves for :meth:`DiffuseExpand.expand`.

    Attributes:
        data: the training data's fingerprint, pair count, size and channels.
        denoiser: stage I, in eval mode; ``schedule`` is its forward process.
        segmenter: stage II (guided variants), in eval mode.
        filter: the stage-IV network (``cf+cg+cs``).
        stages: every stage folder used so far, by role.
        train: the training pairs (whose masks ``mask_source="augmented"`` warps).
    """

    data: dict[str, Any]
    denoiser: Denoiser
    schedule: dict[str, Any]
    segmenter: NoisySegmenter | None = None
    filter: MaskFilter | None = None
    stages: dict[str, Stage] = field(default_factory=dict)
    train: PairSet | None = None

    def seconds(self, role: str) -> float | None:
        return self.stages[role].done.get("seconds") if role in self.stages else None

    def cached(self) -> list[str]:
        return [role for role, stage in self.stages.items() if stage.reused]


@register_method("diffuseexpand")
class DiffuseExpand(pretrained.PretrainedStart, ExpansionMethod):
    """DiffuseExpand (Shao et al. 2023): diffusion-generated mask-image pairs, guided and filtered.

    Variants (paper Table 1): ``cf+cg+cs`` (all four stages), ``cf+cg`` (no stage-IV selection) and ``cf``
    (sampling with the denoiser's classifier-free conditioning only, no segmenter).

    After :meth:`expand`, ``self.stats`` holds ``{"seconds": {"denoiser", "segmenter", "sampler", "filter"},
    "pass_rate", "mean_dice_all", "mean_dice_kept", "counts", "cached"}`` and the guidance strength per solver
    step (``guidance``, with its means ``guidance_ratio_mask`` / ``guidance_ratio_image``: see
    :func:`.sampler.guidance_stats`; absent for samples cached before it was recorded); the Dice values are the filter
    network's Dice between generated masks and its predictions (``None`` without stage IV), ``mean_dice_kept``
    over the pairs kept as generated; with stage IV also ``filter_dice``, every generated pair's Dice.
    """

    binary_masks_only = False  # Options and presets: the registry row's (options.py)
    adapts_plain_unet = True  # --option pretrained= may name any diffusers UNet2DModel folder (networks.py)

    @classmethod
    def check_request(cls, variant: str, options: DiffuseExpandOptions, image_size: int, channels: int) -> None:
        """Refuse, before any work, an image size a network of the variant cannot take (see :func:`.check_size`)."""
        check_size(variant, options, image_size)

    pretrain = staticmethod(pretrain_denoiser)  # stage I on another data set, for ``bench pretrain``

    def __init__(self, variant: str | None = None, options: DiffuseExpandOptions | None = None) -> None:
        super().__init__(variant, options)
        self._fitted: FittedStages | None = None

    @property
    def fitted(self) -> FittedStages:
        """The stages :meth:`fit` trained or loaded (networks in eval mode); RuntimeError before :meth:`fit`."""
        if self._fitted is None:
            raise RuntimeError("DiffuseExpand.fitted read before fit")
        return self._fitted

    @property
    def guided(self) -> bool:
        """Stage II guidance is used (``cf+cg``, ``cf+cg+cs``)."""
        return "cg" in self.variant.split("+")

    @property
    def selects(self) -> bool:
        """Stage IV selection is used (``cf+cg+cs``)."""
        return "cs" in self.variant.split("+")

    @classmethod
    def speed(cls, preset: str, device: torch.device, steps: int) -> list[dict[str, Any]]:
        """Seconds per training step and per generated pair of each stage (see :mod:`.speed`)."""
        from methods.diffuseexpand.speed import benchmark

        return benchmark(preset, device, steps)

    @classmethod
    def flops(cls, preset: str) -> dict[str, list[dict[str, Any]]]:
        """FLOPs per network call and per generated pair under several sampling configurations (see :mod:`.speed`)."""
        from methods.diffuseexpand.speed import sampling_costs

        return sampling_costs(preset)

    def fit(self, train: PairSet, ctx: MethodContext) -> None:
        """Train (or reuse) the denoiser, the segmenter (guided variants) and the filter (``cf+cg+cs``).

        Args:
            train: real training pairs; square images float ``N x C x S x S`` in [0, 1], masks int64
                ``N x S x S`` with labels 0..K (K >= 1 foreground classes).
            ctx: run context; stages are cached under ``ctx.workdir``.

        Raises:
            ValueError: for an empty set or non-square images. ConfigError: for a size the networks cannot halve
                often enough, or the binary-only ``image_objective`` "wiou-wbce" on multi-class masks.
        """
        o = self.options
        if len(train) == 0:
            raise ValueError(f"{train.name}: no training pairs")
        channels, size, width = (int(v) for v in train.images.shape[1:])
        if size != width:
            raise ValueError(f"{train.name}: DiffuseExpand needs square images, got {size}x{width}")
        num_classes = train.num_classes
        if num_classes > 2 and self.guided and o.image_objective == "wiou-wbce":
            raise ConfigError(
                f"--option image_objective: 'wiou-wbce' is defined for binary masks, but {train.name} has labels "
                f"0..{num_classes - 1}; use 'likelihood'"
            )
        check_size(self.variant, o, size)
        data = {"fingerprint": fingerprint(train), "pairs": len(train), "size": size, "channels": channels}
        if num_classes > 2:
            data["num_classes"] = num_classes
        common = {"version": self.version, "data": data, "seed": ctx.seed}
        processes = PartialState().num_processes

        # Stage I: the denoiser, data-parallel over the run's processes.
        stage, denoiser, schedule = denoiser_stage(
            ctx,
            {"role": "denoiser", **common},
            o,
            ("conditioning", "cfg_dropout"),
            Denoiser,
            lambda seed: build_denoiser(o, size, channels, seed=seed, num_classes=num_classes),
            fit_denoiser,
            train,
        )
        fitted = FittedStages(data, denoiser, schedule, train=train)
        fitted.stages["denoiser"] = stage

        # Stage II: the noise-aware segmenter (guided variants), data-parallel too.
        if self.guided:

            def train_segmenter(folder):
                segmenter = build_segmenter(
                    o, size, channels, seed=stage_seed(ctx.seed, "segmenter"), num_classes=num_classes
                )
                seed = stage_seed(ctx.seed, "segmenter-train")
                return train_network(
                    ctx,
                    folder,
                    segmenter,
                    lambda checkpoints, callback: fit_segmenter(
                        segmenter,
                        train,
                        o,
                        seed=seed,
                        device=ctx.device,
                        scheduler_config=schedule,
                        checkpoint_dir=checkpoints,
                        callback=callback,
                    ),
                    total=o.segmenter_steps,
                )

            options = stage_options(o, "mixed_precision", "grad_accumulation", prefix="segmenter_")
            key = {"role": "segmenter", **common, "processes": processes, "schedule": schedule, "options": options}
            stage = cached_stage(ctx, key, train_segmenter, everyone=True)
            fitted.segmenter = load_model(NoisySegmenter, stage.folder, ctx.device)
            fitted.stages["segmenter"] = stage

        # Stage IV network: trained on the real split only (cf+cg+cs), by the main process.
        if self.selects:

            def train_filter(folder):
                mask_filter = MaskFilter(o.filter_model, ctx.train, ctx.device)
                mask_filter.fit(train, stage_seed(ctx.seed, "filter"), progress=ctx.progress)
                mask_filter.save(folder)
                return {"seconds": mask_filter.seconds}

            key = {"role": "filter", **common, "model": o.filter_model, "train": ctx.train.to_dict()}
            stage = cached_stage(ctx, key, train_filter)
            fitted.filter = MaskFilter.load(stage.folder, ctx.device)
            fitted.stages["filter"] = stage
        self._fitted = fitted
        self.history = training_history(*fitted.stages.values())

    def expand(self, n: int, ctx: MethodContext) -> Expansion:
        """Sample ``n`` pairs (stage III) and, for ``cf+cg+cs``, keep / relabel / drop them (stage IV).

        Returns:
            Expansion whose pairs (ids ``syn_00000`` ...) are the kept and relabelled pairs at the training
            pairs' size and channels (images float in [0, 1], masks int64 with the training labels 0..K), with one
            record per
            generated pair (``info``: ``tau`` (empty when unguided), ``guidance_scale``, ``cf_weight``,
            ``steps``, ``foreground`` fraction, and ``dice_loss`` with stage IV).

        Raises:
            RuntimeError: before :meth:`fit`, or if a network is in train mode.
            ValueError: for ``n < 1``.
        """
        if self._fitted is None:
            raise RuntimeError("DiffuseExpand.expand called before fit")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        f, o = self._fitted, self.options
        size, channels = f.data["size"], f.data["channels"]
        scale = o.guidance_scale if self.guided else 0.0
        info = {
            "tau": o.tau if scale else "",
            "guidance_scale": scale,
            "cf_weight": o.cf_weight,
            "steps": o.sampling_steps,
        }

        # Stage III: sample, sharded over the run's processes (cached by upstream hashes, options, n, seed).
        seeds = pair_seeds(stage_seed(ctx.seed, "samples"), n)
        augmented = o.mask_source == "augmented"

        def sample(folder):
            start = time.perf_counter()
            advance = progress_callback(ctx, "diffuseexpand sampler", n)
            given, sources = augmented_masks(f.train, seeds) if augmented else (None, [{} for _ in seeds])
            out = sample_pairs(
                PairSampler(
                    f.denoiser,
                    f.segmenter,
                    scheduler_config=f.schedule,
                    mixed_precision=o.mixed_precision,
                ),
                seeds=seeds,
                batch_size=o.sample_batch,
                callback=advance,
                masks=given,
                config=dataclasses.replace(SamplingConfig.from_options(o), guidance_scale=scale),
            )
            seconds = time.perf_counter() - start
            ids = synthetic_ids(n)
            # 8-bit images, as stored, so that fresh and cached expansions are identical
            samples = PairSet(ids, (out.images * 255).round() / 255, out.masks, "diffuseexpand", True)
            if PartialState().is_main_process:
                save_pairs(samples, folder)
                rows = [
                    [k, s, *info.values(), _foreground(m), *source.values()]
                    for k, s, m, source in zip(samples.ids, out.seeds, samples.masks, sources)
                ]
                write_csv(folder / "records.csv", ["id", "seed", *info, "foreground", *sources[0]], rows)
                save_gallery(folder / GALLERY_PNG, samples.images, samples.masks)
            return {"seconds": seconds, "n": n, **guidance_stats(out.guidance)}

        sampling = {
            **stage_options(o, "solver_order", "sampling_steps", "dynamic_thresholding", "cf_weight"),
            **stage_options(o, "mask_median", "mixed_precision", "sample_batch"),
            "guidance_scale": scale,
            "tau": o.tau if scale else None,
            "image_objective": o.image_objective if scale else None,
            # at their neutral values the thinning options sample as before they existed: left out then
            **({k: v for k, v in options_dict(o).items() if k in GUIDANCE_KEYED} if scale else {}),
            **({"mask_source": o.mask_source, "mask_warp": warp_knobs()} if augmented else {}),
        }
        upstream = {role: f.stages[role].digest for role in (("denoiser", "segmenter") if scale else ("denoiser",))}
        key = {"role": "samples", "version": self.version, "upstream": upstream, "sampling": sampling}
        stage = cached_stage(ctx, {**key, "n": n, "seed": ctx.seed}, sample, everyone=True)
        f.stages["samples"] = stage
        samples = load_pairs(stage.folder, size, channels, name="diffuseexpand", synthetic=True)
        stored = _read_rows(stage.folder / "records.csv", samples.ids)
        records = [
            PairRecord(k, int(row["seed"]), "kept", {**info, "foreground": _foreground(m), **source_record(row)})
            for k, row, m in zip(samples.ids, stored, samples.masks)
        ]
        seconds = {role: f.seconds(role) for role in ("denoiser", "segmenter", "samples", "filter")}
        seconds["sampler"] = seconds.pop("samples")
        stats: dict[str, Any] = {
            "variant": self.variant,
            "seconds": seconds,
            "pass_rate": 1.0,
            "mean_dice_all": None,
            "mean_dice_kept": None,
            "counts": Expansion(samples, records).counts(),
            "cached": f.cached(),
            **{k: v for k, v in stage.done.items() if k.startswith("guidance")},
        }
        if not self.selects:
            self.stats = stats
            return Expansion(samples, records)

        # Stage IV: keep / relabel / drop with the real-data network (cheap: every process decides alike).
        start = time.perf_counter()
        chosen = select(samples, records, f.filter, o.eta)
        seconds["filter"] = (seconds["filter"] or 0.0) + time.perf_counter() - start
        stats.update(chosen.stats)
        pairs, records = chosen.pairs, chosen.records

        def write_selection(folder):
            if pairs.ids:
                save_pairs(pairs, folder)
            write_records(records, folder / "records.csv")
            save_gallery(folder / GALLERY_PNG, samples.images, samples.masks, [r.decision for r in records])
            return {**stats, "n": n}

        key = {"role": "selection", "version": self.version, "samples": stage.digest, "eta": o.eta}
        cached_stage(ctx, {**key, "filter": f.stages["filter"].digest}, write_selection)
        self.stats = stats
        return Expansion(pairs, records, generated=samples)

    def real_data_network(self) -> torch.nn.Module | None:
        """The stage-IV filter network (trained on the real split) for ``cf+cg+cs`` on binary masks after
        :meth:`fit`, else None (the harness's U-Net-feature metrics need a binary network)."""
        if not self.selects or self._fitted is None or self._fitted.filter.num_classes != 2:
            return None
        return self._fitted.filter.model


def _foreground(mask: torch.Tensor) -> float:
    return round(float((mask > 0).float().mean()), 6)


def _read_rows(path, ids: list[str]) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        rows = {row["id"]: row for row in csv.DictReader(fh)}
    return [rows[k] for k in ids]
