"""Joint image + mask diffusion: the one-pass alternative to DiffuseExpand's two-phase design (masks first, then
images conditioned on them).

One unconditional ε-prediction denoiser, of the architecture and training budget of DiffuseExpand's stage I
(the shared ``denoiser_*`` options and per-preset values of :mod:`methods.diffusion`), learns image and mask
stacked as channels: x₀ = [image, mask] in [-1, 1], ``C + 1`` channels. A pair is sampled in one DPM-Solver++
loop (the shared solver setup, :func:`methods.diffusion.dpm_solver`) and its mask channel is binarised at 0. At
the ``cpu`` preset joint keeps the shared solver (order 3, 15 steps), where DiffuseExpand has a cheaper one of its
own (order 2, 10 steps) that was measured on DiffuseExpand's pairs only. Whether mask
and image agree is left entirely to the network: no conditioning, no guidance, no filter.

======================  ============================================================================
folder                  contents
======================  ============================================================================
``denoiser/<hash>``     the trained ``UNet2DModel`` (``save_pretrained``), ``scheduler_config.json``,
                        ``train_log.json``; ``checkpoints/step_<n>/`` while training (a killed run resumes)
``samples/<hash>``      all n pairs (``images/``, ``masks/``), ``records.csv``, ``gallery.png``
======================  ============================================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from accelerate import PartialState
from diffusers import DDPMScheduler, UNet2DModel
from diffusers.utils.torch_utils import randn_tensor

from bench.config import ConfigError
from bench.data import fingerprint, load_pairs, save_pairs
from bench.pairs import PairSet
from bench.results import GALLERY_PNG
from bench.training import BatchLoss, StepCallback, TrainLog, autocast_context
from methods.base import (
    Expansion,
    ExpansionMethod,
    MethodContext,
    PairRecord,
    pair_seeds,
    register_method,
    synthetic_ids,
    write_records,
)
from methods.diffusion import augment, pretrained
from methods.diffusion.augment import AugmentedUNet
from methods.diffusion.options import DENOISER_PRESETS, RECIPE, JointOptions
from methods.diffusion.sampling import SamplerOutput, sample_pairs
from methods.diffusion.schedule import (
    NOISE_SCHEDULE,
    dpm_solver,
    model_input,
    noise_scheduler,
    to_epsilon,
    training_schedule,
)
from methods.diffusion.training import denoising_loss, draw_batch, noised_input, train_denoiser
from methods.diffusion.unet import load_model, unet_config
from methods.gallery import save_gallery
from methods.stages import (
    Stage,
    cached_stage,
    progress_callback,
    stage_options,
    stage_seed,
    train_network,
    training_history,
)


def build_joint_denoiser(o: JointOptions, size: int, channels: int, seed: int) -> UNet2DModel | AugmentedUNet:
    """The unconditional UNet of ``C + 1`` channels in and out, DiffuseExpand's stage-I architecture; with
    ``augment_p > 0`` an :class:`~methods.diffusion.augment.AugmentedUNet` that also takes the warp; with
    ``pretrained`` (a ``bench pretrain`` folder) starting from its weights.

    Raises:
        ValueError: for a size the network cannot halve ``len(o.denoiser_widths) - 1`` times.
    """
    config = unet_config(
        size,
        channels + 1,
        channels + 1,
        o.denoiser_widths,
        o.denoiser_layers,
        o.denoiser_attention,
        o.denoiser_head_dim,
        resblock_updown=o.denoiser_resblock_updown,
        class_embedding=o.augment_p > 0,
        dropout=o.denoiser_dropout,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AugmentedUNet(config) if o.augment_p > 0 else UNet2DModel.from_config(config)
    if pretrained.made_by_bench(o.pretrained):  # the weights `bench pretrain` wrote, of this very architecture
        return pretrained.copy_weights(model, load_model(joint_model_class(o), Path(o.pretrained)), o.pretrained)
    return model


def joint_model_class(o: JointOptions) -> type[UNet2DModel] | type[AugmentedUNet]:
    """The class :func:`build_joint_denoiser` builds for ``o`` (to load a trained one back)."""
    return AugmentedUNet if o.augment_p > 0 else UNet2DModel


def joint_samples(pairs: PairSet) -> torch.Tensor:
    """Float ``N x (C + 1) x H x W`` in [-1, 1]: each image with its binary mask as the last channel.

    Raises:
        ValueError: if the masks are not binary.
    """
    if len(pairs) and int(pairs.masks.max()) > 1:
        raise ValueError(f"{pairs.name}: joint diffusion needs binary masks, found labels up to {pairs.masks.max()}")
    return torch.cat([pairs.images.float(), pairs.masks[:, None].float()], dim=1) * 2 - 1


def joint_loss(
    x0: torch.Tensor,
    *,
    batch_size: int,
    scheduler: DDPMScheduler,
    snr_gamma: float,
    augment_p: float = 0.0,
    prediction: str = "epsilon",
) -> BatchLoss:
    """‖ε_θ(x_t, t) − ε‖² on a random batch of ``x0`` (Min-SNR-γ weighted when ``snr_gamma > 0``, as stage I; v
    instead of ε for ``prediction="v_prediction"``, EDM's preconditioned loss for ``"edm"``).

    With ``augment_p > 0`` each sample is warped (image channels bilinearly, the mask channel by nearest
    neighbour) and the model is given the warp (:mod:`methods.diffusion.augment`). Every random draw (batch, t, ε,
    then the warps) comes from the training loop's generator.
    """

    def loss(model: torch.nn.Module, generator: torch.Generator) -> torch.Tensor:
        index, t, noise = draw_batch(x0, batch_size, scheduler, generator, prediction)
        batch, kwargs = x0[index], {}
        if augment_p > 0:
            params = augment.draw(batch_size, augment_p, generator).to(x0.device)
            grid = augment.sampling_grid(params, x0.shape[-1])
            image = augment.warp(batch[:, :-1], grid, nearest=False)
            batch = torch.cat([image, augment.warp(batch[:, -1:], grid, nearest=True)], dim=1)
            kwargs = {"augment": params}
        out = model(*noised_input(batch, noise, t, scheduler, prediction), **kwargs).sample
        return denoising_loss(out, batch, noise, t, scheduler, snr_gamma, prediction)

    return loss


def fit_joint_denoiser(
    model: UNet2DModel,
    pairs: PairSet,
    o: JointOptions,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    checkpoint_dir: Path | None = None,
    callback: StepCallback | None = None,
) -> TrainLog:
    """Train the joint denoiser on :func:`joint_samples` with the shared stage-I recipe
    (:func:`methods.diffusion.train_denoiser`: AdamW decaying linearly to 0, EMA, resumable checkpoints in
    ``checkpoint_dir``); left in eval mode."""
    device = torch.device(device)
    loss = joint_loss(
        joint_samples(pairs).to(device),
        batch_size=o.denoiser_batch,
        scheduler=noise_scheduler(training_schedule(o.prediction)),
        snr_gamma=o.snr_gamma,
        augment_p=o.augment_p,
        prediction=o.prediction,
    )
    return train_denoiser(model, loss, o, seed=seed, device=device, checkpoint_dir=checkpoint_dir, callback=callback)


class JointSampler:
    """One DPM-Solver++ loop per batch of pairs from the joint denoiser (a pipeline in the diffusers sense).

    Args:
        model (`UNet2DModel`): the joint denoiser, in eval mode.
        scheduler_config (`dict`): its forward process (``scheduler_config.json`` of its stage).
        solver_order (`int`), dynamic_thresholding (`bool`), mixed_precision (`bool`): as DiffuseExpand's sampler.
    """

    def __init__(
        self,
        model: UNet2DModel,
        *,
        scheduler_config: dict[str, Any],
        solver_order: int,
        dynamic_thresholding: bool,
        mixed_precision: bool,
    ) -> None:
        self.model = model
        self.scheduler_config = dict(scheduler_config)
        self.solver_order = solver_order
        self.dynamic_thresholding = dynamic_thresholding
        self.mixed_precision = mixed_precision

    @torch.no_grad()
    def __call__(
        self,
        *,
        seeds: Sequence[int],
        num_inference_steps: int,
        batch_size: int,
        callback: Callable[[int], None] | None = None,
    ) -> SamplerOutput:
        """Generate one pair per seed (noise from the pair's own generator, so a pair can be regenerated alone).

        Returns:
            SamplerOutput with images float ``N x C x H x W`` in [0, 1] and masks int64 ``N x H x W`` in {0, 1}
            (the last channel, binarised at 0).

        Raises:
            ValueError: for no seeds, ``num_inference_steps < 1`` or ``batch_size < 1``.
            RuntimeError: if the model is in train mode.
        """
        # 1. Check inputs and mode
        if len(seeds) == 0 or num_inference_steps < 1 or batch_size < 1:
            raise ValueError(
                f"need seeds, num_inference_steps >= 1 and batch_size >= 1, got {len(seeds)} seeds, "
                f"{num_inference_steps} steps, batch_size {batch_size}"
            )
        if any(m.training for m in self.model.modules()):
            raise RuntimeError("the joint denoiser is in train mode; call .eval() before sampling")
        device = next(self.model.parameters()).device
        unet = getattr(self.model, "unet", self.model)  # an AugmentedUNet's own UNet
        channels, size = int(unet.config.in_channels), int(unet.config.sample_size)
        # diffusers' solver converts ε and v itself; an EDM denoiser's output is turned into ε first
        prediction = "edm" if self.scheduler_config.get("prediction_type") == "edm" else "epsilon"
        solver_config = (
            {**self.scheduler_config, "prediction_type": "epsilon"} if prediction == "edm" else self.scheduler_config
        )
        images, masks = [], []
        for start in range(0, len(seeds), batch_size):
            batch = list(seeds[start : start + batch_size])
            # 2. Noise from each pair's generator
            generators = [torch.Generator().manual_seed(int(s)) for s in batch]
            x = randn_tensor((len(batch), channels, size, size), generator=generators, device=device)
            # 3. One DPM-Solver++ loop over image and mask together
            scheduler = dpm_solver(solver_config, self.solver_order, self.dynamic_thresholding)
            scheduler.set_timesteps(num_inference_steps, device=device)
            for t in scheduler.timesteps:
                with autocast_context(device, self.mixed_precision):
                    out = self.model(*model_input(x, t, scheduler.alphas_cumprod, prediction)).sample.float()
                x = scheduler.step(to_epsilon(out, x, t, scheduler.alphas_cumprod, prediction), t, x).prev_sample
            # 4. Split: image channels to [0, 1], the mask channel binarised at 0
            images.append((x[:, :-1].float() / 2 + 0.5).clamp(0, 1).cpu())
            masks.append((x[:, -1] > 0).long().cpu())
            if callback is not None:
                callback(len(batch))
        return SamplerOutput(torch.cat(images), torch.cat(masks), [int(s) for s in seeds])


@register_method("joint")
class Joint(pretrained.PretrainedStart, ExpansionMethod):
    """Joint image + mask diffusion: DiffuseExpand's stage-I network and budget, unconditional, one pass per pair.

    After :meth:`expand`, ``self.stats`` holds ``{"variant", "seconds": {"denoiser", "sampler"}, "counts",
    "cached"}``.
    """

    Options = JointOptions
    binary_masks_only = True
    presets: ClassVar[dict[str, dict[str, Any]]] = DENOISER_PRESETS

    @classmethod
    def check_request(cls, variant: str, options: JointOptions, image_size: int, channels: int) -> None:
        """Refuse, before any work, an image size the denoiser cannot halve often enough."""
        halvings = len(options.denoiser_widths) - 1
        if image_size % 2**halvings:
            raise ConfigError(
                f"--image-size {image_size}: joint's denoiser_widths {options.denoiser_widths} halve the image "
                f"{halvings} times, so the size must be a multiple of {2**halvings}"
            )

    @staticmethod
    def pretrain(
        pairs: PairSet, o: JointOptions, folder: Path, seed: int, device: torch.device, progress: Any
    ) -> dict[str, Any]:
        """The joint denoiser on ``pairs`` of another data set, for ``bench pretrain``."""
        model = build_joint_denoiser(
            o, int(pairs.images.shape[-1]), int(pairs.images.shape[1]), stage_seed(seed, "denoiser")
        )
        train_seed = stage_seed(seed, "denoiser-train")
        return pretrained.pretrain_network(
            model,
            lambda checkpoints, callback: fit_joint_denoiser(
                model, pairs, o, seed=train_seed, device=device, checkpoint_dir=checkpoints, callback=callback
            ),
            folder,
            steps=o.denoiser_steps,
            prediction=o.prediction,
            seed=seed,
            device=device,
            progress=progress,
        )

    def __init__(self, variant: str | None = None, options: JointOptions | None = None) -> None:
        super().__init__(variant, options)
        self._fitted: tuple[dict[str, Any], UNet2DModel, Stage, dict[str, Any]] | None = None

    def fit(self, train: PairSet, ctx: MethodContext) -> None:
        """Train (or reuse) the joint denoiser, data-parallel over the run's processes.

        Args:
            train: real training pairs; square images float ``N x C x S x S`` in [0, 1], binary masks int64.
            ctx: run context; the stage is cached under ``ctx.workdir/denoiser/<hash>``.

        Raises:
            ValueError: for an empty set, non-square images or multi-class masks. ConfigError: for a size the
                network cannot halve often enough.
        """
        o = self.options
        if len(train) == 0:
            raise ValueError(f"{train.name}: no training pairs")
        channels, size, width = (int(v) for v in train.images.shape[1:])
        if size != width:
            raise ValueError(f"{train.name}: joint diffusion needs square images, got {size}x{width}")
        if train.num_classes != 2:
            raise ValueError(f"{train.name}: joint diffusion generates binary masks; found {train.num_classes} labels")
        self.check_request(self.variant, o, size, channels)
        data = {"fingerprint": fingerprint(train), "pairs": len(train), "size": size, "channels": channels}

        def compute_denoiser(folder):
            model = build_joint_denoiser(o, size, channels, seed=stage_seed(ctx.seed, "denoiser"))
            seed = stage_seed(ctx.seed, "denoiser-train")
            record = train_network(
                ctx,
                folder,
                model,
                lambda checkpoints, callback: fit_joint_denoiser(
                    model, train, o, seed=seed, device=ctx.device, checkpoint_dir=checkpoints, callback=callback
                ),
                total=o.denoiser_steps,
            )
            if PartialState().is_main_process:
                noise_scheduler(training_schedule(o.prediction)).save_config(folder)
            return record

        options = stage_options(
            o, "ema_decay", "snr_gamma", "mixed_precision", "grad_accumulation", *RECIPE, prefix="denoiser_"
        )
        if found := pretrained.fingerprints(o.pretrained):
            options["pretrained"] = {"fingerprint": found["pretrained"]}  # the weights, not a path
        key = {"role": "denoiser", "version": self.version, "data": data, "seed": ctx.seed}
        key.update(processes=PartialState().num_processes, schedule=NOISE_SCHEDULE, options=options)
        stage = cached_stage(ctx, key, compute_denoiser, everyone=True)
        config = DDPMScheduler.load_config(stage.folder)
        schedule = {k: config[k] for k in NOISE_SCHEDULE}
        self._fitted = (data, load_model(joint_model_class(o), stage.folder, ctx.device), stage, schedule)
        self.history = training_history(stage)

    def expand(self, n: int, ctx: MethodContext) -> Expansion:
        """Sample ``n`` pairs, sharded over the run's processes (the same pairs for any process count).

        Returns:
            Expansion of ``n`` pairs (ids ``syn_00000`` ...; images float in [0, 1] quantised to 8 bits as
            stored, masks int64 {0, 1}), every record ``kept`` with ``info`` ``steps`` and ``foreground`` fraction.

        Raises:
            RuntimeError: before :meth:`fit`, or if the denoiser is in train mode. ValueError: for ``n < 1``.
        """
        if self._fitted is None:
            raise RuntimeError("Joint.expand called before fit")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        (data, model, denoiser, schedule), o = self._fitted, self.options
        seeds = pair_seeds(stage_seed(ctx.seed, "samples"), n)
        ids = synthetic_ids(n)

        def records(masks: torch.Tensor) -> list[PairRecord]:
            return [
                PairRecord(k, s, "kept", {"steps": o.sampling_steps, "foreground": round(float(m.float().mean()), 6)})
                for k, s, m in zip(ids, seeds, masks)
            ]

        def sample(folder):
            start = time.perf_counter()
            advance = progress_callback(ctx, "joint sampler", n)
            sampler = JointSampler(
                model,
                scheduler_config=schedule,
                solver_order=o.solver_order,
                dynamic_thresholding=o.dynamic_thresholding,
                mixed_precision=o.mixed_precision,
            )
            out = sample_pairs(
                sampler,
                seeds=seeds,
                batch_size=o.sample_batch,
                callback=advance,
                num_inference_steps=o.sampling_steps,
            )
            seconds = time.perf_counter() - start
            if PartialState().is_main_process:
                # 8-bit images, as stored, so that fresh and cached expansions are identical
                pairs = PairSet(ids, (out.images * 255).round() / 255, out.masks, "joint", True)
                save_pairs(pairs, folder)
                write_records(records(pairs.masks), folder / "records.csv")
                save_gallery(folder / GALLERY_PNG, pairs.images, pairs.masks)
            return {"seconds": seconds, "n": n}

        sampling = stage_options(
            o, "solver_order", "sampling_steps", "dynamic_thresholding", "mixed_precision", "sample_batch"
        )
        key = {"role": "samples", "version": self.version, "upstream": {"denoiser": denoiser.digest}}
        key.update(sampling=sampling, n=n, seed=ctx.seed)
        stage = cached_stage(ctx, key, sample, everyone=True)
        pairs = load_pairs(stage.folder, data["size"], data["channels"], name="joint", synthetic=True)
        expansion = Expansion(pairs, records(pairs.masks))
        self.stats = {
            "variant": self.variant,
            "seconds": {"denoiser": denoiser.done.get("seconds"), "sampler": stage.done.get("seconds")},
            "counts": expansion.counts(),
            "cached": [s.role for s in (denoiser, stage) if s.reused],
        }
        return expansion
