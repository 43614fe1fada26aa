"""One contract test for every registered method, at the smoke preset on a tiny pair set."""

import dataclasses

import pytest
import torch
from synthetic_pairs import disc_pairs

from bench.config import PRESETS, TrainConfig, merge_options
from methods import METHODS, get_method
from methods.base import DECISIONS, MethodContext

pytestmark = pytest.mark.heavy(50)


def _expand(name: str, workdir) -> tuple:
    cls = get_method(name)
    options = merge_options(cls.Options, {}, cls.presets.get("smoke", {}))
    train = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"])
    ctx = MethodContext(workdir=workdir, seed=0, device=torch.device("cpu"), train=train, preset="smoke")
    method = cls(cls.variants[0], options)
    pairs = disc_pairs()
    method.fit(pairs, ctx)
    return method.expand(4, ctx), pairs


@pytest.mark.parametrize("name", list(METHODS))
def test_fit_expand_contract(name, tmp_path):
    exp, real = _expand(name, tmp_path / "w")
    cls = get_method(name)
    if not cls.generates_pairs:
        assert len(exp.pairs) == 0 and exp.records == []
        return
    assert len(exp.records) == 4
    assert all(r.decision in DECISIONS for r in exp.records)
    used = {r.id for r in exp.records if r.decision != "dropped"}
    assert set(exp.pairs.ids) == used and not used & set(real.ids)
    assert exp.pairs.images.shape[1:] == real.images.shape[1:]
    assert exp.pairs.images.min() >= 0 and exp.pairs.images.max() <= 1
    assert set(exp.pairs.masks.unique().tolist()) <= {0, 1}
    again, _ = _expand(name, tmp_path / "w2")
    assert torch.equal(again.pairs.images, exp.pairs.images)
    assert [dataclasses.astuple(r) for r in again.records] == [dataclasses.astuple(r) for r in exp.records]
