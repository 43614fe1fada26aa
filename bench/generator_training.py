"""The one training loop of every generator network (denoiser, segmenter, GANs), on Hugging Face Accelerate.

A model is trained for a fixed number of optimiser steps on a *batch loss*: a function ``(model, generator) ->
scalar loss`` that draws its batch and noise from the given ``torch.Generator`` only. That makes a run
reproducible and resumable: the generator's state is part of every checkpoint.

What the loop adds around the loss:

* **processes**: under ``accelerate launch`` or ``torchrun`` the model is wrapped for distributed data parallel
  (NCCL on GPUs, gloo on CPUs); each process draws its own batches (rank 0 from ``seed``, so a one-process run
  is the plain single-device run) and gradients are averaged, so the effective batch is ``processes x batch``;
* **gradient accumulation** over ``grad_accumulation`` micro-batches per optimiser step;
* **bf16 autocast** on CUDA when ``mixed_precision`` (applied here rather than through ``Accelerator``'s
  process-wide mixed-precision mode, because each stage chooses its own);
* **EMA** of the weights through diffusers' ``EMAModel``, copied into the model at the end;
* **checkpoints** every ``checkpoint_every`` steps with ``Accelerator.save_state`` into
  ``checkpoint_dir/step_<n>``, written under a temporary name and renamed, so a killed run resumes from the
  last complete one (``load_state``) and continues the same random stream;
* one **callback** ``(step, loss)`` per optimiser step (progress bars, loss logs), on the main process only.

Adversarial training (a generator against a discriminator) uses the same loop: ``batch_loss`` is then a mapping
``{part: loss}`` over submodules of ``model``; each part has its own optimiser and schedule, and every step runs
the parts' losses in the mapping's order, each followed by its own optimiser step.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import InitProcessGroupKwargs, gather_object
from torch import nn

from bench import interrupts
from bench.files import storage_error

logger = logging.getLogger(__name__)

BatchLoss = Callable[[nn.Module, torch.Generator], torch.Tensor]
PartLoss = Callable[[dict[str, nn.Module], torch.Generator], torch.Tensor]
"""The loss of one part of a multi-part model, given every part (wrapped for the run's processes)."""
StepCallback = Callable[[int, float], None]

PROCESS_GROUP_TIMEOUT = timedelta(hours=12)
"""How long a process waits for the others (rank 0 trains the downstream networks alone meanwhile)."""


@dataclass
class TrainLog:
    """What a training loop did.

    Attributes:
        losses: loss of every optimiser step on the main process, resumed steps included (the sum over parts
            for a multi-part model).
        part_losses: a multi-part model's losses per part and step (empty for one model).
        seconds: wall-clock training time, summed over interrupted attempts.
        steps: optimiser steps done.
        resumed_from: the step the last call started from (0 for a fresh run).
        processes: how many processes trained together.
    """

    losses: list[float] = field(default_factory=list)
    part_losses: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    steps: int = 0
    resumed_from: int = 0
    processes: int = 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def process_state(device: torch.device | str = "cpu") -> PartialState:
    """The process group of this run (one process unless launched by ``accelerate launch`` / ``torchrun``).

    The first call fixes the backend for the life of the process: gloo when ``device`` is the CPU.
    """
    kwargs = InitProcessGroupKwargs(timeout=PROCESS_GROUP_TIMEOUT).to_kwargs()
    return PartialState(cpu=torch.device(device).type == "cpu", **kwargs)


def autocast_context(device: torch.device, enabled: bool = True) -> torch.autocast:
    """bf16 autocast on CUDA; disabled elsewhere (bf16 matmuls are slower than fp32 on common CPUs)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


class _LoopState:
    """The loop's own resumable state: step, losses, seconds and every process's generator state."""

    def __init__(self, generator: torch.Generator, log: TrainLog) -> None:
        self.generator, self.log = generator, log

    def state_dict(self) -> dict[str, Any]:
        return {
            "generators": gather_object([self.generator.get_state()]),
            "step": self.log.steps,
            "losses": torch.tensor(self.log.losses, dtype=torch.float64),
            "part_losses": {k: torch.tensor(v, dtype=torch.float64) for k, v in self.log.part_losses.items()},
            "seconds": self.log.seconds,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generators"][PartialState().process_index])
        self.log.steps = self.log.resumed_from = int(state["step"])
        self.log.losses = [float(v) for v in state["losses"]]
        self.log.part_losses = {k: [float(x) for x in v] for k, v in state.get("part_losses", {}).items()}
        self.log.seconds = float(state["seconds"])


def train_loop(
    model: nn.Module,
    batch_loss: BatchLoss | Mapping[str, PartLoss],
    *,
    steps: int,
    lr: float,
    seed: int,
    device: torch.device | str,
    lr_schedule: str,
    ema_decay: float,
    mixed_precision: bool,
    betas: tuple[float, float] = (0.9, 0.999),
    grad_accumulation: int = 1,
    checkpoint_dir: Path | None = None,
    checkpoint_every: int = 0,
    callback: StepCallback | None = None,
) -> TrainLog:
    """AdamW training with optional EMA and resumable checkpoints; leaves the (EMA) weights in ``model``.

    Args:
        model: the network; moved to the process's device, left in eval mode at the end (unwrapped).
        batch_loss: ``(model, generator) -> scalar loss`` of one micro-batch; draws everything random from
            ``generator`` (a CPU generator) so that a resumed run continues the same random stream. For
            adversarial training, a mapping ``{part: loss}`` where each ``part`` names a submodule of ``model``
            (e.g. ``{"discriminator": ..., "generator": ...}``) and each loss is ``(parts, generator) -> scalar``,
            ``parts`` being ``{part: module}`` of the wrapped submodules. Gradients are cleared before each part's
            loss, so a loss may back-propagate through another part without disturbing it.
        steps: total optimiser steps.
        lr: peak learning rate (AdamW, weight decay 0), the same for every part.
        seed: seeds rank 0's generator; rank r > 0 uses ``(seed, r)``.
        device: compute device of a one-process run (a multi-process run uses each process's own device).
        lr_schedule: diffusers schedule name, e.g. ``"linear"`` (decay to 0 at ``steps``) or ``"constant"``.
        ema_decay: EMA decay (warm-up ``(1 + n) / (10 + n)`` capped at the decay); ``0`` disables EMA.
        mixed_precision: bf16 autocast when the device is CUDA.
        betas: AdamW's betas (GANs use ``(0.5, 0.999)``).
        grad_accumulation: micro-batches per optimiser step.
        checkpoint_dir: folder of ``step_<n>`` checkpoints; the newest complete one is resumed from.
        checkpoint_every: optimiser steps between checkpoints (and one at the end); ``0`` writes none.
        callback: called on the main process after every optimiser step with ``(step, loss)`` (1-based).

    Returns:
        TrainLog of the whole run (resumed steps included).

    Raises:
        FloatingPointError: if a loss becomes NaN or infinite.
        ValueError: if a part named in ``batch_loss`` is not a submodule of ``model``.
    """
    # 1. Processes, device, generator
    state = process_state(device)
    accelerator = Accelerator(cpu=state.device.type == "cpu", device_placement=False)
    device = torch.device(device) if state.num_processes == 1 else state.device
    rank = state.process_index
    generator = torch.Generator().manual_seed(
        seed if rank == 0 else int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])
    )

    # 2. Parts, optimisers, schedules, EMA; the checkpointed state (diffusers imported here: 2.8 s that a run of a
    # method without a generator to train never pays)
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel

    single = not isinstance(batch_loss, Mapping)
    losses = {"": batch_loss} if single else dict(batch_loss)
    modules = {"": model} if single else {name: getattr(model, name, None) for name in losses}
    missing = [name for name, module in modules.items() if not isinstance(module, nn.Module)]
    if missing:
        raise ValueError(f"{type(model).__name__} has no submodule named {', '.join(missing)}")
    model.to(device)
    optimizers = [torch.optim.AdamW(m.parameters(), lr=lr, betas=betas, weight_decay=0.0) for m in modules.values()]
    prepared = accelerator.prepare(*modules.values(), *optimizers)
    wrapped = dict(zip(modules, prepared[: len(modules)]))
    optimizers = dict(zip(modules, prepared[len(modules) :]))
    schedules = [
        get_scheduler(lr_schedule, o.optimizer, num_warmup_steps=0, num_training_steps=steps)
        for o in optimizers.values()
    ]
    ema = EMAModel(model.parameters(), decay=ema_decay) if ema_decay > 0 else None
    log = TrainLog(processes=state.num_processes)
    loop_state = _LoopState(generator, log)
    accelerator.register_for_checkpointing(*schedules, loop_state, *([ema] if ema is not None else []))
    resume = latest_checkpoint(checkpoint_dir)
    if resume is not None:
        accelerator.load_state(str(resume))
        interrupts.kept(resume)
        if ema is not None:
            ema.to(device)
        logger.info("resuming from %s at step %d/%d", resume, log.steps, steps)

    # 3. Optimiser steps of `grad_accumulation` micro-batches each, part after part
    for module in wrapped.values():
        module.train()
    start, seconds_before = time.perf_counter(), log.seconds
    for step in range(log.steps + 1, steps + 1):
        totals = {}
        for (name, loss_fn), schedule in zip(losses.items(), schedules):
            for optimizer in optimizers.values():
                optimizer.zero_grad(set_to_none=True)
            totals[name] = 0.0
            for micro in range(grad_accumulation):
                sync = micro == grad_accumulation - 1
                with accelerator.no_sync(wrapped[name]) if not sync else nullcontext():
                    with autocast_context(device, mixed_precision):
                        loss = loss_fn(wrapped[name] if single else wrapped, generator)
                    accelerator.backward(loss.float() / grad_accumulation)
                totals[name] += float(loss.detach()) / grad_accumulation
            if not math.isfinite(totals[name]):
                part = f" of {name}" if name else ""
                raise FloatingPointError(f"training loss{part} is {totals[name]} at step {step}")
            optimizers[name].step()
            schedule.step()
        for optimizer in optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.step(model.parameters())
        total = sum(totals.values())
        log.losses.append(total)
        if not single:
            for name, value in totals.items():
                log.part_losses.setdefault(name, []).append(value)
        log.steps = step
        log.seconds = seconds_before + time.perf_counter() - start
        if checkpoint_dir is not None and checkpoint_every > 0 and (step % checkpoint_every == 0 or step == steps):
            _save_checkpoint(accelerator, checkpoint_dir, step)
        if callback is not None and state.is_main_process:
            callback(step, total)

    # 4. EMA weights into the plain model
    if ema is not None:
        ema.copy_to(model.parameters())
    model.eval()
    if accelerator.device.type != "cpu":  # hand the optimiser's device memory back before the next stage
        accelerator.free_memory()
    return log


def latest_checkpoint(checkpoint_dir: Path | None) -> Path | None:
    """The newest complete ``step_<n>`` folder under ``checkpoint_dir`` (None when there is none)."""
    if checkpoint_dir is None or not checkpoint_dir.is_dir():
        return None
    done = sorted(p for p in checkpoint_dir.glob("step_*") if p.is_dir() and p.name[5:].isdigit())
    return max(done, key=lambda p: int(p.name[5:])) if done else None


def _save_checkpoint(accelerator: Accelerator, checkpoint_dir: Path, step: int) -> None:
    """``save_state`` into a hidden temporary folder, rename it to ``step_<n>``, then drop older checkpoints."""
    final = checkpoint_dir / f"step_{step:08d}"
    staging = checkpoint_dir / f".step_{step:08d}.partial"
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    accelerator.wait_for_everyone()
    try:
        accelerator.save_state(str(staging))
    except Exception as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise (storage_error(e, final) or e) from e
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        promote_checkpoint(staging, final, checkpoint_dir)
    accelerator.wait_for_everyone()


def promote_checkpoint(staging: Path, final: Path, checkpoint_dir: Path) -> None:
    """Make a fully written checkpoint folder the newest one, record it as kept, and drop the older ``step_*``."""
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    interrupts.kept(final)
    for old in checkpoint_dir.glob("step_*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
