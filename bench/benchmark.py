"""Speed of the DiffuseExpand stages at a preset's sizes, on random data (no training to convergence).

Used by the CLI to print a table of seconds per training step / per generated pair, so that a user can
predict what a preset costs on their machine before a full ``bench run``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from bench.config import PRESETS, TrainConfig, merge_options, preset
from bench.data import PairSet


def _timed(fn: Callable[[], Any], device: torch.device, repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls after one warm-up call."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def benchmark_diffuseexpand(preset_name: str, device: torch.device | str, steps: int = 3) -> list[dict[str, Any]]:
    """Time each DiffuseExpand stage with the networks of a preset.

    Args:
        preset_name: ``smoke``, ``cpu`` or ``paper``; sets the image size, the method options and the
            downstream (filter) config.
        device: where to run.
        steps: timed repetitions of each measurement (after one warm-up); the sampler runs ``steps`` solver
            steps per phase and the time is scaled to the preset's ``sampling_steps``.

    Returns:
        Rows ``{"stage", "what", "seconds", "unit"}``: denoiser and segmenter training step, seconds per
        generated pair (mask + image) without and with guidance, filter prediction per pair.

    Raises:
        ConfigError: for an unknown preset. ValueError: if ``steps < 1``.
    """
    from bench.segmentation.models import build_model
    from bench.segmentation.trainer import predict
    from methods.diffuseexpand import DiffuseExpand
    from methods.diffuseexpand.denoiser import denoiser_loss, diffusion_samples, noise_scheduler
    from methods.diffuseexpand.method import denoiser_from_options, segmenter_from_options
    from methods.diffuseexpand.sampler import PairSampler, pair_seeds
    from methods.diffuseexpand.segmenter import segmenter_loss

    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    overrides = preset(preset_name)
    device = torch.device(device)
    o = merge_options(DiffuseExpand.Options, {}, DiffuseExpand.presets.get(preset_name, {}))
    train_cfg = merge_options(TrainConfig, {}, PRESETS[preset_name].get("train", {}))
    size = overrides["image_size"]
    g = torch.Generator().manual_seed(0)
    n = max(o.denoiser_batch, o.segmenter_batch, o.sample_batch)
    images = torch.rand(n, 1, size, size, generator=g)
    masks = (torch.rand(n, size, size, generator=g) > 0.5).long()
    pairs = PairSet([f"b{i}" for i in range(n)], images, masks, "benchmark")
    x0, mode, cond = (t.to(device) for t in diffusion_samples(pairs))
    scheduler = noise_scheduler()
    rows = []

    def train_step(model: torch.nn.Module, loss_fn: Callable) -> Callable[[], None]:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        model.train()

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model, g).backward()
            optimizer.step()

        return step

    denoiser = denoiser_from_options(o, size, 1).to(device)
    loss = denoiser_loss(x0, mode, cond, batch_size=o.denoiser_batch, cfg_dropout=o.cfg_dropout, scheduler=scheduler)
    params = sum(p.numel() for p in denoiser.parameters()) / 1e6
    rows.append(
        {
            "stage": "denoiser",
            "what": f"train step, batch {o.denoiser_batch}, {params:.1f} M params",
            "seconds": _timed(train_step(denoiser, loss), device, steps),
            "unit": "s/step",
        }
    )

    segmenter = segmenter_from_options(o, size, 1).to(device)
    loss = segmenter_loss(x0, mode, cond, batch_size=o.segmenter_batch, scheduler=scheduler)
    params = sum(p.numel() for p in segmenter.parameters()) / 1e6
    rows.append(
        {
            "stage": "segmenter",
            "what": f"train step, batch {o.segmenter_batch}, {params:.1f} M params",
            "seconds": _timed(train_step(segmenter, loss), device, steps),
            "unit": "s/step",
        }
    )

    sampler = PairSampler(
        denoiser.eval(),
        segmenter.eval(),
        solver_order=o.solver_order,
        dynamic_thresholding=o.dynamic_thresholding,
        mixed_precision=o.mixed_precision,
    )
    seeds = pair_seeds(0, o.sample_batch)
    scale = o.sampling_steps / steps
    for label, guidance in (("unguided (cf)", 0.0), ("guided (cf+cg)", max(o.guidance_scale, 1e-3))):
        seconds = _timed(
            lambda s=guidance: sampler(
                seeds=seeds,
                num_inference_steps=steps,
                tau=o.tau,
                guidance_scale=s,
                cf_weight=o.cf_weight,
                batch_size=o.sample_batch,
            ),
            device,
            1,
        )
        rows.append(
            {
                "stage": "sampler",
                "what": f"pair {label}, {o.sampling_steps} steps x 2 phases, batch {o.sample_batch}",
                "seconds": seconds * scale / len(seeds),
                "unit": "s/pair",
            }
        )

    model = build_model(o.filter_model, 1, 2, size, train_cfg).to(device).eval()
    seconds = _timed(lambda: predict(model, images[: o.sample_batch], device), device, steps)
    rows.append(
        {
            "stage": "filter",
            "what": f"{o.filter_model} prediction",
            "seconds": seconds / o.sample_batch,
            "unit": "s/pair",
        }
    )
    return rows
