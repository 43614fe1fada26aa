"""What a *kept* pair costs under several sampling configurations, measured on the networks of a finished run.

``bench speed --compare released,preset,every2 --run RUN_FOLDER`` prints it. :func:`load_run` loads the denoiser,
segmenter and stage-IV filter that a finished ``cf+cg+cs`` run cached (never training one); :func:`compare`
samples the same pair seeds under each configuration, passes the pairs through the run's stage-IV filter and
divides the FLOPs of a generated pair (:mod:`.cost`) by the share that passes.

Configurations (:func:`sampling_config`), comma-separated in ``--compare``:

=====================  ==============================================================================
``released``           the authors' released sampler (:data:`.cost.RELEASED`)
``preset``             the run's own options (:meth:`.cost.SamplingConfig.from_options`)
``order2-15``          the run's, with DPM-Solver++ order 2 and 15 steps per phase (``orderN-S``)
``every2``             the run's, a fresh guidance gradient every 2nd step (``everyK``)
``until0.5``           the run's, guided only while t >= 0.5 T (``untilU``)
``imageonly``          the run's, without mask-phase guidance (``maskonly``: without image-phase guidance)
``k=v+k=v``            the run's, with :class:`~.cost.SamplingConfig` fields set, e.g.
                       ``solver_order=2+steps=10+guidance_every=2``
=====================  ==============================================================================

Every configuration samples with the run's image objective, mask median, precision and batch size (and, unless it
sets them, the run's τ, guidance reduction and dynamic thresholding: ``released`` takes the run's τ and dynamic
thresholding; ``dynamic_thresholding=false`` samples without it, which greys the images less), on the
seeds of the run's first ``n`` pairs, so ``preset`` regenerates the run's own pairs and differences between rows
are the configuration's, not the noise's. Each row also says how strongly guidance acted (the mean ratio
‖s·σ_t·∇ₓ log p‖ / ‖ε‖ per phase, :mod:`.guidance`).
"""

from __future__ import annotations

import json
import math
import re
import time
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
import yaml

from bench.config import ConfigError, check_type
from bench.data import fingerprint
from bench.masks import MaskReading
from bench.pairs import DatasetError, PairSet
from bench.results import load_results
from bench.runner.dataset import load_data
from bench.runner.layout import method_cache, metrics_cache
from bench.runner.machine import oom_as_run_error, resolve_device
from bench.runner.planning import plan
from bench.runner.request import Request
from bench.splits import FULL_RATIO, make_split
from methods.base import MethodContext, PairRecord, pair_seeds, stored_options, synthetic_ids
from methods.diffuseexpand.cost import RELEASED, SamplingConfig, flops_per_pair, model_costs, nfe
from methods.diffuseexpand.filter import select
from methods.diffuseexpand.method import DiffuseExpand
from methods.diffuseexpand.options import DiffuseExpandOptions
from methods.diffuseexpand.sampler import PairSampler, guidance_stats
from methods.stages import StageNotCached, stage_seed

VARIANT = "cf+cg+cs"
"""The only variant with all three networks a comparison needs (denoiser, segmenter, stage-IV filter)."""
NAMES = "released, preset, orderN-S, everyK, untilU, imageonly, maskonly or KEY=VALUE+KEY=VALUE"


@dataclass
class LoadedRun:
    """A finished DiffuseExpand run with its networks loaded.

    Attributes:
        folder: the run folder (``results.json``, ``config.json``).
        config: its ``config.json`` (a :class:`bench.config.RunConfig` dict).
        method: the fitted method; ``method.fitted`` holds the networks in eval mode on ``device``.
        device: where they are.
        seed: the run seed.
        train: the real training split the networks were fitted on (the reference set of ``fid=True``).
        metrics_cache: where the run's real-image features are cached (``<out>/<dataset>/_cache/metrics``).
    """

    folder: Path
    config: dict[str, Any]
    method: DiffuseExpand
    device: torch.device
    seed: int
    train: PairSet
    metrics_cache: Path


def load_run(run_dir: Path | str, device: str | None = None, warn: Callable[[str], None] | None = None) -> LoadedRun:
    """Load the denoiser, segmenter and stage-IV filter of a finished ``diffuseexpand cf+cg+cs`` run.

    The run's request is rebuilt from its ``config.json`` (same options, preset, data, split and seed) and planned
    as ``bench run`` plans it; the method is then fitted in a ``cached_only`` context whose workdir is the run's
    cache, ``<out>/<dataset>/_cache/diffuseexpand`` with ``<out>`` three folders above the run folder, so every
    stage loads from there. Nothing is trained or written.

    Args:
        run_dir: the run folder, ``<out>/<dataset>/<run name>/ratio_<r>/seed_<s>``.
        device: ``cpu``, ``cuda``, ...; default: cuda if available.
        warn: called with the data set's integrity-check warnings.

    Raises:
        ConfigError: naming the folder, for one without ``results.json`` / ``config.json``, a run of another method
            or variant, data that changed since the run, or a stage that is not in the cache. bench.data.DatasetError:
            naming the folder, when the run's data set is missing or fails its check.
    """
    # 1. The run folder: a finished DiffuseExpand cf+cg+cs run
    folder = Path(run_dir)
    if not folder.is_dir():
        raise ConfigError(f"--run {folder}: no such folder")
    for name in ("results.json", "config.json"):
        if not (folder / name).is_file():
            raise ConfigError(f"--run {folder}: not a finished bench run (no {name})")
    try:
        results = load_results(folder / "results.json")
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"--run {folder}: unreadable run files ({e})") from None
    method, variant = config.get("method"), config.get("ablation")
    if method != "diffuseexpand" or variant != VARIANT:
        raise ConfigError(
            f"--run {folder}: a run of {method} ({variant}); comparing sampling configurations needs a run of "
            f"diffuseexpand ({VARIANT}), for its denoiser, segmenter and stage-IV filter"
        )

    layout = folder.resolve()
    if not (layout.name.startswith("seed_") and layout.parent.name.startswith("ratio_") and len(layout.parents) > 3):
        raise ConfigError(f"--run {folder}: not a run folder <out>/<dataset>/<run>/ratio_<r>/seed_<s>")

    # 2. The run's request, planned as `bench run` plans it; the data and split it trained on
    try:
        req = _request(results, config, layout.parents[3], device)
    except (KeyError, TypeError) as e:
        raise ConfigError(f"--run {folder}: config.json or results.json lacks {e}") from None
    try:
        pl = plan(req)
    except ConfigError as e:
        raise ConfigError(f"--run {folder}: the run's configuration: {e}") from None
    dev = resolve_device(device)
    try:
        data = load_data(req.dataset, pl, req.channels, warn or (lambda _: None))
    except DatasetError as e:
        raise DatasetError(f"--run {folder}: the run's data set: {e}") from None
    seed = config["seed"]
    train = data.pairs.subset(make_split(data.pairs.ids, seed, req.train_ratio, train_pairs=req.train_pairs).train)
    if fingerprint(train) != results["dataset"]["fingerprint"]:
        raise ConfigError(
            f"--run {folder}: the training split of {data.path} is not the one the run trained on (the data changed)"
        )

    # 3. The method, fitted from the run's cache only
    fitted = pl.method_cls(pl.ablation, pl.options)
    ctx = MethodContext(
        workdir=method_cache(req.out, config["dataset"], method),
        seed=seed,
        device=dev,
        train=pl.train,
        preset=req.preset,
        cached_only=True,
    )
    try:
        fitted.fit(train, ctx)
    except StageNotCached as e:
        raise ConfigError(
            f"--run {folder}: {e} (deleted or moved?); comparing never trains, so rerun its `bench run` first"
        ) from None
    return LoadedRun(folder, config, fitted, dev, seed, train, metrics_cache(req.out, config["dataset"]))


def _request(results: dict[str, Any], config: dict[str, Any], out: Path, device: str | None) -> Request:
    """The ``bench run`` request that made a run: its ``config.json`` values, its data folder as stored in
    ``results.json`` (the card name where that folder is gone) and its output root ``out``."""
    stored = Path(results["dataset"]["path"])
    return Request(
        method=config["method"],
        ablation=config["ablation"],
        dataset=str(stored) if stored.is_dir() else config["dataset"],
        models=(config["model"],),
        seeds=(config["seed"],),
        train_ratio=config["train_ratio"] if config.get("train_pairs") is None else FULL_RATIO,
        train_pairs=config.get("train_pairs"),
        augment=config["augment"],
        train_on=config["train_on"],
        preset=config["preset"],
        out=out,
        n_synthetic=config["n_synthetic"],
        image_size=config["image_size"],
        channels=config["channels"],
        method_options=stored_options(DiffuseExpandOptions, config["method_options"]),
        train_options=config["train"],
        wandb="disabled",
        device=device,
        masks=MaskReading.from_tag(results["dataset"].get("reading", "")),
    )


def sampling_config(name: str, own: SamplingConfig) -> SamplingConfig:
    """The configuration ``name`` stands for (see the module docstring); ``own`` is the run's.

    Raises:
        ConfigError: an unknown name, an unknown field or a value out of range, naming it.
    """
    where = f"--compare {name!r}"
    if name == "released":
        same = ("tau", "image_objective", "mask_median", "dynamic_thresholding")
        return replace(RELEASED, **{k: getattr(own, k) for k in same})
    if name == "preset":
        return own
    if name in ("imageonly", "maskonly"):
        return replace(own, **{f"guide_{'mask' if name == 'imageonly' else 'image'}_phase": False})
    patterns = {
        r"order(\d+)-(\d+)": lambda m: {"solver_order": int(m[1]), "steps": int(m[2])},
        r"every(\d+)": lambda m: {"guidance_every": int(m[1])},
        r"until(\d*\.?\d+)": lambda m: {"guidance_until": float(m[1])},
    }
    changes = next((make(m) for p, make in patterns.items() if (m := re.fullmatch(p, name))), None)
    if changes is None and "=" in name:
        hints = typing.get_type_hints(SamplingConfig)
        changes = {}
        for item in name.split("+"):
            key, _, value = (part.strip() for part in item.partition("="))
            if key not in hints:
                known = ", ".join(f.name for f in fields(SamplingConfig))
                raise ConfigError(f"{where}: unknown field {key!r} (known: {known})")
            changes[key] = check_type(yaml.safe_load(value), hints[key], f"{where}: {key}")
    if changes is None:
        raise ConfigError(f"{where}: unknown configuration (known: {NAMES})")
    try:
        return replace(own, **changes)
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from None


def sampling_configs(names: Sequence[str], own: SamplingConfig) -> list[tuple[str, SamplingConfig]]:
    """``(name, configuration)`` for each name, in order (a name may repeat)."""
    if not names:
        raise ConfigError(f"--compare: no configuration given (known: {NAMES})")
    return [(name, sampling_config(name, own)) for name in names]


def compare(
    run: LoadedRun,
    configs: Sequence[tuple[str, SamplingConfig]],
    n: int = 32,
    progress: Any = None,
    fid: bool = False,
) -> list[dict[str, Any]]:
    """Sample ``n`` pairs under each configuration, filter them with the run's stage IV, and price a kept pair.

    Args:
        run: from :func:`load_run`.
        configs: ``(name, configuration)`` pairs (:func:`sampling_configs`).
        n: pairs per configuration, the seeds of the run's first ``n`` pairs for each.
        progress: a rich Progress; one task advances per sampled batch over every configuration.
        fid: also measure each configuration's pairs against the run's real training split (:func:`_fid`).

    Returns:
        One row per configuration: ``configuration`` (its name), ``options``
        (:attr:`~.cost.SamplingConfig.name`), ``nfe`` (network calls per pair: ``denoiser``, ``segmenter_fwd``,
        ``segmenter_bwd``, :func:`.cost.nfe`), ``gflop_per_pair``, ``counts`` (kept / relabelled / dropped),
        ``pass_rate`` (kept + relabelled share), ``kept_share`` (kept as generated), ``mean_dice`` (the filter's
        Dice over all pairs), ``filter_dice`` (per pair), ``gflop_per_kept`` (``gflop_per_pair / pass_rate``;
        ``math.inf`` when nothing passes), ``vs_released`` (``gflop_per_kept`` over that of the first
        ``released`` row; ``None`` without one, or when nothing of it passes), ``seconds_per_pair`` (wall
        seconds of sampling on ``run.device``) and the guidance strength (``guidance``, ``guidance_ratio_mask``,
        ``guidance_ratio_image``: :func:`.sampler.guidance_stats`); with ``fid``, also ``fid``, ``fid_kept``,
        ``fid_unet``, ``memorised`` and ``copies`` (the memorisation check's ``share_closer_than_real`` and
        ``share_copies``) and ``unavailable``.

    Raises:
        ConfigError: ``n < 1``. bench.runner.RunError: out of memory, naming the configuration.
    """
    if n < 1:
        raise ConfigError(f"--n must be >= 1 (pairs per configuration), got {n}")
    f, o = run.method.fitted, run.method.options
    per_call = {f"{k}_flops": v for k, v in model_costs(f.denoiser, f.segmenter).items()}
    seeds = pair_seeds(stage_seed(run.seed, "samples"), n)  # the run's own pair seeds (see DiffuseExpand.expand)
    batch = o.sample_batch
    task = None
    if progress is not None:
        task = progress.add_task("sampling configurations", total=len(configs) * math.ceil(n / batch))

    sampler = PairSampler(
        f.denoiser,
        f.segmenter,
        scheduler_config=f.schedule,
        mixed_precision=o.mixed_precision,
    )

    def sample(config: SamplingConfig, pairs: Sequence[int], callback: Any = None, **changes: Any):
        return sampler(seeds=pairs, config=replace(config, **changes), batch_size=batch, callback=callback)

    # 1. Warm-up (kernel selection, allocator): one batch, one step, guided, with a doubled image batch
    with oom_as_run_error("sampling a warm-up batch", run.device):
        sample(RELEASED, seeds[:batch], steps=1, image_objective=o.image_objective, mask_median=o.mask_median)

    rows = []
    for name, config in configs:
        # 2. Sample the same seeds under this configuration, timed
        advance = None if task is None else (lambda _: progress.advance(task))
        with oom_as_run_error(f"sampling {n} pairs with configuration {name!r}", run.device):
            start = time.perf_counter()
            out = sample(config, seeds, callback=advance)
            seconds = time.perf_counter() - start  # each batch ends on the CPU, so the device is done here

        # 3. Stage IV on 8-bit images, as the run stores its samples before filtering them
        ids = synthetic_ids(n)
        samples = PairSet(ids, (out.images * 255).round() / 255, out.masks, "diffuseexpand", True)
        chosen = select(samples, [PairRecord(k, s) for k, s in zip(ids, out.seeds)], f.filter, o.eta)
        stats = chosen.stats

        # 4. Cost of a generated and of a kept pair
        pair = flops_per_pair(config, **per_call) / 1e9
        passed = stats["pass_rate"]
        rows.append(
            {
                "configuration": name,
                "options": config.name,
                "nfe": nfe(config)["total"],
                "gflop_per_pair": pair,
                "counts": stats["counts"],
                "pass_rate": passed,
                "kept_share": stats["counts"]["kept"] / n,
                "mean_dice": stats["mean_dice_all"],
                "filter_dice": stats["filter_dice"],
                "gflop_per_kept": pair / passed if passed > 0 else math.inf,
                "seconds_per_pair": seconds / n,
                **guidance_stats(out.guidance),
                **(_fid(run, samples, chosen.pairs) if fid else {}),
            }
        )

    # 5. Against the released configuration
    reference = next((r["gflop_per_kept"] for r in rows if r["configuration"] == "released"), math.inf)
    for r in rows:
        r["vs_released"] = r["gflop_per_kept"] / reference if math.isfinite(reference) else None
    return rows


def _fid(run: LoadedRun, samples: PairSet, kept: PairSet) -> dict[str, Any]:
    """Inception FID of all and of the kept pairs, the paper's U-Net FID (on the stage-IV filter network) and the
    memorised share, against the run's real training split, as ``bench run`` measures them
    (:mod:`bench.metrics.generation`); a figure that cannot be computed is ``None``, its reason in ``unavailable``."""
    from bench.metrics.generation import measure_pairs

    network = run.method.real_data_network()
    metrics, unavailable = measure_pairs(
        run.train,
        samples,
        kept,
        unet=network,
        unet_reason="" if network is not None else "the paper's U-Net feature metrics are defined for binary masks",
        device=run.device,
        cache_dir=run.metrics_cache,
        seed=run.seed,
    )
    memo = metrics.get("memorisation") or {}
    return {
        **{k: metrics.get(k) for k in ("fid", "fid_kept", "fid_unet")},
        "memorised": memo.get("share_closer_than_real"),
        "copies": memo.get("share_copies"),
        "unavailable": unavailable,
    }
