"""Run configuration and presets.

Every knob has exactly one default, on the dataclass that owns it (paper values where the paper gives
one). A preset is a named set of overrides layered on those defaults; CLI options override the preset.
The *resolved* configuration is what is hashed, saved in ``results.json`` and reported. Unknown keys are
errors: an ignored option would silently change what a benchmark number means.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import PureWindowsPath
from typing import Any, ClassVar

from bench.splits import FULL_RATIO

AUGMENTS = ("none", "randaugment", "cutmix", "xlsor", "nnunet")
TRAIN_ON = ("real+synthetic", "synthetic", "real")
MODELS = ("unet", "attnunet", "transunet")
# The input side length of each downstream model must be a multiple of its total downsampling.
MODEL_STRIDES = {"unet": 32, "attnunet": 16, "transunet": 16}
LOSSES = ("bce+dice", "l1+dice")
# How a downstream batch draws real and generated pairs (TrainConfig.mixing; docs/reference/augmentation.md).
MIXINGS = ("pooled", "alternate", "pretrain")


class ConfigError(ValueError):
    """A configuration value or key that is not allowed."""


@dataclass(frozen=True)
class TrainConfig:
    """Downstream segmentation training (paper §4.1: Adam 1e-2, cosine with 5-epoch warm-up, 50 epochs, 16).

    A budget in epochs gives a larger training set more optimiser steps: an expansion that adds 120 pairs to 14
    real ones trains 9 times longer than origin, and its Δ then measures compute as much as data. ``steps`` fixes
    the budget instead, the same for every run whatever its set size.

    Attributes:
        epochs: training epochs (the budget when ``steps`` is 0).
        steps: optimiser steps of every run whatever its training-set size; 0 (paper) trains ``epochs`` epochs.
            With steps, the warm-up lasts the same share of training as ``warmup_epochs`` of ``epochs``.
        batch_size: mini-batch size.
        lr: peak learning rate of Adam.
        warmup_epochs: linear warm-up from ``warmup_lr`` to ``lr``; cosine decay to ``min_lr`` afterwards.
        loss: ``bce+dice`` or ``l1+dice`` (sigmoid applied once, inside the loss).
        width: base channel width of ``attnunet`` and of the ``transunet`` CNN stem / decoder.
        unet_encoder: segmentation-models-pytorch encoder of ``unet`` (random init, never downloaded).
        vit_layers, vit_dim, vit_heads: transformer depth, width and heads of ``transunet``.
        mixed_precision: bf16 autocast on CUDA (ignored on CPU).
        mixing: how batches draw real and generated pairs when a run trains on both: ``pooled`` (one shuffled
            pool, so each kind's share of the gradient is its share of the pairs), ``alternate`` (a batch of real
            pairs, then one of generated pairs, in turn) or ``pretrain`` (generated pairs first, then real ones).
        synthetic_share: with ``pooled``, the share of every batch drawn from generated pairs instead of their share
            of the pairs (None), in [0, 1].
        pretrain_share: with ``pretrain``, the share of the step budget spent on generated pairs before the rest
            fine-tunes on real ones, in (0, 1); one optimiser and one learning-rate schedule span both phases.
    """

    epochs: int = 50
    steps: int = 0
    batch_size: int = 16
    lr: float = 1e-2
    warmup_epochs: int = 5
    warmup_lr: float = 1e-4
    min_lr: float = 1e-7
    loss: str = "bce+dice"
    width: int = 64
    unet_encoder: str = "resnet34"
    vit_layers: int = 12
    vit_dim: int = 768
    vit_heads: int = 12
    mixed_precision: bool = True
    mixing: str = "pooled"
    synthetic_share: float | None = None
    pretrain_share: float = 0.5

    # How batches mix real and generated pairs, each at the value that pools them (as origin and filters train).
    MIXING_OPTIONS: ClassVar[dict[str, Any]] = {"mixing": "pooled", "synthetic_share": None, "pretrain_share": 0.5}
    # Options added after runs were stored: out of run keys while they hold the value that trains as before.
    KEYED_ONLY_IF_NOT: ClassVar[dict[str, Any]] = dict(MIXING_OPTIONS)

    def __post_init__(self) -> None:
        counts = ("epochs", "batch_size", "width", "vit_layers", "vit_dim", "vit_heads")
        problems = [f"{k} must be >= 1, got {getattr(self, k)}" for k in counts if getattr(self, k) < 1]
        problems += [
            f"{k} must be > 0, got {v}" for k, v in (("lr", self.lr), ("warmup_lr", self.warmup_lr)) if v <= 0
        ]
        if self.min_lr < 0:
            problems.append(f"min_lr must be >= 0, got {self.min_lr}")
        if self.warmup_epochs < 0:
            problems.append(f"warmup_epochs must be >= 0, got {self.warmup_epochs}")
        if self.steps < 0:
            problems.append(f"steps must be >= 0 (0: train epochs), got {self.steps}")
        if self.loss not in LOSSES:
            problems.append(f"unknown loss {self.loss!r} (known: {', '.join(LOSSES)})")
        if self.vit_heads >= 1 and self.vit_dim % self.vit_heads:
            problems.append(f"vit_dim ({self.vit_dim}) must be divisible by vit_heads ({self.vit_heads})")
        problems += self._mixing_problems()
        if problems:
            raise ConfigError("training options: " + "; ".join(problems))

    def _mixing_problems(self) -> list[str]:
        if self.mixing not in MIXINGS:
            return [f"unknown mixing {self.mixing!r} (known: {', '.join(MIXINGS)})"]
        problems = []
        share = self.synthetic_share
        if share is not None and not 0 <= share <= 1:
            problems.append(f"synthetic_share must be in [0, 1], got {share:g}")
        if share is not None and self.mixing != "pooled":
            problems.append(f"synthetic_share sets the share of pooled batches; mixing={self.mixing} sets its own")
        if not 0 < self.pretrain_share < 1:
            problems.append(f"pretrain_share must be in (0, 1), got {self.pretrain_share:g}")
        elif self.pretrain_share != self.MIXING_OPTIONS["pretrain_share"] and self.mixing != "pretrain":
            problems.append("pretrain_share needs mixing=pretrain")
        return problems

    @property
    def mixes(self) -> bool:
        """Whether a mixing option is set: batches then draw real and generated pairs by a schedule, not as the
        pairs' own shares of one shuffled pool."""
        return self != self.unmixed()

    def unmixed(self) -> TrainConfig:
        """These options with the mixing options at their defaults: how networks trained on real pairs alone are
        configured and keyed (origin, the stage-IV filter, the FID-U reference)."""
        return dataclasses.replace(self, **self.MIXING_OPTIONS)

    def to_dict(self) -> dict[str, Any]:
        """The options as run keys, stage keys and ``config.json`` store them: those of ``KEYED_ONLY_IF_NOT`` only
        where they differ from it, so that adding them left every stored key as it was."""
        d = dataclasses.asdict(self)
        for name, neutral in self.KEYED_ONLY_IF_NOT.items():
            if d[name] == neutral:
                del d[name]
        return d


@dataclass(frozen=True)
class RunConfig:
    """The identity and settings of one run: one method variant, dataset, model, seed, ratio, augmentation.

    ``method_options`` holds the method's resolved option dataclass as a dict (see ``ExpansionMethod.Options``);
    ``inputs`` the fingerprints of files those options name (``ExpansionMethod.input_fingerprints``).
    ``settings`` names what the user changed from the preset (``tau=0.5,train.epochs=40``; empty for none): it is
    part of the run folder and of a table row, so that a sweep over τ or epochs never overwrites or merges runs.
    ``train_pairs`` is an exact count of real training pairs asked for instead of a ratio (``train_ratio`` is then
    None); absent from :meth:`to_dict` when unset, so that ratio runs keep their keys.
    """

    method: str
    ablation: str
    dataset: str
    model: str
    seed: int
    train_ratio: float | None = FULL_RATIO
    augment: str = "none"
    train_on: str = "real+synthetic"
    preset: str = "cpu"
    image_size: int = 64
    channels: int = 1
    n_synthetic: int = 500
    train: TrainConfig = field(default_factory=TrainConfig)
    method_options: dict[str, Any] = field(default_factory=dict)
    settings: str = ""
    inputs: dict[str, str] = field(default_factory=dict)
    train_pairs: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration; ``inputs`` (content fingerprints of files the run reads besides its data,
        such as a pretrained generator, so that retraining one in the same folder is never taken for the old one)
        only when there are any, so that runs without them keep their keys."""
        d = dataclasses.asdict(self)
        d["train"] = self.train.to_dict()
        if not d["inputs"]:
            del d["inputs"]
        if d["train_pairs"] is None:
            del d["train_pairs"]
        return d

    def key(self) -> str:
        """Content hash of the resolved configuration (what makes a stored result reusable)."""
        return config_hash(self.to_dict())

    @property
    def run_name(self) -> str:
        name = f"{self.method}__{self.ablation}__{self.model}__{self.augment}__{self.train_on}"
        return f"{name}__{self.settings}" if self.settings else name


def tag_value(v: Any) -> str:
    """An option value as a settings tag writes it: floats in ``g`` form (``0.0003``), ``16-32`` lists, and a path
    as its last name plus a hash of the path as given (``shenzhen-3f09a1``), so that run folders and table rows never
    carry the folders of the machine that made them, and two folders of one name stay apart. A ``,`` or ``=`` in a
    string (a folder ``de,half``) becomes ``_``: the tag would read back as two keys."""
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "-".join(tag_value(x) for x in v)
    if isinstance(v, str) and ("/" in v or "\\" in v):
        return f"{_unsplit(PureWindowsPath(v).name) or 'root'}-{config_hash(v)[:6]}"
    return _unsplit(v) if isinstance(v, str) else str(v)


def _unsplit(name: str) -> str:
    """``name`` with the characters that separate a settings tag's keys and values (``,`` and ``=``) as ``_``."""
    return name.replace(",", "_").replace("=", "_")


def settings_tag(overrides: dict[str, Any]) -> str:
    """A short, file-name-safe ``key=value,...`` tag of preset overrides (hashed past 80 characters), each value as
    :func:`tag_value` writes it."""
    tag = ",".join(f"{k}={tag_value(v)}" for k, v in sorted(overrides.items()) if v is not None)
    tag = re.sub(r"[^A-Za-z0-9._=,+-]", "_", tag)
    return tag if len(tag) <= 80 else f"{tag[:60]}~{config_hash(overrides)}"


_CPU: dict[str, Any] = {
    "image_size": 64,
    "n_synthetic": 120,
    "train": {
        "epochs": 20,
        "steps": 320,
        "width": 16,
        "unet_encoder": "resnet18",
        "vit_layers": 4,
        "vit_dim": 192,
        "vit_heads": 3,
    },
}

PRESETS: dict[str, dict[str, Any]] = {
    # Tests and CI: seconds per stage.
    "smoke": {
        "image_size": 32,
        "n_synthetic": 8,
        "train": {
            "epochs": 3,
            "batch_size": 8,
            "warmup_epochs": 1,
            "width": 8,
            "unet_encoder": "resnet18",
            "vit_layers": 1,
            "vit_dim": 32,
            "vit_heads": 2,
        },
    },
    # Demo and real CPU studies at 64 x 64. Every downstream model (and DiffuseExpand's stage-IV filter) trains 320
    # optimiser steps whatever its set size, so that a Δ measures data, not training length
    # (docs/explanation/evaluation.md).
    "cpu": _CPU,
    # One GPU: the cpu preset's size and downstream training, so that its Dice and FID sit beside the cpu
    # preset's; only the generators' networks and budgets grow (the methods' own "gpu" presets).
    "gpu": _CPU,
    # Paper scale (256 x 256) on a GPU.
    "paper": {
        "image_size": 256,
        "n_synthetic": 500,
        "train": {},
    },
}


def merge_options(cls: type, base: dict[str, Any], *layers: dict[str, Any], where: str = "", flag: str = "") -> Any:
    """Build dataclass ``cls`` from ``base`` updated by each layer in turn.

    Every layer value must have its field's type (see :func:`check_type`); ranges are the dataclass's own
    ``__post_init__`` business.

    Args:
        cls: the options dataclass.
        base: starting values (usually empty: the field defaults apply).
        layers: preset overrides, then user overrides; ``None`` values are skipped.
        where: what the options belong to, for messages (``"training"``, ``"diffuseexpand method"``).
        flag: the CLI flag that sets them (``--train-option``), so that a message names what the user typed.

    Raises:
        ConfigError: an unknown key, or a value of the wrong type, naming the option.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = dict(base)
    for layer in layers:
        unknown = set(layer) - names
        if unknown:
            raise ConfigError(
                f"unknown {where or cls.__name__} option(s): {', '.join(sorted(unknown))} "
                f"(known: {', '.join(sorted(names))})"
            )
        for k, v in layer.items():
            if v is not None:
                label = f"{flag} {k}" if flag else f"{where or cls.__name__} option {k}"
                values[k] = check_type(v, hints[k], label)
    return cls(**values)


def check_type(value: Any, hint: Any, label: str) -> Any:
    """``value`` converted to the type ``hint`` names, or ConfigError naming ``label``.

    Handles the option types in use: ``int`` (not a bool, not 1.5), finite ``float`` (an int is converted, so
    ``tau=1`` and ``tau=1.0`` resolve alike), ``bool``, ``str``, ``tuple[int, ...]`` (an int, a list of ints or
    ``"16,32,64"``), and ``X | None``. Other types pass unchecked.
    """
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None:
            return None
        return check_type(value, next(a for a in args if a is not type(None)), label)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{label}: must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{label}: must be a whole number, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{label}: must be a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{label}: must be a string, got {value!r}")
        return value
    if typing.get_origin(hint) is tuple and args[1:] == (Ellipsis,):
        if isinstance(value, str) and "," in value:  # `16,32,64`, the form the verbs' list flags take
            value = [int(v) if v.strip().lstrip("-").isdigit() else v.strip() for v in value.split(",")]
        items = value if isinstance(value, (list, tuple)) else (value,)
        return tuple(check_type(v, args[0], label) for v in items)
    return value


def preset(name: str) -> dict[str, Any]:
    """The overrides of preset ``name``."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    return PRESETS[name]


def config_hash(obj: Any) -> str:
    """Stable 12-hex-digit hash of a JSON-serialisable object."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]
