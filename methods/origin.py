"""Origin: no expansion (the paper's "Origin" column): downstream nets train on the real split only."""

from __future__ import annotations

import torch

from bench.pairs import PairSet
from methods.base import Expansion, ExpansionMethod, MethodContext, register_method


@register_method("origin")
class Origin(ExpansionMethod):
    """No expansion: the baseline every generating method is compared with."""

    def fit(self, train: PairSet, ctx: MethodContext) -> None:
        self._shape = (train.images.shape[1], *train.images.shape[2:])

    def expand(self, n: int, ctx: MethodContext) -> Expansion:
        c, h, w = self._shape
        empty = PairSet([], torch.zeros(0, c, h, w), torch.zeros(0, h, w, dtype=torch.long), "origin", True)
        return Expansion(empty, [])
