"""Timing for the speed benchmarks of methods (``bench speed``): median wall time, CUDA-synchronised."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bench.generator_training import train_loop


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
    stamps: list[float] = []
    options = {"lr": 1e-4, "seed": 0, "lr_schedule": "constant", **options}
    train_loop(
        model,
        batch_loss,
        steps=steps + 1,
        device=device,
        callback=lambda step, value: stamps.append(time.perf_counter()),
        **options,
    )
    return statistics.median(b - a for a, b in zip(stamps, stamps[1:]))
