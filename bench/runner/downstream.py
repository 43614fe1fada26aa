"""One run's downstream half: train a segmentation model on the real split (plus the kept synthetic pairs) and
score it on the held-back test split, as the results.json record of that run (generation metrics added after)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from bench import results as store
from bench.cards import DatasetCard
from bench.config import RunConfig
from bench.data import fingerprint
from bench.files import write_json
from bench.pairs import PairSet
from bench.runner.machine import RunError
from bench.runner.provenance import provenance
from bench.splits import Split
from methods.base import Expansion, ExpansionMethod


def train_set(cfg: RunConfig, train: PairSet, expansion: Expansion) -> PairSet:
    """What the downstream model trains on, by ``cfg.train_on``: real, synthetic, or real + synthetic pairs."""
    if cfg.train_on == "synthetic":
        if len(expansion.pairs) == 0:
            raise RunError(f"{cfg.method} ({cfg.ablation}) kept no synthetic pairs; cannot train on synthetic only")
        return expansion.pairs
    if cfg.train_on == "real+synthetic" and len(expansion.pairs):
        return PairSet.concat([train, expansion.pairs], f"{train.name}+synthetic")
    return train


def train_and_evaluate(
    cfg: RunConfig,
    rdir: Path,
    train: PairSet,
    test: PairSet,
    expansion: Expansion,
    method: ExpansionMethod,
    split: Split,
    card: DatasetCard | None,
    path: Path,
    device: torch.device,
    progress: Any,
) -> dict[str, Any]:
    """Write the run's ``config.json`` and ``splits.json``, train ``cfg.model`` and evaluate it on ``test``.

    Returns:
        The run's results.json record without its generation metrics; ``_losses`` holds the training losses for
        tracking, to be popped before it is written.
    """
    from bench.segmentation.trainer import evaluate, train_segmentation

    write_json(rdir / "config.json", cfg.to_dict(), sort_keys=False)
    write_json(rdir / "splits.json", split.to_json(), sort_keys=False)
    pairs = train_set(cfg, train, expansion)
    t0 = time.perf_counter()
    fit = train_segmentation(
        pairs,
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
        "train_total": len(pairs),
        "train_steps": fit.steps,
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
        **provenance(method.version, device),
        "counts": counts,
        "metrics": {
            "dice": float(dice.mean()),
            "dice_std": float(dice.std(unbiased=False)),
            "dice_per_image": {k: round(float(v), 6) for k, v in zip(test.ids, dice)},
        },
        "method_stats": getattr(method, "stats", {}),
        "timings": {"train": round(t_train, 3), "evaluate": round(t_eval, 3)},
        "unavailable": {},
        "_losses": list(fit.losses),
    }
