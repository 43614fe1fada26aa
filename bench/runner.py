"""One benchmark invocation: method.fit -> expand -> downstream train/eval per model -> results.json (+ W&B).

``run`` is what ``bench run`` calls. For every seed it makes the split, fits the expansion method on the real
training pairs only, expands, then trains and evaluates each downstream model. Finished runs are found by
their config key and not recomputed unless ``force``; ``results.json`` is written last and atomically, so a
killed invocation never leaves one for unfinished work (method stages resume from their own checkpoints).
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from bench import results as store
from bench import tracking
from bench.config import (
    AUGMENTS,
    MODELS,
    TRAIN_ON,
    ConfigError,
    RunConfig,
    TrainConfig,
    merge_options,
    preset,
    settings_tag,
)
from bench.data import DatasetCard, PairSet, fingerprint, load_pairs, make_split, resolve_dataset
from methods import get_method
from methods.base import Expansion, ExpansionMethod, MethodContext, _unknown, options_dict

logger = logging.getLogger(__name__)

PACKAGES = ("torch", "torchvision", "diffusers", "segmentation-models-pytorch", "timm", "monai", "wandb")


@dataclass
class Request:
    """What a user asks ``bench run`` for. ``None`` means "the preset's value"."""

    method: str = "diffuseexpand"
    ablation: str | None = None
    dataset: str = "demo"
    models: tuple[str, ...] = ("unet",)
    seeds: tuple[int, ...] = (0,)
    train_ratio: float = 0.9
    augment: str = "none"
    train_on: str = "real+synthetic"
    preset: str = "cpu"
    out: Path = Path("runs")
    n_synthetic: int | None = None
    image_size: int | None = None
    channels: int = 1
    method_options: dict[str, Any] = field(default_factory=dict)
    train_options: dict[str, Any] = field(default_factory=dict)
    wandb: str = "auto"
    force: bool = False
    device: str | None = None


@dataclass
class Outcome:
    """What ``run`` did: every run's results (new and reused), their files, and what was skipped."""

    results: list[store.Results]
    paths: list[Path]
    reused: list[Path]
    wandb_mode: str


@dataclass
class Plan:
    """A request resolved against presets and the method's options; nothing is loaded yet."""

    method_cls: type[ExpansionMethod]
    ablation: str
    options: Any
    train: TrainConfig
    image_size: int
    n_synthetic: int
    train_on: str
    settings: str


def plan(req: Request) -> Plan:
    """Resolve and validate a request; raise ConfigError / KeyError with a clear message on bad values."""
    p = preset(req.preset)
    try:
        cls = get_method(req.method)
    except KeyError as e:
        raise ConfigError(e.args[0]) from None
    ablation = req.ablation or cls.variants[0]
    if ablation not in cls.variants:
        raise ConfigError(_unknown("ablation", ablation, cls.variants, f" for method '{cls.name}'"))
    for name, value, allowed in (("augment", req.augment, AUGMENTS), ("train-on", req.train_on, TRAIN_ON)):
        if value not in allowed:
            raise ConfigError(_unknown(name, value, allowed))
    for m in req.models:
        if m not in MODELS:
            raise ConfigError(_unknown("model", m, MODELS))
    if not req.models or not req.seeds:
        raise ConfigError("at least one model and one seed are needed")
    train_on = req.train_on
    if not cls.generates_pairs:
        if train_on == "synthetic":
            raise ConfigError(f"method '{cls.name}' generates no pairs, so --train-on synthetic is impossible")
        train_on = "real"
    options = merge_options(
        cls.Options, {}, cls.presets.get(req.preset, {}), req.method_options, where=f"{cls.name} method"
    )
    train = merge_options(TrainConfig, {}, p.get("train", {}), req.train_options, where="training")
    n = req.n_synthetic if req.n_synthetic is not None else p["n_synthetic"]
    if n < 0:
        raise ConfigError(f"--n-synthetic must be >= 0, got {n}")
    overrides = {
        **req.method_options,
        **{f"train.{k}": v for k, v in req.train_options.items()},
        "n_synthetic": req.n_synthetic,
        "image_size": req.image_size,
        "channels": req.channels if req.channels != 1 else None,
    }
    settings = settings_tag(overrides)
    return Plan(cls, ablation, options, train, req.image_size or p["image_size"], n, train_on, settings)


def run(req: Request, progress: Any = None, on_result: Callable[[store.Results, Path], None] | None = None) -> Outcome:
    """Run the benchmark a request describes.

    Args:
        req: the request (see Request).
        progress: an optional rich Progress shared by every stage for progress bars.
        on_result: called with each finished or reused run's results and path.

    Raises:
        ConfigError: invalid options. bench.data.DatasetError: the dataset fails its integrity check
            (raised before any training).
    """
    # 1. Resolve the request and load the data (the integrity check runs before any training).
    pl = plan(req)
    device = torch.device(req.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    path, card = resolve_dataset(req.dataset)
    dataset_name = card.name if card else path.name
    pairs = load_pairs(path, pl.image_size, req.channels, name=dataset_name, synthetic=bool(card and card.synthetic))
    mode = tracking.resolve_mode(req.wandb)
    group = f"{dataset_name}-{req.method}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}"
    out = Path(req.out)
    outcome = Outcome([], [], [], mode)

    for seed in req.seeds:
        # 2. Deterministic split; the test set depends on the seed only.
        split = make_split(pairs.ids, seed, req.train_ratio)
        configs = [
            RunConfig(
                method=pl.method_cls.name,
                ablation=pl.ablation,
                dataset=dataset_name,
                model=m,
                seed=seed,
                train_ratio=req.train_ratio,
                augment=req.augment,
                train_on=pl.train_on,
                preset=req.preset,
                image_size=pl.image_size,
                channels=req.channels,
                n_synthetic=pl.n_synthetic,
                train=pl.train,
                method_options=options_dict(pl.options),
                settings=pl.settings,
            )
            for m in req.models
        ]
        todo = []
        for cfg in configs:
            rdir = store.run_dir(out, dataset_name, cfg.run_name, cfg.train_ratio, seed)
            done = _stored(rdir, cfg.key())
            if done is not None and not req.force:
                logger.info("reusing finished run %s", rdir)
                outcome.results.append(done)
                outcome.paths.append(rdir / "results.json")
                outcome.reused.append(rdir / "results.json")
                if on_result:
                    on_result(done, rdir / "results.json")
            else:
                todo.append((cfg, rdir))
        if not todo:
            continue
        train, test = pairs.subset(split.train), pairs.subset(split.test)

        # 3. Fit the expansion method on the real training split and expand.
        method = pl.method_cls(pl.ablation, pl.options)
        ctx = MethodContext(
            workdir=out / dataset_name / "_cache" / pl.method_cls.name,
            seed=seed,
            device=device,
            train=pl.train,
            preset=req.preset,
            force=req.force,
            progress=progress,
        )
        t0 = time.perf_counter()
        method.fit(train, ctx)
        t_fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        expansion = method.expand(pl.n_synthetic, ctx) if pl.train_on != "real" else Expansion(_empty_like(train), [])
        t_expand = time.perf_counter() - t0

        # 4. Downstream training and evaluation, one run per model.
        for cfg, rdir in todo:
            res = _train_and_evaluate(cfg, rdir, train, test, expansion, method, split, card, path, device, progress)
            res["timings"].update({"fit": round(t_fit, 3), "expand": round(t_expand, 3)})
            res["timings"]["total"] = round(sum(v for k, v in res["timings"].items() if k != "total"), 3)
            history = {"train/loss": res.pop("_losses")}
            res["tracking"] = tracking.log_run(res, rdir, mode, group, history)
            store.write_json(res, rdir / "results.json")
            outcome.results.append(res)
            outcome.paths.append(rdir / "results.json")
            if on_result:
                on_result(res, rdir / "results.json")
    return outcome


def _train_and_evaluate(
    cfg: RunConfig,
    rdir: Path,
    train: PairSet,
    test: PairSet,
    expansion: Expansion,
    method: ExpansionMethod,
    split,
    card: DatasetCard | None,
    path: Path,
    device: torch.device,
    progress: Any,
) -> dict[str, Any]:
    from bench.segmentation.trainer import evaluate, train_segmentation

    store.write_json(cfg.to_dict(), rdir / "config.json")
    store.write_json(split.to_json(), rdir / "splits.json")
    if cfg.train_on == "synthetic":
        if len(expansion.pairs) == 0:
            raise RuntimeError(
                f"{cfg.method} ({cfg.ablation}) kept no synthetic pairs; cannot train on synthetic only"
            )
        train_set = expansion.pairs
    elif cfg.train_on == "real+synthetic" and len(expansion.pairs):
        train_set = PairSet.concat([train, expansion.pairs], f"{train.name}+synthetic")
    else:
        train_set = train
    t0 = time.perf_counter()
    fit = train_segmentation(
        train_set,
        cfg.model,
        cfg.train,
        cfg.seed,
        device,
        cfg.augment,
        progress,
        description=f"{cfg.model} seed {cfg.seed}",
    )
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    dice = evaluate(fit.model, test, device)
    t_eval = time.perf_counter() - t0
    counts = {
        "real_train": len(train),
        "test": len(test),
        "synthetic_generated": len(expansion.records),
        **{f"synthetic_{k}": v for k, v in expansion.counts().items()},
        "train_total": len(train_set),
    }
    return {
        "schema_version": store.SCHEMA_VERSION,
        "run": {
            "method": cfg.method,
            "ablation": cfg.ablation,
            "dataset": cfg.dataset,
            "model": cfg.model,
            "seed": cfg.seed,
            "train_ratio": cfg.train_ratio,
            "augment": cfg.augment,
            "train_on": cfg.train_on,
            "preset": cfg.preset,
            "settings": cfg.settings,
            "key": cfg.key(),
        },
        "config": cfg.to_dict(),
        "dataset": {
            "name": cfg.dataset,
            "path": str(path.resolve()),
            "synthetic": bool(card and card.synthetic),
            "card_version": card.version if card else None,
            "pairs": len(train) + len(test),
            "fingerprint": fingerprint(train),
        },
        "versions": {
            "package": _version("diffuseexpand-bench"),
            "method": method.version,
            **{p: _version(p) for p in PACKAGES},
        },
        "git_hash": _git_hash(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": {
            "device": str(device),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cuda": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        },
        "counts": counts,
        "metrics": {
            "dice": float(dice.mean()),
            "dice_std": float(dice.std(unbiased=False)),
            "dice_per_image": {k: round(float(v), 6) for k, v in zip(test.ids, dice)},
        },
        "method_stats": getattr(method, "stats", {}),
        "timings": {"train": round(t_train, 3), "evaluate": round(t_eval, 3)},
        "unavailable": {"fid": "FID/IS are not computed by `bench run` in this version"},
        "_losses": list(fit.losses),
    }


def _stored(rdir: Path, key: str) -> store.Results | None:
    f = rdir / "results.json"
    if not f.is_file():
        return None
    try:
        res = store.load_results(f)
    except ValueError as e:
        logger.warning("ignoring unreadable %s: %s", f, e)
        return None
    return res if res["run"]["key"] == key else None


def _empty_like(pairs: PairSet) -> PairSet:
    c, h, w = pairs.images.shape[1:]
    return PairSet([], torch.zeros(0, c, h, w), torch.zeros(0, h, w, dtype=torch.long), "none", True)


def _version(pkg: str) -> str | None:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return None


def _git_hash() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None
