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
from bench.files import save_torch, write_json
from bench.pairs import PairSet
from bench.runner.layout import WEIGHTS
from bench.runner.machine import RunError
from bench.runner.provenance import provenance
from bench.splits import Split
from bench.testsets import ExternalSet, scores
from methods.base import Expansion, ExpansionMethod


def train_set(cfg: RunConfig, train: PairSet, expansion: Expansion) -> tuple[PairSet, PairSet | None]:
    """What the downstream model trains on, by ``cfg.train_on``: the real or the synthetic pairs alone, or the real
    pairs and beside them the generated ones, kept apart so that ``cfg.train.mixing`` can tell them apart."""
    if cfg.train_on == "synthetic":
        if len(expansion.pairs) == 0:
            raise RunError(f"{cfg.method} ({cfg.ablation}) kept no synthetic pairs; cannot train on synthetic only")
        return expansion.pairs, None
    if cfg.train_on == "real+synthetic" and len(expansion.pairs):
        return train, expansion.pairs
    return train, None


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
    external: list[ExternalSet] | None = None,
) -> dict[str, Any]:
    """Write the run's ``config.json`` and ``splits.json``, train ``cfg.model`` and evaluate it on ``test`` and on
    every ``external`` set; with external sets the network's weights are kept (``WEIGHTS``), so that a set named
    later is scored without training again.

    Returns:
        The run's results.json record without its generation metrics; ``_losses`` holds the training losses for
        tracking, to be popped before it is written.
    """
    from bench.segmentation.trainer import evaluate, train_segmentation

    (rdir / WEIGHTS).unlink(missing_ok=True)  # an earlier training's weights must never score this one's sets
    write_json(rdir / "config.json", cfg.to_dict(), sort_keys=False)
    validation = getattr(method, "stats", {}).get("validation")  # pairs a method held back from its generator
    splits = {**split.to_json(), **({"validation": validation} if validation else {})}
    write_json(rdir / "splits.json", splits, sort_keys=False)
    pairs, generated = train_set(cfg, train, expansion)
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
        generated=generated,
    )
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    dice = evaluate(fit.model, test, device)
    outside = {s.name: scores(s, evaluate(fit.model, s.pairs, device)) for s in external or []}
    t_eval = time.perf_counter() - t0
    if external:
        save_torch(rdir / WEIGHTS, fit.model.state_dict())
    counts = {
        "real_train": len(train),
        "test": len(test),
        "synthetic_generated": len(expansion.records),
        **{f"synthetic_{k}": v for k, v in expansion.counts().items()},
        "train_total": len(pairs) + (len(generated) if generated is not None else 0),
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
            **({"train_pairs": cfg.train_pairs} if cfg.train_pairs is not None else {}),
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
            **({"reading": train.reading} if train.reading else {}),
        },
        **provenance(method.version, device),
        "counts": counts,
        "metrics": {
            "dice": float(dice.mean()),
            "dice_std": float(dice.std(unbiased=False)),
            "dice_per_image": {k: round(float(v), 6) for k, v in zip(test.ids, dice)},
            **({"external": outside} if outside else {}),
        },
        "method_stats": getattr(method, "stats", {}),
        "timings": {"train": round(t_train, 3), "evaluate": round(t_eval, 3)},
        "unavailable": {},
        "_losses": list(fit.losses),
    }
