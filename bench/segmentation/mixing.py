"""Which pairs each downstream batch holds, by ``TrainConfig.mixing`` and ``synthetic_share``.

At a fixed step budget, adding generated pairs to real ones shrinks the real pairs' share of every batch (120
generated beside 41 real leave the real ones a quarter of the gradient): an expansion that "hurts" may only dilute.
The schedules here let a benchmark tell the two apart by holding that share fixed, or by the two other ways
practitioners feed generated pairs (alternating batches; training on generated pairs, then fine-tuning on real ones).

Indices address the real pairs followed by the generated ones (``PairSet.concat([real, generated])``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from bench.config import TrainConfig


def batch_order(
    n_real: int,
    n_generated: int,
    cfg: TrainConfig,
    total_steps: int,
    steps_per_epoch: int,
    generator: torch.Generator,
) -> Iterator[tuple[int, torch.Tensor]]:
    """``(epoch, indices)`` of each of the ``total_steps`` training batches, drawn lazily from ``generator``.

    ``pooled`` without a share (and any run with only one kind of pair): each epoch a permutation of all pairs cut
    into ``steps_per_epoch`` near-equal batches, as training has always done. Otherwise every batch holds
    ``cfg.batch_size`` pairs, each kind drawn from its own reshuffled cycle through its pairs (a kind with fewer pairs
    than its part of a batch repeats some): ``synthetic_share`` gives each batch ``round((t + 1) P B) - round(t P B)``
    generated pairs at step ``t``, so that the share over any run of steps is ``P`` to within one pair;
    ``alternate`` gives step 0 a real batch, step 1 a generated one, and so on; ``pretrain`` gives the first
    ``round(pretrain_share x total_steps)`` steps generated batches and the rest real ones. An epoch is
    ``steps_per_epoch`` steps in every case, so losses are reported per epoch alike.
    """
    if n_real + n_generated == 0:
        raise ValueError("no pairs to train on")
    if not cfg.mixes or not n_real or not n_generated:
        yield from _pooled(n_real + n_generated, total_steps, steps_per_epoch, generator)
        return
    real = _cycle(n_real, 0, generator)
    generated = _cycle(n_generated, n_real, generator)
    size = cfg.batch_size
    pretrain_steps = _round(cfg.pretrain_share * total_steps)
    for t in range(total_steps):
        if cfg.mixing == "pooled":
            k = _round((t + 1) * cfg.synthetic_share * size) - _round(t * cfg.synthetic_share * size)
        elif cfg.mixing == "alternate":
            k = size * (t % 2)
        else:
            k = size * (t < pretrain_steps)
        picked = [next(generated) for _ in range(k)] + [next(real) for _ in range(size - k)]
        yield t // steps_per_epoch, torch.tensor(picked, dtype=torch.long)


def _pooled(
    n: int, total_steps: int, steps_per_epoch: int, generator: torch.Generator
) -> Iterator[tuple[int, torch.Tensor]]:
    step = 0
    for epoch in range(math.ceil(total_steps / steps_per_epoch)):
        for idx in torch.randperm(n, generator=generator).tensor_split(steps_per_epoch):
            if step == total_steps:
                return
            step += 1
            yield epoch, idx


def _cycle(n: int, offset: int, generator: torch.Generator) -> Iterator[int]:
    """``offset .. offset + n - 1`` in a fresh random order each time round; nothing is drawn until asked for."""
    while True:
        yield from (torch.randperm(n, generator=generator) + offset).tolist()


def _round(x: float) -> int:
    """Half rounded up (Python's ``round`` goes to even, which would bias the share)."""
    return math.floor(x + 0.5)
