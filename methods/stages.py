"""Method stages: computed once per content key, reused by every run that shares them, safe to run concurrently.

A stage (a trained network, a set of samples, a selection) lives in ``<workdir>/<role>/<hash>/``, where the hash
covers everything that made it: the stage's resolved options, the upstream stages' hashes, the training-data
fingerprint and the seed. ``key.json`` in the folder holds those key inputs and ``done.json``, written last,
marks the stage complete; a folder without it is unfinished work that its stage resumes (from its own
checkpoints) or redoes.

Concurrency: the main process holds a file lock (``<workdir>/.locks/<role>-<hash>.lock``) while it checks and
computes, so a second run that needs the same stage (another terminal, a sweep started twice) waits and then
reuses it. Processes:
a data-parallel stage is computed by every process of the run (``everyone=True``), any other by the main
process alone while the others wait; only the main process writes. A ``cached_only`` context
(:class:`~methods.base.MethodContext`) takes no lock and writes nothing: it loads complete stages or refuses.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import zlib
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from accelerate import PartialState
from accelerate.utils import broadcast_object_list
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import SAFETENSORS_WEIGHTS_NAME

from bench import interrupts
from bench.config import config_hash
from bench.files import locked, write_csv, write_json, writing
from bench.generator_training import StepCallback, TrainLog
from methods.base import MethodContext

logger = logging.getLogger(__name__)

DONE = "done.json"


class StageNotCached(LookupError):
    """A stage a ``cached_only`` context needs is not complete in its cache folder."""


@dataclass
class Stage:
    """One stage folder after :func:`cached_stage`.

    Attributes:
        role: the stage's role name (folder level under the workdir).
        digest: the content hash of its key.
        folder: ``<workdir>/<role>/<digest>``.
        reused: True when the stage was complete before this call.
        done: the contents of ``done.json`` (what the stage recorded when it finished, e.g. its seconds).
    """

    role: str
    digest: str
    folder: Path
    reused: bool
    done: dict[str, Any]


def cached_stage(
    ctx: MethodContext, key: dict[str, Any], compute: Callable[[Path], dict[str, Any]], everyone: bool = False
) -> Stage:
    """Compute a stage unless its folder is complete; ``ctx.force`` recomputes it.

    Args:
        ctx: the run context (``workdir``, ``force``).
        key: the stage's key inputs; ``key["role"]`` names the stage.
        compute: ``folder -> record``: does the work in ``folder`` (writing only on the main process) and returns
            what ``done.json`` records (JSON-serialisable, e.g. ``{"seconds": 12.3}``).
        everyone: every process calls ``compute`` (data-parallel training, sharded sampling); otherwise only the
            main process does.

    Returns:
        The Stage, complete on every process.

    Raises:
        StageNotCached: with ``ctx.cached_only``, when the stage is not complete (nothing is created or written).
    """
    state = PartialState()
    digest = config_hash(key)
    folder = Path(ctx.workdir) / key["role"] / digest
    if ctx.cached_only:
        if not (folder / DONE).is_file():
            raise StageNotCached(f"its {key['role']} is not in the cache {Path(ctx.workdir)}")
        return Stage(key["role"], digest, folder, True, json.loads((folder / DONE).read_text()))
    lock = Path(ctx.workdir) / ".locks" / f"{key['role']}-{digest}"
    with locked(lock) if state.is_main_process else nullcontext():
        reused = False
        if state.is_main_process:
            if ctx.force and folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True, exist_ok=True)
            write_json(folder / "key.json", key)
            reused = (folder / DONE).is_file()
        reused = broadcast_object_list([reused])[0]
        if not reused and (everyone or state.is_main_process):
            with interrupts.step(f"stage {key['role']} ({folder})"), writing(folder, in_writer=False):
                record = compute(folder)
            if state.is_main_process:
                write_json(folder / "key.json", key)  # again: ``compute`` may have replaced the folder
                write_json(folder / DONE, record)
        state.wait_for_everyone()
    interrupts.kept(folder)
    if reused:
        logger.info("reusing %s in %s", key["role"], folder)
    return Stage(key["role"], digest, folder, reused, json.loads((folder / DONE).read_text()))


def train_network(
    ctx: MethodContext,
    folder: Path,
    model: ModelMixin,
    fit: Callable[[Path, StepCallback | None], TrainLog],
    total: int,
    description: str | None = None,
) -> dict[str, Any]:
    """Train a network stage and save it the diffusers way; the ``compute`` of a data-parallel stage.

    Args:
        ctx: the run context (its progress bar gets a task named after the stage).
        folder: the stage folder; checkpoints go to ``folder/checkpoints`` while training.
        model: a diffusers ``ModelMixin``; ``save_pretrained(folder)`` on the main process when trained, beside
            ``train_log.json`` and ``losses.csv`` (the loss of every step, per part for a multi-part model).
        fit: ``(checkpoint_dir, callback) -> TrainLog``, the stage's training call.
        total: optimiser steps, for the progress bar.
        description: the progress bar's label; default: the method and the stage (``diffuseexpand denoiser``).

    Returns:
        The ``done.json`` record: seconds, steps and processes of the training.
    """
    description = description or f"{Path(ctx.workdir).name} {folder.parent.name}"
    log = fit(folder / "checkpoints", progress_callback(ctx, description, total))
    if PartialState().is_main_process:
        with writing(folder / SAFETENSORS_WEIGHTS_NAME):
            model.save_pretrained(folder)
        write_json(folder / "train_log.json", log.to_json())
        parts = list(log.part_losses)
        rows = ([i + 1, loss, *(log.part_losses[p][i] for p in parts)] for i, loss in enumerate(log.losses))
        write_csv(folder / "losses.csv", ["step", "loss", *parts], rows)
        shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    return {"seconds": log.seconds, "steps": log.steps, "processes": log.processes}


def training_history(*stages: Stage) -> dict[str, list[float]]:
    """The per-step losses of trained network stages, from their ``train_log.json``: ``<role>/loss`` and, for a
    multi-part model, ``<role>/<part>`` (what W&B plots); a stage without a log adds nothing."""
    history: dict[str, list[float]] = {}
    for stage in stages:
        path = stage.folder / "train_log.json"
        if path.is_file():
            log = json.loads(path.read_text())
            history[f"{stage.role}/loss"] = log["losses"]
            history.update({f"{stage.role}/{part}": v for part, v in log.get("part_losses", {}).items()})
    return history


def stage_options(options: Any, *names: str, prefix: str | None = None) -> dict[str, Any]:
    """The options a stage's key covers: ``names`` plus every field starting with ``prefix``, so that a new
    network option can never be left out of its stage's key by accident; an option added later is left out at
    the value that trains as before it existed (the options class's ``KEYED_ONLY_IF_NOT``), so that stages
    trained before it are reused."""
    neutral = getattr(options, "KEYED_ONLY_IF_NOT", {})
    return {
        f.name: getattr(options, f.name)
        for f in dataclasses.fields(options)
        if (f.name in names or (prefix is not None and f.name.startswith(prefix)))
        and not (f.name in neutral and getattr(options, f.name) == neutral[f.name])
    }


def stage_seed(seed: int, role: str) -> int:
    """A stage's seed, derived from the run seed and the role name."""
    return int(np.random.SeedSequence([seed, zlib.crc32(role.encode())]).generate_state(1)[0] >> 1)


def progress_callback(ctx: MethodContext, description: str, total: int) -> Callable[[int, float | None], None] | None:
    """A ``(step, loss)`` callback that moves a task of ``ctx.progress`` and, for training (a loss given), shows the
    loss smoothed over about 50 steps because one diffusion batch's loss is mostly noise (None without progress)."""
    if ctx.progress is None:
        return None
    task = ctx.progress.add_task(description, total=total)
    smoothed: list[float] = []

    def update(step: int, loss: float | None = None) -> None:
        if loss is None:
            ctx.progress.update(task, completed=step)
            return
        smoothed[:] = [loss if not smoothed else 0.98 * smoothed[0] + 0.02 * loss]
        ctx.progress.update(task, completed=step, description=f"{description} loss {smoothed[0]:.4f}")

    return update
