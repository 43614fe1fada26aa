"""Stage I of a diffusion method as a cached stage: the denoiser trained (or fine-tuned from a ``bench pretrain``
folder) on the run's pairs, saved with its noise schedule, and keyed so that any change to what it learns from or
how it trains gives a new folder while an option added later leaves older stages reusable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from accelerate import PartialState
from diffusers import DDPMScheduler

from bench.pairs import PairSet
from methods.base import MethodContext
from methods.diffusion import pretrained
from methods.diffusion.options import RECIPE
from methods.diffusion.schedule import NOISE_SCHEDULE
from methods.diffusion.unet import load_model
from methods.stages import Stage, cached_stage, stage_options


def denoiser_stage(
    ctx: MethodContext,
    key: dict[str, Any],
    o: Any,
    keyed: tuple[str, ...],
    model_class: type,
    build: pretrained.Build,
    fit: pretrained.Fit,
    train: PairSet,
) -> tuple[Stage, Any, dict[str, Any]]:
    """Train (or reuse) a method's stage-I denoiser on ``train``, data-parallel over the run's processes.

    Args:
        ctx: the run context.
        key: what the method's stage key holds besides the training options (role, version, data, seed).
        o: options with the :class:`~methods.diffusion.options.DenoiserOptions` fields.
        keyed: the method's own options that shape its denoiser (e.g. its conditioning), keyed with every
            ``denoiser_*`` and recipe option; a ``bench pretrain`` start is keyed by its weights' fingerprint, not
            its path.
        model_class: the class ``build`` returns, to load the trained network back.
        build, fit: the method's denoiser and its training (:func:`methods.diffusion.pretrained.denoiser_training`
            seeds them from the run seed).
        train: the run's real training pairs.

    Returns:
        The stage, its network in eval mode on ``ctx.device``, and its forward process (the
        :data:`~methods.diffusion.schedule.NOISE_SCHEDULE` fields of its ``scheduler_config.json``).
    """

    def compute(folder: Path) -> dict[str, Any]:
        model, training = pretrained.denoiser_training(build, fit, train, o, ctx.seed, ctx.device)
        return pretrained.train_with_schedule(ctx, folder, model, training, o.denoiser_steps, o.prediction)

    trained = ("ema_decay", "snr_gamma", "pretrained", "mixed_precision", "grad_accumulation", *RECIPE)
    options = stage_options(o, *keyed, *trained, prefix="denoiser_")
    if found := pretrained.fingerprints(o.pretrained):  # the weights, not a path
        options["pretrained"] = {"fingerprint": found["pretrained"]}
    full = {**key, "processes": PartialState().num_processes, "schedule": NOISE_SCHEDULE, "options": options}
    stage = cached_stage(ctx, full, compute, everyone=True)
    config = DDPMScheduler.load_config(stage.folder)
    return stage, load_model(model_class, stage.folder, ctx.device), {k: config[k] for k in NOISE_SCHEDULE}
