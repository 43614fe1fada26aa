"""The timing helpers every method's speed benchmark shares (``bench speed``)."""

import time

import pytest
import torch

from bench.benchmark import check_steps, random_pairs, seconds_per_step
from methods import get_method


def test_random_pairs_are_the_seeded_draws_the_benchmarks_always_timed():
    pairs = random_pairs(5, 16)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(5, 1, 16, 16, generator=g)
    masks = (torch.rand(5, 16, 16, generator=g) > 0.5).long()
    assert torch.equal(pairs.images, images) and torch.equal(pairs.masks, masks)
    assert pairs.ids == [f"b{i}" for i in range(5)] and pairs.num_classes == 2
    assert torch.equal(random_pairs(5, 16).images, pairs.images)


def test_seconds_per_step_leaves_out_the_warm_up_step():
    def loop(callback) -> None:
        time.sleep(0.3)  # the first step: compilation, allocation
        callback(0, 1.0)
        for step in range(1, 4):
            time.sleep(0.02)
            callback(step, 1.0)

    assert 0.02 <= seconds_per_step(loop) < 0.2


@pytest.mark.parametrize("method", ["diffuseexpand", "genseg", "synthmed"])
def test_every_speed_benchmark_refuses_fewer_than_one_step_alike(method):
    check_steps(1)
    with pytest.raises(ValueError, match="^steps must be >= 1, got 0$"):
        get_method(method).speed("smoke", torch.device("cpu"), 0)
