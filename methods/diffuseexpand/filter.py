"""Stage IV: keep, relabel or drop generated pairs by a real-data segmentation network (paper §3.5).

A segmentation network trained on the *real* training split only predicts the mask of every generated image.
With the Dice loss d = 1 − Dice(prediction, generated mask):

==============  =================================================================
d < η           ``kept``: the pair is used as generated
η ≤ d < 2η      ``relabelled``: the image is kept, its mask replaced by the prediction
d ≥ 2η          ``dropped``
==============  =================================================================

η = 0.065 in the paper. The relabel band is the released code's (the paper only describes keep/drop). For K > 1
foreground classes the Dice is the mean over the foreground classes (``bench.metrics.dice``), the harness's own
multi-class score, so η keeps its meaning of "how far from the real-data network's mask" whatever K is.

Notes:
    Released code: a separate 31 M parameter U-Net trained by the evaluation script (whose save lines were
    commented out, so the stage could not run as released). Here the network is the harness's downstream
    model (``bench.segmentation``), trained with the run's downstream training config.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.config import TrainConfig
from bench.data import PairSet
from bench.files import save_torch, write_json
from bench.metrics.dice import dice_loss
from bench.segmentation.models import build_model
from bench.segmentation.trainer import predict, train_segmentation
from methods.base import DECISIONS, PairRecord

logger = logging.getLogger(__name__)


@dataclass
class FilterOutput:
    """Stage-IV decisions for N generated pairs.

    Attributes:
        dice_loss: float ``N``, 1 − Dice(prediction, generated mask) (foreground-mean Dice for K > 1).
        decisions: ``kept`` / ``relabelled`` / ``dropped`` per pair.
        masks: int64 ``N x H x W``, the masks to train on (the prediction for relabelled pairs).
        predictions: int64 ``N x H x W``, the filter network's masks.
    """

    dice_loss: torch.Tensor
    decisions: list[str]
    masks: torch.Tensor
    predictions: torch.Tensor

    @property
    def pass_rate(self) -> float:
        """Fraction of pairs that are trained on (kept or relabelled)."""
        return sum(d != "dropped" for d in self.decisions) / max(1, len(self.decisions))


def decide(dice_loss: torch.Tensor, eta: float) -> list[str]:
    """Map Dice losses (float ``N``) to decisions: < η kept, < 2η relabelled, else dropped."""
    if eta <= 0:
        raise ValueError(f"eta must be > 0, got {eta}")
    return ["kept" if d < eta else "relabelled" if d < 2 * eta else "dropped" for d in dice_loss.tolist()]


def select_pairs(predictions: torch.Tensor, masks: torch.Tensor, eta: float, num_classes: int = 2) -> FilterOutput:
    """Apply the stage-IV rule to predicted and generated masks.

    Args:
        predictions: int64 ``N x H x W`` with labels 0..K, the filter network's masks of the generated images.
        masks: int64 ``N x H x W`` with labels 0..K, the generated masks.
        eta: the threshold η (paper: 0.065, the ``eta`` option's default).
        num_classes: labels including background, K + 1 (2 for binary masks).

    Raises:
        ValueError: on shape mismatch or ``eta <= 0``.
    """
    if predictions.shape != masks.shape:
        raise ValueError(f"predictions {tuple(predictions.shape)} and masks {tuple(masks.shape)} differ in shape")
    loss = dice_loss(predictions.long(), masks.long(), num_classes=num_classes)
    decisions = decide(loss, eta)
    relabel = torch.tensor([d == "relabelled" for d in decisions], dtype=torch.bool)
    final = torch.where(relabel[:, None, None], predictions.long(), masks.long())
    return FilterOutput(loss, decisions, final, predictions.long())


@dataclass
class Selection:
    """Generated pairs after stage IV.

    Attributes:
        pairs: the kept and relabelled pairs (relabelled ones with the filter's mask).
        records: every generated pair's record with its ``decision`` and ``info["dice_loss"]``.
        stats: ``counts`` per decision, ``pass_rate``, ``mean_dice_all`` and ``mean_dice_kept`` (Dice between
            generated masks and the filter's predictions; ``None`` when nothing was kept as generated), and
            ``filter_dice``: every generated pair's Dice in generation order (the distributions of the paper's
            Fig. 2 left, drawn by ``bench report tau-vs-s``).
    """

    pairs: PairSet
    records: list[PairRecord]
    stats: dict[str, Any]


def select(samples: PairSet, records: list[PairRecord], mask_filter: MaskFilter, eta: float) -> Selection:
    """Apply stage IV to generated pairs with a trained filter; ``records`` are the pairs' records, in order."""
    result = select_pairs(mask_filter.predict(samples.images), samples.masks, eta, mask_filter.num_classes)
    dice = (1 - result.dice_loss).tolist()
    records = [
        dataclasses.replace(r, decision=d, info={**r.info, "dice_loss": round(float(loss), 6)})
        for r, d, loss in zip(records, result.decisions, result.dice_loss)
    ]
    keep = [i for i, d in enumerate(result.decisions) if d != "dropped"]
    kept_dice = [dice[i] for i, d in enumerate(result.decisions) if d == "kept"]
    index = torch.tensor(keep, dtype=torch.long)
    pairs = PairSet([samples.ids[i] for i in keep], samples.images[index], result.masks[index], samples.name, True)
    stats = {
        "counts": {d: result.decisions.count(d) for d in DECISIONS},
        "pass_rate": result.pass_rate,
        "mean_dice_all": float(np.mean(dice)),
        "mean_dice_kept": float(np.mean(kept_dice)) if kept_dice else None,
        "filter_dice": [round(float(d), 4) for d in dice],
    }
    return Selection(pairs, records, stats)


class MaskFilter:
    """The stage-IV network: train on real pairs, predict generated images' masks (one logit for binary masks,
    K + 1 for labels 0..K, as ``bench.segmentation`` builds it for the training pairs).

    Args:
        model_name: a downstream model of ``bench.config.MODELS`` (paper: ``unet``).
        cfg: its training config (the run's downstream config).
        device: compute device.
    """

    def __init__(self, model_name: str, cfg: TrainConfig, device: torch.device | str = "cpu") -> None:
        self.model_name = model_name
        self.cfg = cfg
        self.device = torch.device(device)
        self.model: nn.Module | None = None
        self.seconds = 0.0
        self.num_classes = 2
        self._shape: tuple[int, int] | None = None

    def fit(
        self, train: PairSet, seed: int, progress: Any = None, description: str = "diffuseexpand filter"
    ) -> MaskFilter:
        """Train on the real training pairs (images float ``N x C x H x W`` in [0, 1], masks int64 ``N x H x W``)."""
        result = train_segmentation(
            train, self.model_name, self.cfg, seed, self.device, progress=progress, description=description
        )
        self.model, self.seconds = result.model, result.seconds
        self.num_classes = train.num_classes
        self._shape = (int(train.images.shape[1]), int(train.images.shape[-1]))
        return self

    def predict(self, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
        """Masks int64 ``N x H x W`` of images float ``N x C x H x W`` in [0, 1]."""
        if self.model is None:
            raise RuntimeError("MaskFilter.predict called before fit or load")
        return predict(self.model, images, self.device, batch_size)

    def __call__(self, pairs: PairSet, eta: float) -> FilterOutput:
        """Predict the masks of ``pairs.images`` and apply :func:`select_pairs` against ``pairs.masks``."""
        return select_pairs(self.predict(pairs.images), pairs.masks, eta, self.num_classes)

    def save(self, folder: Path) -> None:
        """Write ``filter.json`` (with ``num_classes`` for multi-class masks only, as binary filters were written
        before those existed) and ``model.pt`` (last)."""
        if self.model is None or self._shape is None:
            raise RuntimeError("MaskFilter.save called before fit")
        channels, size = self._shape
        write_json(
            folder / "filter.json",
            {
                "model_name": self.model_name,
                "channels": channels,
                "size": size,
                "train": dataclasses.asdict(self.cfg),
                "seconds": self.seconds,
                **({"num_classes": self.num_classes} if self.num_classes > 2 else {}),
            },
        )
        save_torch(folder / "model.pt", {k: v.detach().cpu() for k, v in self.model.state_dict().items()})

    @classmethod
    def load(cls, folder: Path, device: torch.device | str = "cpu") -> MaskFilter:
        """Rebuild a filter written by :meth:`save`, in eval mode."""
        meta = json.loads((folder / "filter.json").read_text())
        cfg = TrainConfig(**meta["train"])
        self = cls(meta["model_name"], cfg, device)
        self.num_classes = meta.get("num_classes", 2)
        model = build_model(meta["model_name"], meta["channels"], self.num_classes, meta["size"], cfg)
        model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
        self.model = model.to(self.device).eval()
        self._shape, self.seconds = (meta["channels"], meta["size"]), meta["seconds"]
        return self
