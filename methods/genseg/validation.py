"""The validation pairs GenSeg holds back from its generator and inner segmenter (the release's lung script: 2 of
its 9 labelled pairs), chosen by the run seed alone from the sorted training ids, so that a run's choice can be
redone from its record. The downstream model the harness scores still trains on all labelled pairs."""

from __future__ import annotations

import numpy as np

from bench.pairs import PairSet
from methods.stages import stage_seed


def validation_ids(ids: list[str], count: int, seed: int) -> list[str]:
    """``count`` ids of ``ids``, sorted, drawn without replacement by ``seed``."""
    rng = np.random.default_rng(stage_seed(seed, "validation"))
    ordered = sorted(ids)
    return sorted(ordered[i] for i in rng.choice(len(ordered), size=count, replace=False))


def hold_out(train: PairSet, count: int, seed: int) -> tuple[PairSet, PairSet]:
    """``train`` split into the pairs the method fits on and its ``count`` validation pairs."""
    held = set(validation_ids(list(train.ids), count, seed))
    return train.subset([i for i in train.ids if i not in held]), train.subset(sorted(held))
