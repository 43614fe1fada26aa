"""Timing for the speed benchmarks of methods (``bench speed``): median wall time, CUDA-synchronised."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bench.generator_training import StepCallback, train_loop
from bench.pairs import PairSet


def check_steps(steps: int) -> None:
    """Refuse fewer than one timed repetition before any work: there would be no time to take a median of."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")


def random_pairs(n: int, size: int) -> PairSet:
    """``n`` seeded random pairs of ``size`` x ``size`` (one channel, binary masks): a stage's shapes, not data."""
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n, 1, size, size, generator=g)
    masks = (torch.rand(n, size, size, generator=g) > 0.5).long()
    return PairSet([f"b{i}" for i in range(n)], images, masks)


def timed(fn: Callable[[], Any], device: torch.device, repeats: int, warmup: Callable[[], Any] | None = None) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls after one warm-up call (of ``warmup`` if given: a cheaper
    call on the same shapes, e.g. fewer solver steps, where one more full call would cost minutes)."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    (warmup or fn)()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def train_step_seconds(model: nn.Module, batch_loss: Any, steps: int, device: torch.device, **options: Any) -> float:
    """Median seconds per optimiser step of :func:`bench.generator_training.train_loop` over ``steps`` steps after
    one warm-up step, timed inside the real loop; ``options`` are the loop's (``ema_decay``, ``mixed_precision``,
    ...)."""
    options = {"lr": 1e-4, "seed": 0, "lr_schedule": "constant", **options}
    return seconds_per_step(
        lambda callback: train_loop(model, batch_loss, steps=steps + 1, device=device, callback=callback, **options)
    )


def seconds_per_step(loop: Callable[[StepCallback], Any]) -> float:
    """Median seconds between the step callbacks of ``loop(callback)``, a training loop run for one step more than
    it times: the first gap begins after the first (warm-up) step, so timing happens inside the real loop."""
    stamps: list[float] = []
    loop(lambda step, value: stamps.append(time.perf_counter()))
    return statistics.median(b - a for a, b in zip(stamps, stamps[1:]))
