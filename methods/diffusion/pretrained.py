"""A stage-I denoiser pretrained on a larger pair set of the same modality (``bench pretrain``), as the paper starts
from an ImageNet model: the folder's fingerprint for stage keys (:mod:`methods.diffusion.recipe` reads its record),
the refusal of a test split that the pretraining saw, and the training of a denoiser into a folder with its noise
schedule (a pretraining's or a run's).

A pretraining folder is a diffusers model folder (``config.json``, ``diffusion_pytorch_model.safetensors``,
``scheduler_config.json``) plus ``pretrain.json``, written last: what made it (method, data set name, pair count and
fingerprint, size, options, seed, steps, seconds, versions) and ``image_hashes``, the content hash of every image
it trained on (:func:`bench.data.image_hashes`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accelerate import PartialState

from bench.config import ConfigError, TrainConfig
from bench.data import image_hashes
from bench.files import reading
from bench.generator_training import StepCallback, TrainLog
from bench.pairs import PairSet
from methods.base import MethodContext
from methods.diffusion.recipe import RECORD, REMAKE, SCHEDULE, WEIGHTS, made_by_bench, pretraining_of, read_record
from methods.diffusion.schedule import noise_scheduler, training_schedule
from methods.stages import stage_seed, train_network

OPTION = "--option pretrained"


def fingerprints(folder: str | Path | None) -> dict[str, str]:
    """``{"pretrained": fingerprint}`` for a ``bench pretrain`` folder, for run and stage keys; else empty."""
    return {"pretrained": fingerprint(folder)} if made_by_bench(folder) else {}


def fingerprint(folder: str | Path) -> str:
    """A content hash of the record and the weights: what a fine-tuned stage's key holds instead of a path."""
    read_record(folder)  # a folder missing its weights is refused here, named, before anything hashes it
    h = hashlib.sha1((Path(folder) / RECORD).read_bytes())
    h.update((Path(folder) / WEIGHTS).read_bytes())
    return h.hexdigest()[:16]


def refuse_overlap(folder: str | Path, test: PairSet, flag: str = "--option pretrained") -> None:
    """Refuse a test split that holds an image the pretraining trained on (same pixels at the loaded size, under
    any name): a generator that has seen the test images would make the benchmark's gain a leak.

    Raises:
        ConfigError: naming the folder and up to five of the test images.
    """
    record = read_record(folder, flag)
    if record["size"] != int(test.images.shape[-1]):
        raise ConfigError(
            f"{flag}: {folder} was pretrained at {record['size']} x {record['size']}, this run loads "
            f"{test.images.shape[-1]} x {test.images.shape[-1]}"
        )
    seen = set(record["image_hashes"])
    shared = [i for i, h in zip(test.ids, image_hashes(test)) if h in seen]
    if shared:
        raise ConfigError(
            f"{flag}: {folder} was pretrained on {len(shared)} of this run's {len(test)} test images "
            f"({', '.join(shared[:5])}{', ...' if len(shared) > 5 else ''}); pretrain on a set without them"
        )


def copy_weights(model: Any, source: Any, folder: str | Path) -> Any:
    """``model`` (the run's own network) with the weights of ``source`` (the network loaded from ``folder``); a
    network of another shape is refused, naming what differs."""
    own, theirs = model.state_dict(), source.state_dict()
    differ = sorted(
        k for k in own.keys() | theirs.keys() if k not in own or k not in theirs or own[k].shape != theirs[k].shape
    )
    if differ:
        raise ConfigError(
            f"--option pretrained: {folder} holds another network than this run's ({len(differ)} tensors differ, "
            f"e.g. {differ[0]}); pretrain with the run's --preset and denoiser options"
        )
    model.load_state_dict(theirs)
    return model


Build = Callable[[int], Any]
"""``seed -> network``: a method's stage-I denoiser, initialised from the seed (or from its ``pretrained`` folder)."""
Fit = Callable[..., TrainLog]
"""A method's ``fit(model, pairs, o, *, seed, device, checkpoint_dir, callback) -> TrainLog`` of its denoiser."""


def denoiser_training(
    build: Build, fit: Fit, pairs: PairSet, o: Any, seed: int, device: Any
) -> tuple[Any, Callable[[Path, StepCallback | None], TrainLog]]:
    """The stage-I network and the ``(checkpoint_dir, callback)`` call that trains it on ``pairs``, seeded from
    ``seed`` the one way a run and a pretraining both derive it."""
    model = build(stage_seed(seed, "denoiser"))
    train_seed = stage_seed(seed, "denoiser-train")

    def train(checkpoints: Path, callback: StepCallback | None) -> TrainLog:
        return fit(model, pairs, o, seed=train_seed, device=device, checkpoint_dir=checkpoints, callback=callback)

    return model, train


def train_with_schedule(
    ctx: MethodContext,
    folder: Path,
    model: Any,
    fit: Callable[[Path, StepCallback | None], TrainLog],
    steps: int,
    prediction: str,
    description: str | None = None,
) -> dict[str, Any]:
    """Train ``model`` into ``folder`` (:func:`methods.stages.train_network`, labelled ``description``) and save
    beside it the forward process it learned to reverse, which a sampler and a fine-tune read back."""
    record = train_network(ctx, folder, model, fit, total=steps, description=description)
    if PartialState().is_main_process:
        noise_scheduler(training_schedule(prediction)).save_config(folder)
    return record


def pretrain_network(
    build: Build, fit: Fit, pairs: PairSet, o: Any, folder: Path, *, seed: int, device: Any, progress: Any
) -> dict[str, Any]:
    """A method's ``pretrain``: its denoiser (``build``, ``fit``) trained on ``pairs`` with the options ``o`` into
    ``folder`` (checkpoints in ``folder/checkpoints`` while it trains, so a killed pretraining resumes), saved with
    its noise schedule.

    Returns:
        What it cost: ``{"steps", "seconds"}``.
    """
    model, train = denoiser_training(build, fit, pairs, o, seed, device)
    ctx = MethodContext(workdir=folder.parent, seed=seed, device=device, train=TrainConfig(), progress=progress)
    record = train_with_schedule(
        ctx, folder, model, train, o.denoiser_steps, o.prediction, description=f"pretraining {folder.name}"
    )
    return {"steps": record["steps"], "seconds": record["seconds"]}


class PretrainedStart:
    """What a method whose options have ``pretrained`` adds to a run (mixed in before ``ExpansionMethod``): the
    refusal of a test split the pretraining saw, and the folder's fingerprint in the run key."""

    name: str  # the method's registry name (ExpansionMethod's)
    adapts_plain_unet = False  # True where a plain diffusers UNet folder is adapted (DiffuseExpand's networks.py)

    @classmethod
    def check_split(cls, options: Any, test: PairSet) -> None:
        if options.pretrained is None:
            return
        if not Path(options.pretrained).is_dir():
            raise ConfigError(f"--option pretrained: {options.pretrained} is not a folder")
        if not made_by_bench(options.pretrained):
            if not cls.adapts_plain_unet:
                read_record(options.pretrained)  # refuses: only a `bench pretrain` folder fits this method
            return
        pretraining_of(options.pretrained, cls.name)
        with reading(Path(options.pretrained) / SCHEDULE, "a diffusers scheduler config (JSON)", REMAKE, OPTION):
            schedule = json.loads((Path(options.pretrained) / SCHEDULE).read_text())
        trained_as = schedule.get("prediction_type", "epsilon")
        if trained_as != options.prediction:
            raise ConfigError(
                f"--option pretrained: {options.pretrained} was pretrained with prediction={trained_as}, this run "
                f"trains prediction={options.prediction}; pretrain with --option prediction={options.prediction}"
            )
        refuse_overlap(options.pretrained, test)

    @classmethod
    def input_fingerprints(cls, options: Any) -> dict[str, str]:
        return fingerprints(options.pretrained)
