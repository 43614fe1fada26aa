"""Sampling pairs over the processes of a run: any per-seed sampler, its batches dealt round-robin, the pairs
gathered in seed order, and the guidance diagnostics merged."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from accelerate import PartialState
from accelerate.utils import gather_object


@dataclass
class SamplerOutput:
    """Generated pairs.

    Attributes:
        images: float ``N x C x H x W`` in [0, 1].
        masks: int64 ``N x H x W`` with labels 0..K ({0, 1} for binary masks).
        seeds: the seed of each pair.
        guidance: a guided sampler's per-step record, per phase ``{"t": [...], "ratio": [...]}`` (each solver
            step's timestep and a mean over the pairs, merged by :func:`merge_guidance`); empty when unguided.
    """

    images: torch.Tensor
    masks: torch.Tensor
    seeds: list[int]
    guidance: dict[str, dict[str, list]] = field(default_factory=dict)


def merge_guidance(parts: Sequence[tuple[int, dict[str, dict[str, list]]]]) -> dict[str, dict[str, list]]:
    """The guidance record of several batches, ``(pairs, record)`` each: per-step ratios weighted by pair count."""
    parts = [(n, g) for n, g in parts if g]
    if not parts:
        return {}
    total = sum(n for n, _ in parts)
    merged = {}
    for phase, first in parts[0][1].items():
        steps = len(first["ratio"])
        ratio = [sum(n * g[phase]["ratio"][i] for n, g in parts) / total for i in range(steps)]
        merged[phase] = {"t": list(first["t"]), "ratio": ratio}
    return merged


def sample_pairs(
    sampler: Callable[..., SamplerOutput],
    *,
    seeds: Sequence[int],
    batch_size: int,
    callback: Callable[[int], None] | None = None,
    masks: torch.Tensor | None = None,
    **kwargs: Any,
) -> SamplerOutput:
    """Run ``sampler`` over ``seeds`` on every process of the run and gather the pairs on each.

    Batch b (seeds ``b * batch_size`` ...) goes to process ``b mod N``; each process samples exactly the batches a
    single process would, so the gathered pairs, in seed order, are identical to a one-process run.

    Args:
        sampler: a pipeline called as ``sampler(seeds=..., batch_size=..., **kwargs)``.
        seeds: one seed per pair.
        batch_size: pairs per batch.
        callback: called on the main process after each batch with the (estimated) number of pairs finished by
            all processes so far.
        masks: one given label map per seed (``N x H x W``), passed to the sampler batch by batch.
    """
    state = PartialState()
    starts = list(range(0, len(seeds), batch_size))[state.process_index :: state.num_processes]
    done, finished = [], 0
    for start in starts:
        given = {} if masks is None else {"masks": masks[start : start + batch_size]}
        out = sampler(seeds=seeds[start : start + batch_size], batch_size=batch_size, **given, **kwargs)
        done.append((start, out.images, out.masks, out.guidance))
        finished += len(out.seeds) * state.num_processes
        if callback is not None and state.is_main_process:
            callback(min(finished, len(seeds)))
    gathered = sorted(gather_object(done), key=lambda item: item[0])
    return SamplerOutput(
        torch.cat([images for _, images, _, _ in gathered]),
        torch.cat([masks for _, _, masks, _ in gathered]),
        [int(s) for s in seeds],
        merge_guidance([(len(masks), guidance) for _, _, masks, guidance in gathered]),
    )
