"""The generation metrics of one seed's expansion against its real training split, and the pictures of its
generated pairs, computed once per seed and shared by every downstream model's run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.config import config_hash
from bench.data import fingerprint
from bench.files import locked, write_json
from bench.pairs import PairSet
from bench.runner.planning import Plan
from methods.base import Expansion, ExpansionMethod


def run_generation_metrics(
    pl: Plan,
    train: PairSet,
    expansion: Expansion,
    method: ExpansionMethod,
    seed: int,
    device: torch.device,
    cache_dir: Path,
    progress: Any,
    closest_png: Path,
    inception_weights: Path | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Generation metrics of one seed's expansion against the real training split (``bench.metrics.generation``).

    Inception weights: ``inception_weights``, else as :func:`bench.metrics.inception.resolve_weights` finds them.
    Inception features of the real split are cached in ``cache_dir`` by its fingerprint. ``fid_unet`` / ``is_unet``
    use the method's own real-data network when it has one (DiffuseExpand's stage-IV filter), else a U-Net
    trained here on the real split with the run's downstream training config (:func:`reference_unet`).
    """
    from bench.metrics.generation import METRIC_KEYS, measure_pairs

    if not len(expansion.records):
        why = (
            f"method '{pl.method_cls.name}' generates no pairs"
            if not pl.method_cls.generates_pairs
            else "no pairs were generated (--train-on real)"
        )
        return {k: None for k in METRIC_KEYS}, {k: why for k in METRIC_KEYS}
    unet, unet_reason = method.real_data_network(), ""
    if unet is None and train.num_classes > 2:
        unet_reason = "the paper's U-Net feature metrics are defined for binary masks"
    elif unet is None:
        unet = reference_unet(pl, train, seed, device, cache_dir / "fid_unet", progress)
    generated = expansion.generated if expansion.generated is not None else expansion.pairs
    kept = expansion.pairs if expansion.generated is not None else None
    return measure_pairs(
        train,
        generated,
        kept,
        inception_weights=inception_weights,
        unet=unet,
        unet_reason=unet_reason,
        device=device,
        progress=progress,
        cache_dir=cache_dir,
        pairs_png=closest_png,
        seed=seed,
    )


def reference_unet(
    pl: Plan, train: PairSet, seed: int, device: torch.device, cache_dir: Path, progress: Any
) -> torch.nn.Module:
    """The U-Net of ``fid_unet`` / ``is_unet`` for a method without a real-data network of its own: trained on the
    real split with the run's downstream config, and kept in ``cache_dir`` by everything that made it, so every
    method and setting of a sweep measures against the same network (``model.pt`` is written last)."""
    from bench.segmentation.reference import ReferenceNetwork
    from methods.stages import stage_seed

    train_cfg = pl.train.unmixed()  # it trains on real pairs alone
    key = {"data": fingerprint(train), "model": "unet", "train": train_cfg.to_dict(), "seed": seed}
    folder = cache_dir / config_hash(key)
    with locked(folder):
        if not (folder / "model.pt").is_file():
            unet = ReferenceNetwork("unet", train_cfg, device)
            unet.fit(train, stage_seed(seed, "metrics-unet"), progress=progress, description="unet for fid_unet")
            folder.mkdir(parents=True, exist_ok=True)
            write_json(folder / "key.json", key)
            unet.save(folder)
        return ReferenceNetwork.load(folder, device).model


def save_gallery(expansion: Expansion, path: Path) -> None:
    """The run's generated pairs as overlays, coloured by the method's decision when it filters (``bench report
    gallery`` assembles these); nothing for a run without generated pairs."""
    from methods.gallery import save_gallery as save

    generated = expansion.generated if expansion.generated is not None else expansion.pairs
    decisions = [r.decision for r in expansion.records] if expansion.generated is not None else None
    save(path, generated.images, (generated.masks > 0).long(), decisions)
