"""A method fitted on a pair set, its expansion generated and measured: the core that ``bench run`` (once per
seed, on the training split) and ``bench expand`` (once, on every pair of a folder) share.

The method's stages are cached under ``workdir`` and locked one by one (:mod:`methods.stages`), so two
invocations that share a stage never train it twice; each step is named to an interrupt and to an out-of-memory
error (:func:`bench.runner.machine.oom_as_run_error`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.pairs import PairSet
from bench.runner.generation import run_generation_metrics, save_gallery
from bench.runner.machine import oom_as_run_error
from bench.runner.planning import Plan
from methods.base import Expansion, ExpansionMethod, MethodContext


@dataclass(frozen=True)
class Measuring:
    """How :func:`expand_pairs` measures an expansion, and where its pictures go.

    ``cache_dir`` keeps the real pairs' Inception features (and the reference U-Nets) for every run of a data set;
    ``reference``: train a U-Net for ``fid_unet`` when the method has no real-data network of its own;
    ``per_image``: every generated image's nearest real one; ``gallery_png``: None where the caller draws its own.
    """

    cache_dir: Path
    closest_png: Path
    gallery_png: Path | None = None
    inception_weights: Path | None = None
    reference: bool = True
    per_image: bool = False


@dataclass
class Expanded:
    """What :func:`expand_pairs` made: the fitted method, its expansion, the seconds of each step (``fit``,
    ``expand``, ``generation_metrics`` when measured) and the generation metrics with the reasons of those missing
    (empty when not measured)."""

    method: ExpansionMethod
    expansion: Expansion
    timings: dict[str, float]
    metrics: dict[str, Any] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


def expand_pairs(
    pl: Plan,
    pairs: PairSet,
    *,
    workdir: Path,
    seed: int,
    device: torch.device,
    preset: str,
    force: bool,
    progress: Any,
    where: str,
    measuring: Measuring | None = None,
) -> Expanded:
    """Fit ``pl``'s method on ``pairs`` alone and generate ``pl.n_synthetic`` pairs (none for a run that trains on
    real pairs only); with ``measuring``, measure them against ``pairs`` and draw their gallery.

    Args:
        pl: the plan (method, ablation, resolved options, downstream training config, pairs to generate).
        pairs: the real pairs the method sees; nothing else reaches it.
        workdir: the method's stage cache for this data set.
        seed, device, preset, force, progress: as :class:`methods.base.MethodContext` takes them.
        where: what the steps' names end with ("seed 0", "on all 138 pairs").
        measuring: None on a process that only helps fit (the metrics belong to the main one).

    Raises:
        bench.runner.RunError: out of memory, naming the step.
    """
    cls = pl.method_cls
    method = cls(pl.ablation, pl.options)
    ctx = MethodContext(
        workdir=workdir,
        seed=seed,
        device=device,
        train=pl.train.unmixed(),  # a method's own networks train on real pairs alone
        preset=preset,
        force=force,
        progress=progress,
    )
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with oom_as_run_error(f"fitting {cls.name} ({pl.ablation}, {where})", device):
        method.fit(pairs, ctx)
    timings["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if pl.train_on == "real":
        expansion = Expansion(_empty_like(pairs), [])
    else:
        with oom_as_run_error(f"generating {pl.n_synthetic} pairs with {cls.name} ({where})", device):
            expansion = method.expand(pl.n_synthetic, ctx)
    timings["expand"] = time.perf_counter() - t0
    done = Expanded(method, expansion, timings)
    if measuring is not None:
        measure(pl, pairs, done, seed=seed, device=device, progress=progress, where=where, measuring=measuring)
    return done


def measure(
    pl: Plan,
    pairs: PairSet,
    done: Expanded,
    *,
    seed: int,
    device: torch.device,
    progress: Any,
    where: str,
    measuring: Measuring,
) -> None:
    """Measure an expansion :func:`expand_pairs` made without ``measuring`` against ``pairs`` and draw its gallery,
    into ``done``: for a caller that opens the folder the pictures go to only once the long fit is over.

    Raises:
        bench.runner.RunError: out of memory.
    """
    t0 = time.perf_counter()
    with oom_as_run_error(f"computing generation metrics ({where})", device):
        done.metrics, done.unavailable = run_generation_metrics(
            pl,
            pairs,
            done.expansion,
            done.method,
            seed,
            device,
            measuring.cache_dir,
            progress,
            measuring.closest_png,
            measuring.inception_weights,
            reference=measuring.reference,
            per_image=measuring.per_image,
        )
    done.timings["generation_metrics"] = time.perf_counter() - t0
    if measuring.gallery_png is not None:
        save_gallery(done.expansion, measuring.gallery_png)


def _empty_like(pairs: PairSet) -> PairSet:
    """No pairs, shaped like ``pairs``: the expansion of a run that trains on real pairs only."""
    c, h, w = pairs.images.shape[1:]
    return PairSet([], torch.zeros(0, c, h, w), torch.zeros(0, h, w, dtype=torch.long), "none", True)
