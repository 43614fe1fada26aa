"""What a user asks ``bench run`` for, and the checks of its own values (before any preset or method is read)."""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import tracking
from bench.config import AUGMENTS, MODELS, TRAIN_ON, ConfigError, TrainConfig, check_type, merge_options, preset
from bench.masks import MaskReading
from bench.splits import FULL_RATIO, MIN_SPLIT_PAIRS, check_train_ratio
from bench.testsets import check_names
from methods import METHODS, check_ablation, method_entry, method_options, unknown_choice
from methods.diffusion.recipe import PretrainedRecipe, read_recipe


@dataclass
class Request:
    """What a user asks ``bench run`` for. ``None`` means "the preset's value"."""

    method: str = "diffuseexpand"
    ablation: str | None = None
    dataset: str = "demo"
    models: tuple[str, ...] = ("unet",)
    seeds: tuple[int, ...] = (0,)
    train_ratio: float = FULL_RATIO
    augment: str = "none"
    train_on: str = "real+synthetic"
    preset: str = "cpu"
    out: Path = Path("runs")
    n_synthetic: int | None = None
    image_size: int | None = None
    channels: int = 1
    method_options: dict[str, Any] = field(default_factory=dict)
    train_options: dict[str, Any] = field(default_factory=dict)
    wandb: str = "auto"
    force: bool = False
    device: str | None = None
    allow_empty_test: bool = False
    inception_weights: Path | None = None
    group: str | None = None  # W&B group; None: one new group per invocation
    masks: MaskReading = MaskReading()  # how mask files are read (--mask-threshold, --mask-suffix)
    train_pairs: int | None = None  # an exact count of training pairs, instead of train_ratio
    test_sets: tuple[str, ...] = ()  # external test sets (bench.testsets); () the card's defaults


MIN_IMAGE_SIZE = 16  # the smallest input every downstream model takes


def check_request(req: Request) -> tuple[str, int]:
    """Every check of a request that needs neither its method's code nor its data, in the order :func:`plan` makes
    them (so the same error comes first); cheap enough for the CLI to run before it imports torch.

    Returns:
        The ablation variant the request selects and the image size it trains at.

    Raises:
        ConfigError: naming the option.
    """
    checked = checked_request(req)
    return checked.ablation, checked.image_size


@dataclass(frozen=True)
class CheckedRequest:
    """A request whose own checks passed (:func:`checked_request`), with what they found: its ablation, its image
    size and, where its method's options import without the method's code, :func:`resolve_options`'s result (None
    otherwise). Handed from a verb's early checks to :func:`bench.runner.planning.plan`, so that one invocation
    resolves a request's options once. ``request`` is a copy of the request as checked: one changed since is
    checked again, never planned with what its earlier values resolved to."""

    request: Request
    ablation: str
    image_size: int
    resolved: tuple[Any, TrainConfig, int] | None


def checked_request(req: Request) -> CheckedRequest:
    """:func:`check_request`'s checks and its result, with the options resolved on the way where that needs no
    method code."""
    p = preset(req.preset)
    try:
        ablation = check_ablation(req.method, req.ablation)
    except KeyError as e:
        raise ConfigError(e.args[0]) from None
    for name, value, allowed in (("augment", req.augment, AUGMENTS), ("train-on", req.train_on, TRAIN_ON)):
        if value not in allowed:
            raise ConfigError(unknown_choice(name, value, allowed))
    for m in req.models:
        if m not in MODELS:
            raise ConfigError(unknown_choice("model", m, MODELS))
    check_values(req)
    image_size = check_type(req.image_size if req.image_size is not None else p["image_size"], int, "--image-size")
    if image_size < MIN_IMAGE_SIZE:
        raise ConfigError(f"--image-size must be >= {MIN_IMAGE_SIZE}, got {image_size}")
    if not method_entry(req.method).generates_pairs and req.train_on == "synthetic":
        raise ConfigError(f"method '{req.method}' generates no pairs, so --train-on synthetic is impossible")
    light = method_entry(req.method).options  # the option classes that import without the method's code
    return CheckedRequest(copy.deepcopy(req), ablation, image_size, resolve_options(req) if light else None)


def resolved_request(req: Request) -> CheckedRequest:
    """:func:`checked_request`, with the options resolved even where that imports the method's code: for a caller
    that plans the request anyway and hands it on (a sweep checks every run, says its status, then runs it)."""
    checked = checked_request(req)
    if checked.resolved is not None:
        return checked
    return dataclasses.replace(checked, resolved=resolve_options(checked.request))


def resolve_options(req: Request) -> tuple[Any, TrainConfig, int]:
    """The method's options, the downstream training options and the number of pairs to generate, each merged over
    the preset (the method's options over the recipe of a pretrained folder too: :func:`pretrained_recipe`) and
    checked. Imports the method's class only where its registry row names no light options class.

    Raises:
        ConfigError: naming the option.
    """
    options_cls, presets = method_options(req.method)
    recipe = pretrained_recipe(req)
    layers = (presets.get(req.preset, {}), recipe.layer if recipe else {}, req.method_options)
    options = merge_options(options_cls, {}, *layers, where=f"{req.method} method", flag="--option")
    p = preset(req.preset)
    train = merge_options(
        TrainConfig, {}, p.get("train", {}), req.train_options, where="training", flag="--train-option"
    )
    n = check_type(req.n_synthetic if req.n_synthetic is not None else p["n_synthetic"], int, "--n-synthetic")
    train_on = req.train_on if method_entry(req.method).generates_pairs else "real"
    least = 1 if train_on != "real" else 0
    if n < least:
        raise ConfigError(
            f"--n-synthetic must be >= {least} for method '{req.method}' training on {train_on}, got {n}"
        )
    if train.mixes and train_on != "real+synthetic":
        named = ", ".join(sorted(set(req.train_options) & set(TrainConfig.MIXING_OPTIONS))) or "mixing"
        raise ConfigError(
            f"--train-option {named}: mixes real and generated pairs, but this run trains on {train_on} pairs only; "
            "it needs a method that generates pairs and --train-on real+synthetic"
        )
    return options, train, n


def pretrained_recipe(req: Request) -> PretrainedRecipe | None:
    """The recipe that the ``bench pretrain`` folder of ``--option pretrained`` records (applied between the preset
    and the user's options, which win), or None.

    Raises:
        ConfigError: an unreadable record, naming it.
    """
    if "pretrained" not in req.method_options:
        return None
    return read_recipe(req.method, method_options(req.method)[0], req.method_options)


def check_values(req: Request) -> None:
    """The request's own values: seeds, models, W&B mode, train ratio or pair count, channels, the device's name and
    the external test sets (found, each once).

    Raises:
        ConfigError: naming the option. bench.pairs.DatasetError: a ``--test-set`` that is not found.
    """
    if not req.models:
        raise ConfigError("--models: at least one model is needed")
    if not req.seeds:
        raise ConfigError("--seeds: at least one seed is needed")
    for seed in req.seeds:
        check_type(seed, int, "--seeds")
        if seed < 0:
            raise ConfigError(f"--seeds: seeds must be >= 0, got {seed}")
    repeated = sorted({s for s in req.seeds if req.seeds.count(s) > 1})
    if repeated:  # a repeated seed would count one run twice in mean ± std
        raise ConfigError(f"--seeds: seed(s) {', '.join(map(str, repeated))} given more than once")
    if len(set(req.models)) != len(req.models):
        raise ConfigError(f"--models: a model is given more than once in {','.join(req.models)}")
    if req.wandb not in tracking.MODES:
        raise ConfigError(unknown_choice("--wandb mode", req.wandb, tracking.MODES))
    check_ratio(req.train_ratio)
    if req.train_pairs is not None:
        check_pairs(req.train_pairs)
        if req.train_ratio != FULL_RATIO:
            raise ConfigError(EXCLUSIVE)
    if req.channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {req.channels}")
    check_device_name(req.device)
    check_names(req.test_sets)


EXCLUSIVE = "--train-pairs and --train-ratio exclude each other: give a count of training pairs or a ratio"


def check_pairs(value: Any, flag: str = "--train-pairs") -> None:
    """Refuse a count of training pairs that no data set could train on, naming ``flag``; whether the data set
    holds that many is :func:`bench.splits.make_split`'s check."""
    if check_type(value, int, flag) < MIN_SPLIT_PAIRS:
        raise ConfigError(f"{flag} must be >= {MIN_SPLIT_PAIRS} (training needs at least that many), got {value}")


def check_device_name(name: str | None) -> None:
    """Refuse, without torch, a ``--device`` that is not cpu, cuda or cuda:N, and cuda on a Linux machine with no
    GPU driver at all (whether torch sees that GPU is :func:`bench.runner.machine.resolve_device`'s check)."""
    if name is None:
        return
    if not re.fullmatch(r"(cpu|cuda)(:\d+)?", name):
        raise ConfigError(f"--device {name!r}: only cpu, cuda and cuda:N (cuda:1, ...) are supported")
    if name.startswith("cuda") and not gpu_driver_found():
        raise no_cuda(name, "no GPU driver")


def no_cuda(name: str, why: str) -> ConfigError:
    """The one refusal of a ``--device cuda...`` this machine cannot serve, saying ``why``."""
    return ConfigError(f"--device {name}: CUDA is not available on this machine ({why}); use --device cpu")


# Where Linux shows a GPU driver: NVIDIA's (its proc entry, its control device), ROCm's (whose torch also names its
# GPUs cuda) and WSL2's GPU paravirtualisation (CUDA in WSL has no /proc/driver/nvidia).
DRIVER_FILES = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/kfd", "/dev/dxg")


def gpu_driver_found() -> bool:
    """False only where a GPU surely cannot be used: Linux with none of :data:`DRIVER_FILES`. Elsewhere True, and
    torch decides."""
    if not sys.platform.startswith("linux"):
        return True
    return any(os.path.exists(path) for path in DRIVER_FILES)  # never raises, unlike Path.exists


def check_ratio(value: Any, flag: str = "--train-ratio") -> None:
    """Refuse a train ratio that :func:`bench.splits.make_split` would refuse, naming ``flag``."""
    try:
        check_train_ratio(check_type(value, float, flag), flag)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def baseline_request(req: Request) -> Request | None:
    """The ``origin`` request that gives a generating method's runs their paired Δ: same seeds, splits, models,
    augmentation and downstream training (less how batches mix real and generated pairs: origin has none to mix,
    so every mixing schedule is compared with the one origin run); None for a method that generates no pairs (it is
    its own baseline)."""
    if req.method not in METHODS or not METHODS[req.method].generates_pairs:
        return None
    return dataclasses.replace(
        req,
        method="origin",
        ablation=None,
        train_on="real",
        n_synthetic=None,
        method_options={},
        train_options=origin_train_options(req.train_options),
    )


def origin_train_options(train_options: dict[str, Any]) -> dict[str, Any]:
    """The ``--train-option`` values of the origin run paired with a generating run of ``train_options``: all but
    the mixing options (``TrainConfig.MIXING_OPTIONS``), so that its folder and key are those of the plain run."""
    return {k: v for k, v in train_options.items() if k not in TrainConfig.MIXING_OPTIONS}
