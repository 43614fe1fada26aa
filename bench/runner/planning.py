"""A request resolved against its preset and its method's options, and the runs it makes; nothing is loaded.

Every bad value raises ConfigError naming it here, before the machine, the data or any file is looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import results as store
from bench.config import (
    RunConfig,
    TrainConfig,
    settings_tag,
)
from bench.runner.request import CheckedRequest, Request, checked_request, resolve_options
from methods import get_method
from methods.base import ExpansionMethod, options_dict


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


def plan(req: Request, checked: CheckedRequest | None = None) -> Plan:
    """Resolve and validate a request without loading anything; every bad value raises ConfigError naming it.

    ``checked``: what a verb's early checks found for this very request (:func:`checked_request`), taken instead of
    checking and resolving it again; for another request it is ignored.
    """
    if checked is None or checked.request != req:
        checked = checked_request(req)
    ablation, image_size = checked.ablation, checked.image_size
    options, train, n = checked.resolved or resolve_options(req)
    cls = get_method(req.method)
    train_on = req.train_on if cls.generates_pairs else "real"
    cls.check_request(ablation, options, image_size, req.channels)
    overrides = {
        **{k: _as_named(options, k, v) for k, v in req.method_options.items()},
        **{f"train.{k}": v for k, v in req.train_options.items()},
        "n_synthetic": req.n_synthetic,
        "image_size": req.image_size,
        "channels": req.channels if req.channels != 1 else None,
        **req.masks.settings(),  # none at the defaults: runs on masks read as stored keep their names
    }
    settings = settings_tag(overrides)
    return Plan(cls, ablation, options, train, image_size, n, train_on, settings)


def _as_named(options: Any, key: str, value: Any) -> Any:
    """An option's value as the run's name gives it: a list option's resolved tuple, so that ``16,32`` and
    ``[16, 32]`` name one run; any other value as written (``cf_weight=2`` stays ``2``, as older runs are named)."""
    resolved = getattr(options, key, None)
    return resolved if isinstance(resolved, tuple) else value


def run_configs(req: Request, pl: Plan, dataset_name: str, seed: int) -> list[tuple[RunConfig, Path]]:
    """The runs (one per downstream model) a planned request makes for one seed, with their folders."""
    runs = []
    for m in req.models:
        cfg = RunConfig(
            method=pl.method_cls.name,
            ablation=pl.ablation,
            dataset=dataset_name,
            model=m,
            seed=seed,
            train_ratio=None if req.train_pairs is not None else req.train_ratio,
            augment=req.augment,
            train_on=pl.train_on,
            preset=req.preset,
            image_size=pl.image_size,
            channels=req.channels,
            n_synthetic=pl.n_synthetic,
            train=pl.train,
            method_options=options_dict(pl.options),
            settings=pl.settings,
            inputs=pl.method_cls.input_fingerprints(pl.options),
            train_pairs=req.train_pairs,
        )
        rdir = store.run_dir(Path(req.out), dataset_name, cfg.run_name, cfg.train_ratio, seed, cfg.train_pairs)
        runs.append((cfg, rdir))
    return runs
