"""The ``end2end`` variant's search: GenSeg's three stages interleaved, one step each per iteration.

Starting from the stage-I generator (as the release starts from its pretrained pix2pix), each iteration

1. **stage I** trains the generator's weights W and the discriminator for one GAN step on the real pairs,
   the architecture fixed (so that the images stay realistic while A moves);
2. draws ``batch`` real pairs and augments their masks (:mod:`.augment`); the generator turns those into images;
3. **stage III** moves the architecture weights A by Adam on the hypergradient of the inner segmenter's loss on
   the validation pairs after one virtual step on real + generated pairs (:mod:`.hypergradient`);
4. **stage II** steps the inner segmenter on real + ``fake_weight`` x generated pairs (RMSprop, the release's).

Departures: W is treated as independent of A in the hypergradient (the three-level chain through stage I is cut,
the first-order choice DARTS offers one level down); step 4 reuses the gradient of step 3's virtual step (at A
before its update) instead of a fourth backward pass; everything runs in float32. The release normalises each
generated image by its min and max, equalises its histogram and applies a gamma of 0.5, detaching it from the
generator; here the image is the generator's ``(tanh + 1) / 2``, differentiable, as the hypergradient needs.

Every ``checkpoint_every`` steps (and after the last) the whole state (GAN, architecture, inner segmenter, the four
optimisers, the random streams, the log) goes to ``checkpoint_dir/step_<n>``, written under a temporary name and
renamed; a search started again on the same stage-I GAN resumes from the newest one and ends as if never stopped.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench import interrupts
from bench.config import TrainConfig
from bench.files import reading, storage_error
from bench.generator_training import latest_checkpoint, promote_checkpoint
from bench.pairs import PairSet
from bench.segmentation.models import build_model
from bench.segmentation.trainer import SegmentationLoss
from methods.genseg.augment import augment_masks
from methods.genseg.hypergradient import architecture_gradient
from methods.genseg.networks import MaskToImageGAN
from methods.genseg.options import GenSegOptions
from methods.synthmed.pix2pix import image_gan_losses

ARCH_BETAS = (0.5, 0.999)
ARCH_WEIGHT_DECAY = 1e-5
SEG_MOMENTUM = 0.9
SEG_WEIGHT_DECAY = 1e-8
STATE_FILE = "search_state.pt"


def search_architecture(
    model: MaskToImageGAN,
    fit: PairSet,
    val: PairSet,
    o: GenSegOptions,
    train_cfg: TrainConfig,
    seed: int,
    device: torch.device,
    callback: Callable[[int, float], None] | None = None,
    checkpoint_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the search on ``model`` in place (its weights, discriminator and ``arch`` change).

    Args:
        model: the stage-I GAN, on ``device``.
        fit: the pairs the generator and the inner segmenter train on.
        val: the validation pairs whose loss steers the architecture.
        o: the options (``search_steps``, ``batch``, ``seg_lr``, ``arch_lr``, ...).
        train_cfg: the run's downstream config (the inner segmenter's size knobs and loss).
        seed: seeds the segmenter's initialisation, the batches and the augmentations.
        device: where to compute.
        callback: ``(step, validation loss)`` after every step (after its checkpoint).
        checkpoint_dir: folder of ``step_<n>`` checkpoints, every ``o.checkpoint_every`` steps (none for 0); the
            newest complete one is resumed from.

    Returns:
        The log: per step ``val_loss`` (after the virtual step), the hypergradient's norm ``arch_grad`` and the
        GAN losses (``discriminator``, ``generator``); ``steps``, ``seconds`` (summed over interrupted attempts)
        and ``resumed_from`` (the step this call started from).
    """
    channels, size = int(fit.images.shape[1]), int(fit.images.shape[-1])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        segmenter = build_model(o.segmenter, channels, 2, size, train_cfg).to(device)
    segmenter.train()
    model.train()
    loss_fn = SegmentationLoss(train_cfg.loss)
    rng, generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    images, masks = fit.images.to(device), fit.masks.to(device)
    val_images, val_masks = val.images.to(device), val.masks.to(device)
    gan_losses = image_gan_losses(images * 2 - 1, masks[:, None].float() * 2 - 1, o)
    parts = {"generator": model.generator, "discriminator": model.discriminator}
    arch = model.arch.requires_grad_(True)
    weights = [p for name, p in model.generator.named_parameters() if name != "arch"]
    gan_optimizers = {
        "discriminator": torch.optim.Adam(model.discriminator.parameters(), lr=o.lr, betas=(o.beta1, 0.999)),
        "generator": torch.optim.Adam(weights, lr=o.lr, betas=(o.beta1, 0.999)),
    }
    seg_params = [p for p in segmenter.parameters() if p.requires_grad]
    seg_optimizer = torch.optim.RMSprop(seg_params, lr=o.seg_lr, momentum=SEG_MOMENTUM, weight_decay=SEG_WEIGHT_DECAY)
    arch_optimizer = torch.optim.Adam([arch], lr=o.arch_lr, betas=ARCH_BETAS, weight_decay=ARCH_WEIGHT_DECAY)
    log: dict[str, list[float]] = {"val_loss": [], "arch_grad": [], "discriminator": [], "generator": []}
    saved = {"model": model, "segmenter": segmenter, "seg_optimizer": seg_optimizer, "arch_optimizer": arch_optimizer}
    saved.update({f"{name}_optimizer": optimizer for name, optimizer in gan_optimizers.items()})
    streams = _Streams(rng, generator, device)
    resumed, seconds_before = _resume(checkpoint_dir, saved, streams, log)
    start = time.perf_counter()
    for step in range(resumed + 1, o.search_steps + 1):
        # 1. Stage I: one GAN step on the real pairs
        for name, optimizer in gan_optimizers.items():
            optimizer.zero_grad(set_to_none=True)
            loss = gan_losses[name](parts, generator)
            loss.backward()
            optimizer.step()
            log[name].append(float(loss.detach()))
        # 2. The batch: real pairs, their masks augmented, and the images generated from those
        index = torch.from_numpy(rng.choice(len(fit), size=o.batch, replace=len(fit) < o.batch)).to(device)
        real_x, real_y = images[index], masks[index]
        fake_y = augment_masks(real_y, rng)
        fake_x = (model.translate(fake_y[:, None].float() * 2 - 1) + 1) / 2
        train_loss, generated_loss = _batch_losses(segmenter, loss_fn, (real_x, real_y), (fake_x, fake_y), o)
        # 3. Stage III: the architecture's step on the hypergradient of the validation loss
        arch_grad, seg_grads, val_loss = architecture_gradient(
            seg_params,
            arch,
            train_loss,
            generated_loss,
            lambda: loss_fn(segmenter(val_images), val_masks),
            o.seg_lr,
            o.fd_epsilon,
        )
        arch_optimizer.zero_grad(set_to_none=True)
        arch.grad = arch_grad
        arch_optimizer.step()
        # 4. Stage II: the inner segmenter's step on real + generated pairs
        seg_optimizer.zero_grad(set_to_none=True)
        for p, g in zip(seg_params, seg_grads):
            p.grad = g
        seg_optimizer.step()
        log["val_loss"].append(val_loss)
        log["arch_grad"].append(float(arch_grad.norm()))
        every = o.checkpoint_every
        if checkpoint_dir is not None and every > 0 and (step % every == 0 or step == o.search_steps):
            state = {"step": step, "seconds": seconds_before + time.perf_counter() - start, "log": log}
            state.update(streams.state(), parts={name: part.state_dict() for name, part in saved.items()})
            _save(checkpoint_dir, step, state)
        if callback is not None:
            callback(step, val_loss)
    arch.requires_grad_(False)
    model.eval()
    seconds = seconds_before + time.perf_counter() - start
    return {**log, "seconds": seconds, "steps": o.search_steps, "resumed_from": resumed}


class _Streams:
    """The search's random streams: its numpy and torch generators, and torch's global ones (a segmenter with
    dropout draws from those)."""

    def __init__(self, rng: np.random.Generator, generator: torch.Generator, device: torch.device) -> None:
        self.rng, self.generator, self.cuda = rng, generator, device if device.type == "cuda" else None

    def state(self) -> dict[str, Any]:
        cuda = torch.cuda.get_rng_state(self.cuda) if self.cuda is not None else None
        return {"numpy": self.rng.bit_generator.state, "generator": self.generator.get_state(),
                "torch": torch.get_rng_state(), "cuda": cuda}  # fmt: skip

    def load(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["numpy"]
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch"])
        if self.cuda is not None and state["cuda"] is not None:
            torch.cuda.set_rng_state(state["cuda"], self.cuda)


def _resume(
    checkpoint_dir: Path | None, saved: dict[str, Any], streams: _Streams, log: dict[str, list[float]]
) -> tuple[int, float]:
    """Load the newest checkpoint into the networks, optimisers, streams and log; ``(step, seconds)`` it had
    reached, ``(0, 0.0)`` without one."""
    resume = latest_checkpoint(checkpoint_dir)
    if resume is None:
        return 0, 0.0
    with reading(resume / STATE_FILE, "a GenSeg search checkpoint", f"delete {resume} to start the search over"):
        state = torch.load(resume / STATE_FILE, map_location="cpu", weights_only=True)
    for name, part in saved.items():
        part.load_state_dict(state["parts"][name])
    streams.load(state)
    log.update({k: list(v) for k, v in state["log"].items()})
    interrupts.kept(resume)
    return int(state["step"]), float(state["seconds"])


def _save(checkpoint_dir: Path, step: int, state: dict[str, Any]) -> None:
    """``torch.save`` into a hidden temporary folder, rename it to ``step_<n>``, then drop older checkpoints."""
    final = checkpoint_dir / f"step_{step:08d}"
    staging = checkpoint_dir / f".step_{step:08d}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        torch.save(state, staging / STATE_FILE)
    except Exception as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise (storage_error(e, final) or e) from e
    promote_checkpoint(staging, final, checkpoint_dir)


def _batch_losses(
    segmenter: torch.nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    real: tuple[torch.Tensor, torch.Tensor],
    fake: tuple[torch.Tensor, torch.Tensor],
    o: GenSegOptions,
) -> tuple[Callable[[], torch.Tensor], Callable[[], torch.Tensor]]:
    """The inner segmenter's loss on one batch (real + weighted generated pairs, the generated images detached)
    and the generated part alone through the generator's graph, which the hypergradient needs."""

    def train_loss() -> torch.Tensor:
        return loss_fn(segmenter(real[0]), real[1]) + o.fake_weight * loss_fn(segmenter(fake[0].detach()), fake[1])

    def generated_loss() -> torch.Tensor:
        return o.fake_weight * loss_fn(segmenter(fake[0]), fake[1])

    return train_loss, generated_loss
