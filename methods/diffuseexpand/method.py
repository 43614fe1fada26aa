"""DiffuseExpand as an :class:`~methods.base.ExpansionMethod`: the four stages, cached by content.

``fit`` trains (or reuses) the stages the variant needs, ``expand`` samples and filters. Every stage writes
under ``ctx.workdir/<role>/<hash>/`` with its key inputs in ``key.json``; the hash covers the stage's resolved
options, the upstream hashes, the training-data fingerprint and the seed, so another variant or another τ
reuses whatever it shares. ``ctx.force`` recomputes.

======================  ============================================================================
folder                  contents
======================  ============================================================================
``denoiser/<hash>``     stage I: ``model.pt``, ``denoiser.json``, ``scheduler_config.json``, ``train_log.json``
``segmenter/<hash>``    stage II: ``model.pt``, ``segmenter.json``, ``train_log.json``
``filter/<hash>``       stage IV network: ``model.pt``, ``filter.json``
``samples/<hash>``      stage III: all n pairs (``images/``, ``masks/``), ``records.csv``, ``gallery.png``,
                        ``stats.json``
``selection/<hash>``    stage IV decisions (``cf+cg+cs``): the kept + relabelled pairs, ``records.csv`` for all
                        n, ``gallery.png`` (contours green kept / orange relabelled / red dropped), ``stats.json``
======================  ============================================================================
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.utils import make_grid

from bench.config import MODEL_STRIDES, MODELS, ConfigError, config_hash
from bench.data import PairSet, fingerprint, load_pairs, save_pairs
from methods.base import (
    DECISIONS,
    Expansion,
    ExpansionMethod,
    MethodContext,
    PairRecord,
    register_method,
    write_records,
)
from methods.diffuseexpand.denoiser import (
    CONDITIONING,
    NOISE_SCHEDULE,
    Denoiser,
    build_denoiser,
    fit_denoiser,
    load_denoiser,
    save_denoiser,
    write_json,
)
from methods.diffuseexpand.filter import MaskFilter, select_pairs
from methods.diffuseexpand.guidance import IMAGE_OBJECTIVES
from methods.diffuseexpand.sampler import PairSampler, pair_seeds
from methods.diffuseexpand.segmenter import (
    NoisySegmenter,
    build_segmenter,
    fit_segmenter,
    load_segmenter,
    save_segmenter,
)

logger = logging.getLogger(__name__)

_TUPLES = ("denoiser_widths", "denoiser_attention", "segmenter_widths", "segmenter_attention")
DECISION_COLOURS = {"kept": (40, 200, 40), "relabelled": (255, 160, 0), "dropped": (230, 30, 30)}
GENERATED_COLOUR = (230, 60, 60)


@dataclass(frozen=True)
class DiffuseExpandOptions:
    """Knobs of DiffuseExpand; defaults are the paper's (§4.1) or, where it is silent, the released code's.

    Stage I (denoiser, §3.2):
        conditioning: ``"embedding"`` (paper: global mask vector) or ``"concat"`` (mask as an input channel).
        cfg_dropout: probability of dropping the mask condition of an image sample (0.5).
        denoiser_widths, denoiser_layers, denoiser_attention, denoiser_head_dim, denoiser_resblock_updown: ADM
            UNet (width 256 x mult 1, 1, 2, 2, 4, 4; 2 residual blocks; attention at 32, 16, 8 px; 64-channel
            heads; residual down/up-sampling, which convolutions replace when False).
        denoiser_steps, denoiser_batch, denoiser_lr: 30k AdamW steps of 16 at 1e-4, decaying linearly to 0.
        ema_decay: EMA of the weights (0 disables; the released code had none).
        snr_gamma: Min-SNR-γ weighting of the stage-I loss (0: the paper's plain MSE).
        pretrained: local diffusers ``UNet2DModel`` folder to fine-tune from (the paper starts from an
            ImageNet DPM; none is bundled, so the default trains from scratch).
    Stage II (segmenter, §3.3):
        segmenter_widths, segmenter_layers, segmenter_attention: the noise-aware UNet (64 x 1, 2, 2, 4; 1 block).
        segmenter_steps, segmenter_batch, segmenter_lr: released recipe, 10k AdamW steps of 16 at 3e-4 (the
            paper's text gives 30k steps at 1e-4 for both stage I and II).
    Stage III (sampler, §3.4):
        solver_order, sampling_steps: DPM-Solver++ 3M, 30 steps per phase.
        dynamic_thresholding: Imagen dynamic thresholding (ratio 0.995) of every x̂₀.
        tau: guidance temperature τ; guidance_scale: gradient scale s (the ``cf`` variant uses 0).
        cf_weight: classifier-free weight of the mask condition (1 = conditional prediction only).
        image_objective: image-phase guidance, ``"likelihood"`` (paper) or ``"wiou-wbce"`` (released CGMH script).
        mask_median: median-filter window for each binarised mask before the image phase (0: none, as in the
            paper); at small training budgets it removes the isolated pixels the denoiser leaves in masks.
        sample_batch: pairs sampled together.
    Stage IV (filter, §3.5):
        eta: Dice-loss threshold η (keep < η, relabel < 2η, drop otherwise).
        filter_model: downstream network used as the filter (trained with the run's downstream config).
    Engineering:
        checkpoint_every: steps between resumable training checkpoints (0: none).
        mixed_precision: bf16 autocast on CUDA.
    """

    conditioning: str = "embedding"
    cfg_dropout: float = 0.5
    denoiser_widths: tuple[int, ...] = (256, 256, 512, 512, 1024, 1024)
    denoiser_layers: int = 2
    denoiser_attention: tuple[int, ...] = (32, 16, 8)
    denoiser_head_dim: int = 64
    denoiser_resblock_updown: bool = True
    denoiser_steps: int = 30000
    denoiser_batch: int = 16
    denoiser_lr: float = 1e-4
    ema_decay: float = 0.9999
    snr_gamma: float = 0.0
    pretrained: str | None = None
    segmenter_widths: tuple[int, ...] = (64, 128, 128, 256)
    segmenter_layers: int = 1
    segmenter_attention: tuple[int, ...] = ()
    segmenter_steps: int = 10000
    segmenter_batch: int = 16
    segmenter_lr: float = 3e-4
    solver_order: int = 3
    sampling_steps: int = 30
    dynamic_thresholding: bool = True
    tau: float = 1.0
    guidance_scale: float = 1.0
    cf_weight: float = 1.0
    image_objective: str = "likelihood"
    mask_median: int = 0
    sample_batch: int = 16
    eta: float = 0.065
    filter_model: str = "unet"
    checkpoint_every: int = 1000
    mixed_precision: bool = True

    def __post_init__(self) -> None:
        for name in _TUPLES:
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, int) else tuple(int(v) for v in value))
        problems = []
        if self.conditioning not in CONDITIONING:
            problems.append(f"conditioning must be one of {CONDITIONING}, got {self.conditioning!r}")
        if self.image_objective not in IMAGE_OBJECTIVES:
            problems.append(f"image_objective must be one of {IMAGE_OBJECTIVES}, got {self.image_objective!r}")
        if not 0 <= self.cfg_dropout <= 1:
            problems.append(f"cfg_dropout must be in [0, 1], got {self.cfg_dropout}")
        if self.snr_gamma < 0:
            problems.append(f"snr_gamma must be >= 0, got {self.snr_gamma}")
        if not 0 <= self.ema_decay < 1:
            problems.append(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.tau <= 0 or self.eta <= 0:
            problems.append(f"tau and eta must be > 0, got {self.tau} and {self.eta}")
        if self.guidance_scale < 0 or self.cf_weight < 0:
            problems.append(f"guidance_scale and cf_weight must be >= 0, got {self.guidance_scale}, {self.cf_weight}")
        if self.mask_median < 0 or (self.mask_median > 1 and self.mask_median % 2 == 0):
            problems.append(f"mask_median must be 0, 1 or an odd window size, got {self.mask_median}")
        if self.solver_order not in (1, 2, 3):
            problems.append(f"solver_order must be 1, 2 or 3, got {self.solver_order}")
        for name in (
            "denoiser_steps",
            "denoiser_batch",
            "segmenter_steps",
            "segmenter_batch",
            "sampling_steps",
            "sample_batch",
            "denoiser_layers",
            "segmenter_layers",
        ):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if problems:
            raise ConfigError("diffuseexpand options: " + "; ".join(problems))


@register_method("diffuseexpand")
class DiffuseExpand(ExpansionMethod):
    """DiffuseExpand (Shao et al. 2023): diffusion-generated mask-image pairs, guided and filtered.

    Variants (paper Table 1): ``cf+cg+cs`` (all four stages), ``cf+cg`` (no stage-IV selection) and ``cf``
    (sampling with the denoiser's classifier-free conditioning only, no segmenter).

    After :meth:`expand`, ``self.stats`` holds ``{"seconds": {"denoiser", "segmenter", "sampler", "filter"},
    "pass_rate", "mean_dice_all", "mean_dice_kept", "counts", "cached"}``; the Dice values are the filter
    network's Dice between generated masks and its predictions (``None`` without stage IV), ``mean_dice_kept``
    over the pairs kept as generated.
    """

    version = "1"
    variants = ("cf+cg+cs", "cf+cg", "cf")
    description = "Diffusion-generated image-mask pairs with segmenter guidance and Dice filtering (DiffuseExpand)."
    Options = DiffuseExpandOptions
    binary_masks_only = True
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # Tests and CI at 32 x 32: tiny networks, tens of steps; η loosened so that such weak networks keep pairs.
        "smoke": {
            "denoiser_widths": (16, 32),
            "denoiser_layers": 1,
            "denoiser_attention": (),
            "denoiser_head_dim": 16,
            "denoiser_steps": 30,
            "denoiser_batch": 8,
            "denoiser_lr": 1e-3,
            "ema_decay": 0.99,
            "segmenter_widths": (16, 32),
            "segmenter_layers": 1,
            "segmenter_steps": 20,
            "segmenter_batch": 8,
            "solver_order": 2,
            "sampling_steps": 4,
            "sample_batch": 8,
            "checkpoint_every": 10,
            "eta": 0.3,
        },
        # Demo at 64 x 64 on two CPU cores: the whole `bench run` in about 13 minutes. Small networks, few
        # steps. Three departures from the paper, each measured on the demo at this budget (stage-IV pass rate of
        # guided pairs): the mask enters as an input channel ("concat"), because the paper's global mask embedding
        # learned no mask-image alignment in 600-1000 steps (pass rate 0.00); a 5 x 5 median filter on generated
        # masks removes stray pixels (concat, 600 steps: 0.02 -> 0.20); Min-SNR-5 loss weighting (concat + median,
        # 800 steps: 0.22 -> 0.37).
        "cpu": {
            "conditioning": "concat",
            "denoiser_widths": (16, 32, 32, 64),
            "denoiser_layers": 1,
            "denoiser_attention": (),
            "denoiser_head_dim": 32,
            "denoiser_resblock_updown": False,
            "denoiser_steps": 800,
            "denoiser_batch": 16,
            "denoiser_lr": 1e-3,
            "ema_decay": 0.995,
            "snr_gamma": 5.0,
            "segmenter_widths": (8, 16, 32, 32),
            "segmenter_layers": 1,
            "segmenter_steps": 150,
            "segmenter_batch": 16,
            "segmenter_lr": 1e-3,
            "sampling_steps": 15,
            "mask_median": 5,
            "sample_batch": 25,
            "checkpoint_every": 100,
        },
        # Paper scale (256 x 256) on a GPU: the field defaults.
        "paper": {},
    }

    @classmethod
    def check_request(cls, variant: str, options: DiffuseExpandOptions, image_size: int, channels: int) -> None:
        """Refuse an image size a network of the variant cannot halve often enough, or an unknown filter model."""
        stages = variant.split("+")
        networks = ["denoiser_widths"] + (["segmenter_widths"] if "cg" in stages else [])
        for name in networks:
            halvings = len(getattr(options, name)) - 1
            if image_size % 2**halvings:
                raise ConfigError(
                    f"--image-size {image_size}: diffuseexpand's {name} {getattr(options, name)} halve the image "
                    f"{halvings} times, so the size must be a multiple of {2**halvings}"
                )
        if options.filter_model not in MODELS:
            raise ConfigError(
                f"--option filter_model: must be one of {', '.join(MODELS)}, got {options.filter_model!r}"
            )
        stride = MODEL_STRIDES[options.filter_model]
        if "cs" in stages and image_size % stride:
            raise ConfigError(
                f"--image-size {image_size}: the stage-IV filter model '{options.filter_model}' needs a multiple "
                f"of {stride}"
            )

    def __init__(self, variant: str | None = None, options: DiffuseExpandOptions | None = None) -> None:
        super().__init__(variant, options)
        self.stats: dict[str, Any] = {}
        self._fitted: dict[str, Any] | None = None

    @property
    def guided(self) -> bool:
        """Stage II guidance is used (``cf+cg``, ``cf+cg+cs``)."""
        return "cg" in self.variant.split("+")

    @property
    def selects(self) -> bool:
        """Stage IV selection is used (``cf+cg+cs``)."""
        return "cs" in self.variant.split("+")

    # ------------------------------------------------------------------------------------------------------
    # fit
    # ------------------------------------------------------------------------------------------------------

    def fit(self, train: PairSet, ctx: MethodContext) -> None:
        """Train (or reuse) the denoiser, the segmenter (guided variants) and the filter (``cf+cg+cs``).

        Args:
            train: real training pairs; square images float ``N x C x S x S`` in [0, 1], binary masks int64
                ``N x S x S``.
            ctx: run context; stages are cached under ``ctx.workdir``.

        Raises:
            ValueError: for an empty set, non-square images, multi-class masks or a size the networks
                cannot halve often enough.
        """
        o = self.options
        if len(train) == 0:
            raise ValueError(f"{train.name}: no training pairs")
        channels, height, width = (int(v) for v in train.images.shape[1:])
        if height != width:
            raise ValueError(f"{train.name}: DiffuseExpand needs square images, got {height}x{width}")
        if train.num_classes != 2:
            raise ValueError(f"{train.name}: DiffuseExpand generates binary masks; found {train.num_classes} labels")
        data = {"fingerprint": fingerprint(train), "pairs": len(train), "size": height, "channels": channels}
        fitted: dict[str, Any] = {"data": data, "seconds": {}, "cached": [], "hashes": {}}

        # Stage I: the denoiser.
        key = {
            "role": "denoiser",
            "version": self.version,
            "data": data,
            "seed": ctx.seed,
            "schedule": NOISE_SCHEDULE,
            "options": _stage_options(
                o,
                "denoiser_",
                "conditioning",
                "cfg_dropout",
                "ema_decay",
                "snr_gamma",
                "pretrained",
                "mixed_precision",
            ),
        }
        folder = self._stage_folder(ctx, key, fitted)
        if not (folder / "model.pt").exists():
            denoiser = denoiser_from_options(o, height, channels, seed=_stage_seed(ctx.seed, "denoiser"))
            log = fit_denoiser(
                denoiser,
                train,
                steps=o.denoiser_steps,
                batch_size=o.denoiser_batch,
                lr=o.denoiser_lr,
                cfg_dropout=o.cfg_dropout,
                ema_decay=o.ema_decay,
                snr_gamma=o.snr_gamma,
                seed=_stage_seed(ctx.seed, "denoiser-train"),
                device=ctx.device,
                mixed_precision=o.mixed_precision,
                checkpoint=folder / "checkpoint.pt",
                checkpoint_every=o.checkpoint_every,
                callback=_progress_callback(ctx, "diffuseexpand denoiser", o.denoiser_steps),
            )
            write_json(folder / "train_log.json", log.to_json())
            save_denoiser(denoiser, folder, NOISE_SCHEDULE)
            (folder / "checkpoint.pt").unlink(missing_ok=True)
        else:
            fitted["cached"].append("denoiser")
            logger.info("reusing the denoiser in %s", folder)
        fitted["denoiser"], fitted["schedule"] = load_denoiser(folder, ctx.device)
        fitted["seconds"]["denoiser"] = _train_seconds(folder)

        # Stage II: the noise-aware segmenter (guided variants).
        fitted["segmenter"] = None
        if self.guided:
            key = {
                "role": "segmenter",
                "version": self.version,
                "data": data,
                "seed": ctx.seed,
                "schedule": fitted["schedule"],
                "options": _stage_options(o, "segmenter_", "mixed_precision"),
            }
            folder = self._stage_folder(ctx, key, fitted)
            if not (folder / "model.pt").exists():
                segmenter = segmenter_from_options(o, height, channels, seed=_stage_seed(ctx.seed, "segmenter"))
                log = fit_segmenter(
                    segmenter,
                    train,
                    steps=o.segmenter_steps,
                    batch_size=o.segmenter_batch,
                    lr=o.segmenter_lr,
                    seed=_stage_seed(ctx.seed, "segmenter-train"),
                    device=ctx.device,
                    mixed_precision=o.mixed_precision,
                    scheduler_config=fitted["schedule"],
                    checkpoint=folder / "checkpoint.pt",
                    checkpoint_every=o.checkpoint_every,
                    callback=_progress_callback(ctx, "diffuseexpand segmenter", o.segmenter_steps),
                )
                write_json(folder / "train_log.json", log.to_json())
                save_segmenter(segmenter, folder)
                (folder / "checkpoint.pt").unlink(missing_ok=True)
            else:
                fitted["cached"].append("segmenter")
                logger.info("reusing the segmenter in %s", folder)
            fitted["segmenter"] = load_segmenter(folder, ctx.device)
            fitted["seconds"]["segmenter"] = _train_seconds(folder)

        # Stage IV network: trained on the real split only (cf+cg+cs).
        fitted["filter"] = None
        if self.selects:
            key = {
                "role": "filter",
                "version": self.version,
                "data": data,
                "seed": ctx.seed,
                "model": o.filter_model,
                "train": dataclasses.asdict(ctx.train),
            }
            folder = self._stage_folder(ctx, key, fitted)
            if not (folder / "model.pt").exists():
                mask_filter = MaskFilter(o.filter_model, ctx.train, ctx.device)
                mask_filter.fit(train, _stage_seed(ctx.seed, "filter"), progress=ctx.progress)
                mask_filter.save(folder)
            else:
                fitted["cached"].append("filter")
                logger.info("reusing the filter network in %s", folder)
            fitted["filter"] = MaskFilter.load(folder, ctx.device)
            fitted["seconds"]["filter"] = fitted["filter"].seconds
        self._fitted = fitted

    # ------------------------------------------------------------------------------------------------------
    # expand
    # ------------------------------------------------------------------------------------------------------

    def expand(self, n: int, ctx: MethodContext) -> Expansion:
        """Sample ``n`` pairs (stage III) and, for ``cf+cg+cs``, keep / relabel / drop them (stage IV).

        Returns:
            Expansion whose pairs (ids ``syn_00000`` ...) are the kept and relabelled pairs at the training
            pairs' size and channels (images float in [0, 1], masks int64 {0, 1}), with one record per
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
        size, channels = f["data"]["size"], f["data"]["channels"]
        scale = o.guidance_scale if self.guided else 0.0
        sampling = {
            "solver_order": o.solver_order,
            "sampling_steps": o.sampling_steps,
            "dynamic_thresholding": o.dynamic_thresholding,
            "guidance_scale": scale,
            "cf_weight": o.cf_weight,
            "mask_median": o.mask_median,
            "mixed_precision": o.mixed_precision,
            "tau": o.tau if scale else None,
            "image_objective": o.image_objective if scale else None,
        }
        upstream = (
            {role: f["hashes"].get(role) for role in ("denoiser", "segmenter")}
            if scale
            else {"denoiser": f["hashes"]["denoiser"]}
        )

        # Stage III: sample (cached by upstream hashes, sampling options, n and seed).
        key = {
            "role": "samples",
            "version": self.version,
            "upstream": upstream,
            "sampling": sampling,
            "n": n,
            "seed": ctx.seed,
        }
        folder = self._stage_folder(ctx, key, f)
        cached = list(f["cached"])
        info = {
            "tau": sampling["tau"] or "",
            "guidance_scale": scale,
            "cf_weight": o.cf_weight,
            "steps": o.sampling_steps,
        }
        if (folder / "stats.json").exists():
            samples = load_pairs(folder, size, channels, name="diffuseexpand", synthetic=True)
            seeds = _read_seeds(folder / "records.csv", samples.ids)
            sample_seconds = json.loads((folder / "stats.json").read_text())["seconds"]["sampler"]
            cached.append("samples")
            logger.info("reusing %d sampled pairs in %s", len(samples), folder)
        else:
            samples, seeds, sample_seconds = self._sample(n, ctx, scale)
        records = [
            PairRecord(k, s, "kept", {**info, "foreground": _foreground(m)})
            for k, s, m in zip(samples.ids, seeds, samples.masks)
        ]
        seconds = {
            "denoiser": f["seconds"].get("denoiser"),
            "segmenter": f["seconds"].get("segmenter"),
            "sampler": sample_seconds,
            "filter": None,
        }
        stats: dict[str, Any] = {
            "variant": self.variant,
            "seconds": seconds,
            "pass_rate": 1.0,
            "mean_dice_all": None,
            "mean_dice_kept": None,
            "counts": Expansion(samples, records).counts(),
            "cached": cached,
        }
        if "samples" not in cached:
            save_pairs(samples, folder)
            write_json(folder / "key.json", key)
            write_records(records, folder / "records.csv")
            save_gallery(samples.images, samples.masks, folder / "gallery.png")
            write_json(
                folder / "stats.json", {"seconds": {"sampler": sample_seconds}, "n": n, "counts": stats["counts"]}
            )
        if not self.selects:
            self.stats = stats
            return Expansion(samples, records)

        # Stage IV: keep / relabel / drop with the real-data network.
        key = {
            "role": "selection",
            "version": self.version,
            "samples": f["hashes"]["samples"],
            "filter": f["hashes"]["filter"],
            "eta": o.eta,
        }
        out = self._stage_folder(ctx, key, f)
        start = time.perf_counter()
        result = select_pairs(f["filter"].predict(samples.images), samples.masks, o.eta)
        predict_seconds = time.perf_counter() - start
        dice = (1 - result.dice_loss).tolist()
        records = [
            dataclasses.replace(r, decision=d, info={**r.info, "dice_loss": round(float(loss), 6)})
            for r, d, loss in zip(records, result.decisions, result.dice_loss)
        ]
        keep = [i for i, d in enumerate(result.decisions) if d != "dropped"]
        kept_dice = [dice[i] for i, d in enumerate(result.decisions) if d == "kept"]
        index = torch.tensor(keep, dtype=torch.long)
        pairs = PairSet(
            [samples.ids[i] for i in keep], samples.images[index], result.masks[index], "diffuseexpand", True
        )
        seconds["filter"] = (f["seconds"].get("filter") or 0.0) + predict_seconds
        stats.update(
            counts={d: result.decisions.count(d) for d in DECISIONS},
            pass_rate=result.pass_rate,
            mean_dice_all=float(np.mean(dice)),
            mean_dice_kept=float(np.mean(kept_dice)) if kept_dice else None,
        )
        if not (out / "stats.json").exists():
            if pairs.ids:
                save_pairs(pairs, out)
            write_json(out / "key.json", key)
            write_records(records, out / "records.csv")
            save_gallery(samples.images, samples.masks, out / "gallery.png", result.decisions)
            write_json(out / "stats.json", {**stats, "n": n})
        logger.info("stage IV: %s (pass rate %.3f)", stats["counts"], result.pass_rate)
        self.stats = stats
        return Expansion(pairs, records)

    def _sample(self, n: int, ctx: MethodContext, scale: float) -> tuple[PairSet, list[int], float]:
        """Run stage III; images are rounded to 8 bit so that fresh and cached results are identical."""
        f, o = self._fitted, self.options
        sampler = PairSampler(
            f["denoiser"],
            f["segmenter"],
            scheduler_config=f["schedule"],
            solver_order=o.solver_order,
            dynamic_thresholding=o.dynamic_thresholding,
            mixed_precision=o.mixed_precision,
        )
        seeds = pair_seeds(_stage_seed(ctx.seed, "samples"), n)
        advance = _progress_callback(ctx, "diffuseexpand sampler", n)
        done = [0]

        def on_batch(count: int) -> None:
            done[0] += count
            if advance is not None:
                advance(done[0], 0.0)

        start = time.perf_counter()
        out = sampler(
            seeds=seeds,
            num_inference_steps=o.sampling_steps,
            tau=o.tau,
            guidance_scale=scale,
            cf_weight=o.cf_weight,
            image_objective=o.image_objective,
            mask_median=o.mask_median,
            batch_size=o.sample_batch,
            callback=on_batch,
        )
        seconds = time.perf_counter() - start
        width = max(5, len(str(n - 1)))
        ids = [f"syn_{i:0{width}d}" for i in range(n)]
        images = (out.images * 255).round() / 255
        return PairSet(ids, images, out.masks, "diffuseexpand", True), out.seeds, seconds

    def _stage_folder(self, ctx: MethodContext, key: dict[str, Any], fitted: dict[str, Any]) -> Path:
        """``ctx.workdir/<role>/<hash>``, emptied first when ``ctx.force``; records the hash in ``fitted``."""
        digest = config_hash(key)
        fitted["hashes"][key["role"]] = digest
        folder = Path(ctx.workdir) / key["role"] / digest
        if ctx.force and folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if key["role"] not in ("samples", "selection"):
            write_json(folder / "key.json", key)
        return folder


def denoiser_from_options(o: DiffuseExpandOptions, size: int, channels: int, seed: int = 0) -> Denoiser:
    """The stage-I network the options describe (from ``o.pretrained`` when set)."""
    return build_denoiser(
        size,
        channels,
        o.conditioning,
        o.denoiser_widths,
        o.denoiser_layers,
        o.denoiser_attention,
        o.denoiser_head_dim,
        resblock_updown=o.denoiser_resblock_updown,
        pretrained=o.pretrained,
        seed=seed,
    )


def segmenter_from_options(o: DiffuseExpandOptions, size: int, channels: int, seed: int = 0) -> NoisySegmenter:
    """The stage-II network the options describe."""
    return build_segmenter(size, channels, o.segmenter_widths, o.segmenter_layers, o.segmenter_attention, seed=seed)


def _stage_options(o: DiffuseExpandOptions, prefix: str, *names: str) -> dict[str, Any]:
    """The options a stage's cache key covers: every field named ``prefix*`` plus ``names``, so that a new
    network option can never be left out of the key by accident."""
    return {f.name: getattr(o, f.name) for f in dataclasses.fields(o) if f.name.startswith(prefix) or f.name in names}


def _stage_seed(seed: int, role: str) -> int:
    """A stage's seed, derived from the run seed and the role name."""
    return int(np.random.SeedSequence([seed, zlib.crc32(role.encode())]).generate_state(1)[0] >> 1)


def _progress_callback(ctx: MethodContext, description: str, total: int) -> Callable[[int, float], None] | None:
    """A ``(step, loss)`` callback that moves a task of ``ctx.progress`` (None without progress)."""
    if ctx.progress is None:
        return None
    task = ctx.progress.add_task(description, total=total)

    def update(step: int, loss: float) -> None:
        ctx.progress.update(task, completed=step)

    return update


def _train_seconds(folder: Path) -> float | None:
    path = folder / "train_log.json"
    return json.loads(path.read_text())["seconds"] if path.exists() else None


def _foreground(mask: torch.Tensor) -> float:
    return round(float(mask.float().mean()), 6)


def _read_seeds(path: Path, ids: list[str]) -> list[int]:
    with path.open(newline="") as fh:
        seeds = {row["id"]: int(row["seed"]) for row in csv.DictReader(fh)}
    return [seeds[k] for k in ids]


def save_gallery(
    images: torch.Tensor,
    masks: torch.Tensor,
    path: Path,
    decisions: list[str] | None = None,
    max_pairs: int = 64,
    nrow: int = 8,
) -> None:
    """Save a grid of overlays (paper Fig. 3 style): each image with its mask tinted and outlined.

    Args:
        images: float ``N x C x H x W`` in [0, 1].
        masks: int ``N x H x W`` in {0, 1}.
        path: PNG file, written atomically.
        decisions: optional stage-IV decision per pair; colours the overlay green (kept), orange
            (relabelled) or red (dropped).
        max_pairs: at most this many pairs, the first ones.
        nrow: pairs per row.
    """
    k = min(max_pairs, len(images))
    if k == 0:
        return
    rgb = images[:k].float().clamp(0, 1)
    rgb = rgb.expand(-1, 3, -1, -1) if rgb.shape[1] == 1 else rgb[:, :3]
    m = masks[:k, None].float()
    edge = m - (1 - F.max_pool2d(1 - m, 3, stride=1, padding=1))
    names = decisions[:k] if decisions is not None else [None] * k
    colour = torch.tensor([DECISION_COLOURS.get(d, GENERATED_COLOUR) for d in names], dtype=torch.float32) / 255
    colour = colour[:, :, None, None]
    tiles = rgb * (1 - 0.3 * m) + colour * 0.3 * m
    tiles = tiles * (1 - edge) + colour * edge
    scale = max(1, 128 // tiles.shape[-1])
    tiles = F.interpolate(tiles, scale_factor=scale, mode="nearest") if scale > 1 else tiles
    grid = make_grid(tiles, nrow=nrow, padding=2, pad_value=1.0)
    array = (grid.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    Image.fromarray(array).save(tmp)
    os.replace(tmp, path)
