"""All generation metrics of one expansion against the real training split, as results.json stores them.

``bench run`` calls :func:`measure_pairs` once per seed for a method that generates pairs, ``bench expand`` once
per expansion and ``bench speed --compare`` once per sampling configuration; ``bench metrics`` calls
:func:`generation_metrics` for any two folders. Every figure is either computed or ``None`` with its reason in the
returned ``unavailable`` map: a figure that cannot be computed is never estimated or filled in.

Keys (``_kept``: the same on the pairs the method's filter kept, present when it filters):

==========================================  ======================================================================
``fid``, ``fid_kept``                       Inception FID (pytorch-fid network, 2048-d pool features, 299²)
``kid``, ``kid_std``, ``kid_kept`` ...      KID (unbiased MMD², cubic kernel) on the same features
``is``, ``is_std``                          Inception Score of the generated images (needs the classifier head)
``fid_unet``, ``is_unet``, ``fid_unet_kept``  the paper's U-Net-feature FID and per-pixel "IS" (:mod:`.unet_features`)
``memorisation``                            nearest-real-image figures (:mod:`.memorisation`)
``generation``                              image counts and which Inception weights were used
==========================================  ======================================================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.data import fingerprint
from bench.files import load_torch, reading, save_torch
from bench.metrics.fid import frechet_distance, inception_score, kernel_distance
from bench.metrics.inception import InceptionFeatures, InceptionOutput, WeightsError, load_inception
from bench.metrics.memorisation import nearest_real, save_closest_pairs
from bench.metrics.unet_features import unet_features, unet_inception_score
from bench.pairs import PairSet

logger = logging.getLogger(__name__)

METRIC_KEYS = ("fid", "kid", "is", "fid_unet", "is_unet", "memorisation")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


@dataclass
class Images:
    """A named set of images.

    Attributes:
        ids: one identifier per image.
        images: float ``N x C x H x W`` in [0, 1].
        key: a content fingerprint (e.g. :func:`bench.data.fingerprint`) under which features may be cached, or
            None to never cache.
    """

    ids: list[str]
    images: torch.Tensor
    key: str | None = None


def read_images(folder: Path, size: int) -> tuple[list[str], torch.Tensor]:
    """Every image of a folder (or of a pair set's ``images/``) as grey float ``N x 1 x size x size`` in [0, 1].

    Raises:
        ValueError: a missing folder, one without images, or a file that is not a readable image.
    """
    from bench.images import read_image

    folder = Path(folder)
    if (folder / "images").is_dir():
        folder = folder / "images"
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    images = []
    for p in files:
        try:
            images.append(read_image(p, size))
        except OSError as e:  # PIL's UnidentifiedImageError, a truncated file, an unreadable one
            raise ValueError(f"{p}: not a readable image ({e.__class__.__name__})") from None
    return [p.stem for p in files], torch.stack(images)


def generation_metrics(
    real: Images,
    generated: Images,
    kept: Images | None = None,
    *,
    inception: InceptionFeatures | None,
    inception_reason: str = "",
    unet: nn.Module | None = None,
    unet_reason: str = "",
    device: torch.device | str = "cpu",
    progress: Any = None,
    cache_dir: Path | None = None,
    pairs_png: Path | None = None,
    seed: int = 0,
    per_image: bool = False,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Compute every generation metric that can be computed; explain the others.

    Args:
        real: the real training images (the reference set).
        generated: every generated image (before any filtering).
        kept: the images the method's filter kept, or None when it does not filter.
        inception: the Inception feature extractor, or None (then ``inception_reason`` says why).
        inception_reason: why there is no Inception network.
        unet: a binary segmentation network trained on ``real`` for ``fid_unet`` / ``is_unet``, or None (then
            ``unet_reason`` says why).
        unet_reason: why there is no such network.
        device: where the U-Net runs.
        progress: a rich Progress for the feature extraction, or None.
        cache_dir: folder where the real set's Inception features are cached by ``real.key``; None: no cache.
        pairs_png: where to save the closest generated/real pairs, or None.
        seed: seed of KID's subset draws.
        per_image: also give every generated image's nearest real image, as ``memorisation["per_image"]`` (see
            :meth:`.Memorisation.per_image`); ``bench expand`` writes it per pair.

    Returns:
        ``(metrics, unavailable)``: ``metrics`` has every key of the module table (``None`` where not computed)
        and ``unavailable`` maps each ``None`` metric to its reason.
    """
    sets = {"": generated} if kept is None else {"": generated, "_kept": kept}
    metrics: dict[str, Any] = {}
    unavailable: dict[str, str] = {}

    def attempt(name: str, compute: Callable[[], Any]) -> None:
        try:
            metrics[name] = compute()
        except ValueError as e:
            metrics[name], unavailable[name] = None, str(e)

    # 1. Inception features: FID, KID, IS, memorisation.
    if inception is None:
        for suffix in sets:
            metrics[f"fid{suffix}"] = metrics[f"kid{suffix}"] = metrics[f"kid{suffix}_std"] = None
            unavailable[f"fid{suffix}"] = unavailable[f"kid{suffix}"] = inception_reason
        metrics["is"] = metrics["is_std"] = metrics["memorisation"] = None
        unavailable["is"] = unavailable["memorisation"] = inception_reason
    else:
        ref = _cached(real, inception, cache_dir, progress, "inception: real training images")
        feats = {"": inception(generated.images, progress=progress, description="inception: generated")}
        if kept is not None:
            feats["_kept"] = _rows_of(kept, generated, feats[""]) or inception(
                kept.images, progress=progress, description="inception: generated_kept"
            )
        for suffix, f in feats.items():
            attempt(f"fid{suffix}", lambda f=f: frechet_distance(f.pool, ref.pool))
            attempt(f"kid{suffix}", lambda f=f: kernel_distance(f.pool, ref.pool, seed=seed))
            mean_std = metrics[f"kid{suffix}"]
            metrics[f"kid{suffix}"], metrics[f"kid{suffix}_std"] = mean_std if mean_std else (None, None)
        if feats[""].logits is None:
            metrics["is"] = metrics["is_std"] = None
            unavailable["is"] = (
                f"the Inception weights ({inception.weights.describe()}) have no classifier head; IS needs "
                f"pytorch-fid's weights file (set $BENCH_FID_WEIGHTS)"
            )
        else:
            attempt("is", lambda: inception_score(feats[""].logits))
            metrics["is"], metrics["is_std"] = metrics["is"] if metrics["is"] else (None, None)
        attempt("memorisation", lambda: _memorisation(real, generated, feats[""], ref, pairs_png, per_image))

    # 2. The paper's U-Net features.
    if unet is None:
        for name in ("fid_unet", "is_unet", *(f"fid_unet{s}" for s in sets if s)):
            metrics[name], unavailable[name] = None, unet_reason
    else:
        try:
            ref_u = unet_features(unet, real.images, device, progress=progress, description="unet: real")
            for suffix, x in sets.items():
                gen_u = unet_features(
                    unet, x.images, device, progress=progress, description=f"unet: generated{suffix}"
                )
                attempt(f"fid_unet{suffix}", lambda g=gen_u: frechet_distance(g, ref_u))
                if not suffix:
                    attempt("is_unet", lambda g=gen_u: unet_inception_score(g))
        except ValueError as e:
            for name in ("fid_unet", "is_unet", *(f"fid_unet{s}" for s in sets if s)):
                metrics[name], unavailable[name] = None, str(e)

    metrics["generation"] = {
        "real": len(real.ids),
        "generated": len(generated.ids),
        "kept": None if kept is None else len(kept.ids),
        "inception_weights": None if inception is None else inception.weights.source,
        "inception_weights_path": None if inception is None else str(inception.weights.path),
    }
    return metrics, unavailable


def measure_pairs(
    real: PairSet,
    generated: PairSet,
    kept: PairSet | None = None,
    *,
    inception_weights: Path | None = None,
    unet: nn.Module | None = None,
    unet_reason: str = "",
    device: torch.device | str = "cpu",
    progress: Any = None,
    cache_dir: Path | None = None,
    pairs_png: Path | None = None,
    seed: int = 0,
    per_image: bool = False,
) -> tuple[dict[str, Any], dict[str, str]]:
    """:func:`generation_metrics` of generated pair sets against the real training pairs, with the Inception
    network loaded from ``inception_weights`` (else as :func:`.inception.resolve_weights` finds them; when none
    can be loaded, the Inception figures say why) and the real set's features cached by its fingerprint.

    Args are :func:`generation_metrics`'s, with pair sets for image sets: ``kept`` None when nothing filters.
    """
    inception, inception_reason = None, ""
    try:
        inception = load_inception(None if inception_weights is None else str(inception_weights), str(device))
    except (WeightsError, ValueError) as e:
        inception_reason = str(e)
    return generation_metrics(
        Images(real.ids, real.images, fingerprint(real)),
        Images(generated.ids, generated.images),
        None if kept is None else Images(kept.ids, kept.images),
        inception=inception,
        inception_reason=inception_reason,
        unet=unet,
        unet_reason=unet_reason,
        device=device,
        progress=progress,
        cache_dir=cache_dir,
        pairs_png=pairs_png,
        seed=seed,
        per_image=per_image,
    )


def _memorisation(
    real: Images,
    generated: Images,
    gen: InceptionOutput,
    ref: InceptionOutput,
    pairs_png: Path | None,
    per_image: bool = False,
) -> dict[str, Any]:
    memo = nearest_real(gen.pool, ref.pool, generated.images, real.images)
    if pairs_png is not None:
        save_closest_pairs(pairs_png, memo, generated.images, real.images)
    summary = memo.summary(generated.ids, real.ids)
    if per_image:
        summary["per_image"] = memo.per_image(generated.ids, real.ids)
    return summary


def _rows_of(subset: Images, full: Images, feats: InceptionOutput) -> InceptionOutput | None:
    """``subset``'s features taken from ``full``'s when each of its images is the one of ``full`` with its id (a
    filter keeps or relabels generated pairs without touching their images), so kept images are not passed through
    Inception twice; None when any differs."""
    row = {i: k for k, i in enumerate(full.ids)}
    rows = [row.get(i) for i in subset.ids]
    if None in rows or not all(torch.equal(subset.images[n], full.images[r]) for n, r in enumerate(rows)):
        return None
    index = torch.tensor(rows, dtype=torch.long)
    return InceptionOutput(feats.pool[index], None if feats.logits is None else feats.logits[index])


def _cached(
    real: Images, inception: InceptionFeatures, cache_dir: Path | None, progress: Any, description: str
) -> InceptionOutput:
    """The real set's features, read from ``cache_dir`` when a sweep computed them before (keyed by the set's
    fingerprint and the weights file), else computed and written atomically."""
    if cache_dir is None or real.key is None:
        return inception(real.images, progress=progress, description=description)
    weights = inception.weights
    tag = f"{real.key}-{weights.source}-{weights.path.stat().st_size}"
    path = Path(cache_dir) / f"inception-{tag}.pt"
    if path.is_file():
        logger.info("reusing real-image Inception features %s", path)
        with reading(path, "cached Inception features of the real images", f"delete {path} to compute them again"):
            saved = load_torch(path)
            return InceptionOutput(saved["pool"], saved.get("logits"))
    out = inception(real.images, progress=progress, description=description)
    save_torch(path, {"pool": out.pool, **({"logits": out.logits} if out.logits is not None else {})})
    return out
