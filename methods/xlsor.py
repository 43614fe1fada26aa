"""XLSor-style expansion (Tang et al. 2019, "XLSor: a robust and accurate lung segmentor on chest X-rays using
criss-cross attention and customized radiorealistic abnormalities generation", MIDL, arXiv 1904.09229).

Each synthetic pair is a real training pair, transformed by :func:`bench.segmentation.xlsor.transform_pair`: a
joint affine + elastic warp of image and mask, then (``full`` variant) simulated opacities inside the lungs and
intensity changes of the image.

Every pair has its own seed; its parameters are drawn from it alone and recorded in its
:class:`~methods.base.PairRecord` ``info`` (and ``records.csv``), so any pair can be regenerated on its own.

Notes:
    XLSor generates its abnormal chest X-rays with an image-to-image translation network (MUNIT) trained on
    normal and abnormal radiographs; nothing here is trained. The opacities are a hand-made stand-in that needs
    no abnormal images: they place what MUNIT learned to place (consolidation-like brightening inside the lung
    field, label unchanged) and test the same hypothesis, that a segmentor which has seen opaque lungs labelled
    as lung segments them better.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, ClassVar

import torch

from bench.data import fingerprint, load_pairs, save_pairs
from bench.files import write_json
from bench.pairs import PairSet
from bench.results import GALLERY_PNG
from bench.segmentation.xlsor import XLSorOptions, transform_pair
from methods.base import (
    Expansion,
    ExpansionMethod,
    MethodContext,
    PairRecord,
    options_dict,
    pair_seeds,
    register_method,
    synthetic_ids,
    write_records,
)
from methods.gallery import save_gallery
from methods.stages import cached_stage, stage_seed


@register_method("xlsor")
class XLSor(ExpansionMethod):
    """XLSor-style expansion (Tang et al. 2019): real pairs warped jointly, with simulated opacities in the image.

    Variants: ``full`` (geometry + abnormalities + intensity) and ``geometric`` (the joint warps alone: isolates
    what the abnormality simulation contributes).

    After :meth:`expand`, ``self.stats`` holds ``{"variant", "seconds": {"samples"}, "counts", "cached",
    "abnormal_fraction"}``.
    """

    Options = XLSorOptions
    presets: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, variant: str | None = None, options: XLSorOptions | None = None) -> None:
        super().__init__(variant, options)
        self._train: PairSet | None = None

    def fit(self, train: PairSet, ctx: MethodContext) -> None:
        """Keep the real training pairs; nothing is trained.

        Raises:
            ValueError: for an empty set.
        """
        if len(train) == 0:
            raise ValueError(f"{train.name}: no training pairs")
        self._train = train

    def expand(self, n: int, ctx: MethodContext) -> Expansion:
        """Transform ``n`` pairs, cycling over the training pairs in order (pair i comes from pair i mod N).

        Writes the cached stage ``samples/<hash>/``: the pairs (``images/``, ``masks/``), ``records.csv`` and
        ``records.json`` (seed, source id and drawn parameters of each pair) and ``gallery.png``.

        Returns:
            Expansion of ``n`` pairs (ids ``syn_00000`` ...; images float in [0, 1] quantised to 8 bits as
            stored, masks int64 with the training labels), every record ``kept``.

        Raises:
            RuntimeError: before :meth:`fit`. ValueError: for ``n < 1``.
        """
        if self._train is None:
            raise RuntimeError("XLSor.expand called before fit")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        train, o = self._train, self.options
        channels, size = int(train.images.shape[1]), int(train.images.shape[-1])

        def generate(folder):
            start = time.perf_counter()
            seeds = pair_seeds(stage_seed(ctx.seed, "samples"), n)
            ids = synthetic_ids(n)
            images, masks, records = [], [], []
            for i, (key, seed) in enumerate(zip(ids, seeds)):
                j = i % len(train)
                image, mask, params = transform_pair(
                    train.images[j], train.masks[j], o, seed, abnormal=self.variant == "full"
                )
                images.append(image)
                masks.append(mask)
                records.append(PairRecord(key, seed, "kept", {"source": train.ids[j], **params}))
            # 8-bit images, as stored, so that fresh and cached expansions are identical
            pairs = PairSet(ids, (torch.stack(images) * 255).round() / 255, torch.stack(masks), "xlsor", True)
            save_pairs(pairs, folder)
            write_records(records, folder / "records.csv")
            write_json(folder / "records.json", [dataclasses.asdict(r) for r in records], sort_keys=False)
            save_gallery(folder / GALLERY_PNG, pairs.images, (pairs.masks > 0).long())
            return {"seconds": time.perf_counter() - start, "n": n}

        data = {"fingerprint": fingerprint(train), "pairs": len(train), "size": size, "channels": channels}
        key = {"role": "samples", "version": self.version, "variant": self.variant, "data": data}
        stage = cached_stage(ctx, {**key, "options": options_dict(o), "n": n, "seed": ctx.seed}, generate)
        pairs = load_pairs(stage.folder, size, channels, name="xlsor", synthetic=True)
        records = [PairRecord(**r) for r in json.loads((stage.folder / "records.json").read_text())]
        expansion = Expansion(pairs, records)
        self.stats = {
            "variant": self.variant,
            "seconds": {"samples": stage.done["seconds"]},
            "counts": expansion.counts(),
            "cached": ["samples"] if stage.reused else [],
            "abnormal_fraction": sum(r.info.get("opacities", 0) > 0 for r in records) / n,
        }
        return expansion
