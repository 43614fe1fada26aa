"""The paper's grids, listed once: what the sweeps run and what the tables and figures read back.

A sweep (:mod:`bench.sweep`) asks for the runs these grids name and an artifact (:mod:`bench.artifacts`) finds them
again in stored ``results.json`` files, so both must read the same values: a τ written by a sweep as ``1 / 3`` is
matched by the table within :data:`TOLERANCE`, and the labels the tables print come from here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.config import MIXINGS, TrainConfig, tag_value

BASELINE = "origin"  # the method every Δ compares with: the downstream network trained on the real split only
METHOD_ORDER = ("synthmed", "xlsor", "joint", "diffuseexpand")  # the paper's row order; others follow by name
FEWSHOT_METHODS = ("diffuseexpand", *(m for m in METHOD_ORDER if m != "diffuseexpand"))  # the paper's own first
SHOWN_VARIANTS = {"diffuseexpand": "cf+cg+cs"}  # the variant the paper shows where it is not the method's default
FEWSHOT_RATIOS = (0.1, 0.3, 0.5, 0.7, 0.9)  # Fig. 2 right: shares of the data set used for training
SEEDS = (0, 1, 2)  # the paper repeats every run 3 times
FEWSHOT_SEEDS = (0, 1, 2, 3, 4)  # small splits vary most by seed; 5 narrow a paired Δ's interval (t 2.8, not 4.3)
TABLE1_ABLATIONS = {"cf": "CF", "cf+cg": "CF+CG", "cf+cg+cs": "CF+CG+CS"}  # Table 1's DiffuseExpand columns
TABLE1_DICE = {"Dice↑": "none", "Dice⁺↑": "randaugment", "Dice*↑": "cutmix"}  # Table 1's Dice rows: augmentation
MODEL_NAMES = {"unet": "UNet", "attnunet": "AttnUNet", "transunet": "TransUNet"}  # the downstream models, in order
STRENGTHS = (1, 2, 3)  # guidance strength v: temperature τ = 1/v at s = 1, or gradient scale s = v at τ = 1 (Fig. 2)
ETA = 0.065  # the stage-IV Dice-loss threshold η, for runs that do not record their own
TOLERANCE = 1e-6  # how close a stored τ or s must be to a grid value

LEADERBOARD = "leaderboard"
PRETRAINED = "+pretrained"  # a leaderboard entry's suffix: the method fine-tuned from a `bench pretrain` folder
VARIANT = ":"  # a leaderboard entry's variant other than the one shown: genseg:end2end
LEADERBOARD_ENTRIES = ("xlsor", "synthmed", "diffuseexpand", "diffuseexpand+pretrained", "joint+pretrained")
LEADERBOARD_PAIRS = (9, 14, 28)  # labelled (real) training pairs: the few-shot regime expansion is meant for
LEADERBOARD_AUGMENTS = ("none", "xlsor", "nnunet")  # downstream augmentations; origin runs under each too


@dataclass(frozen=True)
class Tau:
    """A guidance temperature of the grid, τ = 1/v, with the labels the tables print for it."""

    v: int

    @property
    def value(self) -> float:
        return 1 / self.v

    @property
    def text(self) -> str:
        return "1" if self.v == 1 else f"1/{self.v}"

    @property
    def tex(self) -> str:
        return "1" if self.v == 1 else rf"\frac{{1}}{{{self.v}}}"


TAUS = tuple(Tau(v) for v in STRENGTHS)  # Table 1's temperatures 1, 1/2, 1/3


def entry_name(method: str, pretrained: bool, variant: str | None = None) -> str:
    """A leaderboard entry as ``--methods`` spells it and its rows show it: ``joint+pretrained``, ``genseg:end2end``
    (``variant`` None: the method's shown variant)."""
    return f"{method}{VARIANT + variant if variant else ''}{PRETRAINED if pretrained else ''}"


def parse_entry(name: str) -> tuple[str, str | None, bool]:
    """A leaderboard entry's method, variant (None: the shown one) and whether it starts from a pretrained network."""
    method, _, variant = name.removesuffix(PRETRAINED).partition(VARIANT)
    return method, variant or None, name.endswith(PRETRAINED)


def schedule(train_options: dict[str, Any]) -> dict[str, str]:
    """The mixing schedule among downstream training options (``--train-option``s, or a settings tag's ``train.*``
    parts without the prefix): those of ``TrainConfig.MIXING_OPTIONS`` that are given, in its order, written as a
    settings tag writes them; empty for pooled batches (no such option given)."""
    return {k: tag_value(train_options[k]) for k in TrainConfig.MIXING_OPTIONS if k in train_options}


def scheduled_name(entry: str, mixing: dict[str, str]) -> str:
    """A leaderboard row: the entry, named with the mixing schedule (:func:`schedule`) of its runs where they have
    one, as their run folders do: ``genseg (mixing=alternate)``, ``xlsor (synthetic_share=0.5)``."""
    return f"{entry} ({', '.join(f'{k}={v}' for k, v in mixing.items())})" if mixing else entry


def schedule_rank(mixing: dict[str, str]) -> tuple:
    """Where a schedule's row goes among an entry's rows: pooled first, pooled with a synthetic share (smallest
    first), alternate, then pretrain (shortest first); ties are the caller's to break by name."""
    neutral = TrainConfig.MIXING_OPTIONS
    kind = mixing.get("mixing", neutral["mixing"])
    share = mixing.get("synthetic_share")
    place = MIXINGS.index(kind) if kind in MIXINGS else len(MIXINGS)
    return place, share is not None, float(share or 0), float(mixing.get("pretrain_share", neutral["pretrain_share"]))


def matches(value: Any, target: float) -> bool:
    """Whether a stored τ or s (None when the run did not record it) is the grid value ``target``."""
    return value is not None and abs(float(value) - target) <= TOLERANCE
