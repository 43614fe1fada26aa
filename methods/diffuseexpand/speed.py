"""Speed of the DiffuseExpand stages at a preset's sizes, on random data (no training to convergence).

``bench speed --method diffuseexpand`` prints it, so that a user can predict what a preset costs on their
machine before a full ``bench run``. Training steps are timed inside the real training loop
(:func:`bench.generator_training.train_loop`, EMA included), sampling through the real pipeline. :func:`sampling_costs`
adds what a pair costs in FLOPs and network calls under the released, the preset's and a few cheaper sampling
configurations (:mod:`.cost`); it runs on the meta device, so the paper preset is counted on any CPU.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch

from bench.benchmark import check_steps, random_pairs, timed, train_step_seconds
from bench.config import PRESETS, TrainConfig, merge_options
from bench.generator_training import BatchLoss
from bench.segmentation.models import build_model, count_parameters
from bench.segmentation.trainer import predict
from methods.base import pair_seeds
from methods.diffuseexpand.cost import flops_per_pair, meta_networks, network_costs, nfe
from methods.diffuseexpand.denoiser import denoiser_loss, diffusion_samples
from methods.diffuseexpand.networks import build_denoiser, build_segmenter
from methods.diffuseexpand.options import PRESETS as METHOD_PRESETS
from methods.diffuseexpand.options import DiffuseExpandOptions
from methods.diffuseexpand.sampler import PairSampler
from methods.diffuseexpand.sampling_config import RELEASED, SamplingConfig
from methods.diffuseexpand.segmenter import segmenter_loss
from methods.diffusion.schedule import noise_scheduler


def step_seconds(
    model: torch.nn.Module, loss: BatchLoss, o: DiffuseExpandOptions, device: torch.device, steps: int
) -> float:
    """Median seconds per optimiser step of ``train_loop`` with the options' EMA, precision and accumulation."""
    return train_step_seconds(
        model,
        loss,
        steps,
        device,
        ema_decay=o.ema_decay,
        mixed_precision=o.mixed_precision,
        grad_accumulation=o.grad_accumulation,
    )


def benchmark(preset_name: str, device: torch.device | str, steps: int = 3) -> list[dict[str, Any]]:
    """Time each DiffuseExpand stage with the networks of a preset.

    Args:
        preset_name: ``smoke``, ``cpu`` or ``paper``; sets the image size, the method options and the
            downstream (filter) config.
        device: where to run.
        steps: timed repetitions of each training step and filter measurement (after one warm-up).

    Returns:
        Rows ``{"stage", "what", "seconds", "unit", "peak_gib"}`` (see :func:`measured`): denoiser and segmenter
        training step, seconds per generated pair (mask + image) under each configuration of
        :func:`sampling_configs` (one timed batch at full step counts, after a 2-step warm-up on the same shapes),
        filter prediction per pair.

    Raises:
        ValueError: if ``steps < 1``.
    """
    check_steps(steps)
    device = torch.device(device)
    o = merge_options(DiffuseExpandOptions, {}, METHOD_PRESETS.get(preset_name, {}))
    train_cfg = merge_options(TrainConfig, {}, PRESETS[preset_name].get("train", {}))
    size = PRESETS[preset_name]["image_size"]
    pairs = random_pairs(max(o.denoiser_batch, o.segmenter_batch, o.sample_batch), size)
    x0, mode, cond = (t.to(device) for t in diffusion_samples(pairs))
    scheduler = noise_scheduler()
    rows = []

    denoiser = build_denoiser(o, size, 1, seed=0)
    loss = denoiser_loss(
        x0, mode, cond, batch_size=o.denoiser_batch, cfg_dropout=o.cfg_dropout, scheduler=scheduler, snr_gamma=0
    )
    params = count_parameters(denoiser) / 1e6
    what = f"train step, batch {o.denoiser_batch}, {params:.1f} M params"
    rows.append(measured("denoiser", what, "s/step", lambda: step_seconds(denoiser, loss, o, device, steps), device))

    segmenter = build_segmenter(o, size, 1, seed=0)
    loss = segmenter_loss(x0, mode, cond, batch_size=o.segmenter_batch, scheduler=scheduler)
    params = count_parameters(segmenter) / 1e6
    what = f"train step, batch {o.segmenter_batch}, {params:.1f} M params"
    rows.append(measured("segmenter", what, "s/step", lambda: step_seconds(segmenter, loss, o, device, steps), device))

    seeds = pair_seeds(0, o.sample_batch)
    sampler = PairSampler(
        denoiser.eval(),
        segmenter.eval(),
        mixed_precision=o.mixed_precision,
    )

    def per_pair(config: SamplingConfig) -> float:
        def run(c: SamplingConfig) -> Any:
            return sampler(seeds=seeds, config=c, batch_size=o.sample_batch)

        short = replace(config, steps=min(2, config.steps))
        return timed(lambda: run(config), device, 1, warmup=lambda: run(short)) / len(seeds)

    for label, config in sampling_configs(o).items():
        what = f"pair (mask + image), {label}: {config.name}, batch {o.sample_batch}"
        # every configuration samples with the preset's image objective and mask median
        config = replace(config, image_objective=o.image_objective, mask_median=o.mask_median)
        rows.append(measured("sampler", what, "s/pair", lambda c=config: per_pair(c), device))

    model = build_model(o.filter_model, 1, 2, size, train_cfg).to(device).eval()
    batch = pairs.images[: o.sample_batch]

    def predicted_per_pair() -> float:
        return timed(lambda: predict(model, batch, device), device, steps) / len(batch)

    rows.append(measured("filter", f"{o.filter_model} prediction", "s/pair", predicted_per_pair, device))
    return rows


def measured(stage: str, what: str, unit: str, seconds: Callable[[], float], device: torch.device) -> dict[str, Any]:
    """A row of :func:`benchmark`: ``seconds()`` and, on CUDA, the peak GiB allocated while measuring; a measurement
    that runs out of memory is a row saying so (``seconds`` None), so the others are still measured."""
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    try:
        value = seconds()
    except torch.OutOfMemoryError:
        value = None
    finally:
        if cuda:  # what an out-of-memory measurement left behind, before the next one's peak is read
            gc.collect()
            torch.cuda.empty_cache()
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None
    return {"stage": stage, "what": what, "seconds": value, "unit": unit, "peak_gib": peak}


def sampling_configs(o: DiffuseExpandOptions) -> dict[str, SamplingConfig]:
    """The configurations ``bench speed`` compares: the released one, the options' own, cheaper variants of the
    latter, and the ``cpu`` preset's (the measured cheaper default) where it differs."""
    own = SamplingConfig.from_options(o)
    cpu = SamplingConfig.from_options(merge_options(DiffuseExpandOptions, {}, METHOD_PRESETS["cpu"]))
    configs = {
        "released": RELEASED,
        "preset": own,
        "order 2, 15 steps": replace(own, solver_order=2, steps=15),
        "guide every 2nd": replace(own, guidance_every=2),
        "guide t >= 0.5T": replace(own, guidance_until=0.5),
        "no mask guidance": replace(own, guide_mask_phase=False),
    }
    return configs if cpu == own else {**configs, "cpu preset's sampler": cpu}


def sampling_costs(preset_name: str) -> dict[str, list[dict[str, Any]]]:
    """FLOPs per network call and per generated pair at a preset's sizes, counted on the meta device.

    Returns:
        Two tables, title -> rows: the networks (parameters, GFLOP of a forward and of a forward + backward to
        the input, per sample) and the sampling configurations of :func:`sampling_configs` (network calls and
        GFLOP per pair, and the ratio to the released configuration).
    """
    o = merge_options(DiffuseExpandOptions, {}, METHOD_PRESETS.get(preset_name, {}))
    size = PRESETS[preset_name]["image_size"]
    flops = network_costs(o, size)
    params = [count_parameters(net) / 1e6 for net in meta_networks(o, size)]
    networks = [
        {"network": "denoiser", "M params": params[0], "GFLOP fwd": flops["denoiser"] / 1e9, "GFLOP fwd+bwd": "-"},
        {
            "network": "segmenter",
            "M params": params[1],
            "GFLOP fwd": flops["segmenter_fwd"] / 1e9,
            "GFLOP fwd+bwd": (flops["segmenter_fwd"] + flops["segmenter_bwd"]) / 1e9,
        },
    ]
    per_call = {f"{k}_flops": v for k, v in flops.items()}
    released = flops_per_pair(RELEASED, **per_call)
    configs = []
    for label, config in sampling_configs(o).items():
        calls = nfe(config)["total"]
        pair = flops_per_pair(config, **per_call)
        configs.append(
            {
                "configuration": label,
                "options": config.name,
                "denoiser": calls["denoiser"],
                "seg fwd": calls["segmenter_fwd"],
                "seg bwd": calls["segmenter_bwd"],
                "GFLOP/pair": pair / 1e9,
                "x released": pair / released,
            }
        )
    return {
        f"FLOPs per call at {size}x{size}, batch 1": networks,
        "network calls and FLOPs per generated pair (mask + image)": configs,
    }
