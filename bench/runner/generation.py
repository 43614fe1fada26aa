"""The generation metrics of an expansion against the real pairs its method was fitted on (one seed's training
split in ``bench run``, shared by every downstream model's run; every pair in ``bench expand``), and the gallery of
its generated pairs."""

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
    reference: bool = True,
    per_image: bool = False,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Generation metrics of an expansion against the real pairs its method was fitted on
    (``bench.metrics.generation``); the ``_kept`` figures say so when the method's filter kept no pair.

    Inception weights: ``inception_weights``, else as :func:`bench.metrics.inception.resolve_weights` finds them.
    Inception features of the real pairs are cached in ``cache_dir`` by their fingerprint. ``fid_unet`` / ``is_unet``
    use the method's own real-data network when it has one (DiffuseExpand's stage-IV filter), else, with
    ``reference``, a U-Net trained here on the real pairs with the run's downstream training config
    (:func:`reference_unet`; ``bench expand`` trains none). ``per_image``: as :func:`measure_pairs` takes it.
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
    if unet is None and not reference:
        unet_reason = (
            f"method '{method.name}' ({method.variant}) trains no segmentation network on the real pairs; "
            "`bench run` trains one for these"
        )
    elif unet is None and train.num_classes > 2:
        unet_reason = "the paper's U-Net feature metrics are defined for binary masks"
    elif unet is None:
        unet = reference_unet(pl, train, seed, device, cache_dir / "fid_unet", progress)
    filtered = expansion.generated is not None
    generated = expansion.generated if filtered else expansion.pairs
    kept = expansion.pairs if filtered and len(expansion.pairs) else None
    metrics, unavailable = measure_pairs(
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
        per_image=per_image,
    )
    if filtered and kept is None:
        for key in ("fid_kept", "kid_kept", "fid_unet_kept"):
            metrics[key], unavailable[key] = None, "the filter kept no pair"
        metrics["kid_kept_std"] = None
        metrics["generation"]["kept"] = 0
    return metrics, unavailable


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
