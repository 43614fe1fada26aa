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
    model, trained with the run's downstream training config (``bench.segmentation.reference``).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bench.metrics.dice import dice_loss
from bench.pairs import PairSet
from bench.segmentation.reference import ReferenceNetwork
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


class MaskFilter(ReferenceNetwork):
    """The stage-IV network: a reference network (:mod:`bench.segmentation.reference`: trained on the real split,
    saved as ``filter.json`` + ``model.pt``) that also applies the keep / relabel / drop rule."""

    description = "diffuseexpand filter"

    def __call__(self, pairs: PairSet, eta: float) -> FilterOutput:
        """Predict the masks of ``pairs.images`` and apply :func:`select_pairs` against ``pairs.masks``."""
        return select_pairs(self.predict(pairs.images), pairs.masks, eta, self.num_classes)
