"""The expansion-method interface and its registry.

An expansion method learns from the real training pairs (``fit``) and then produces synthetic pairs
(``expand``). The harness (``bench.runner``) owns data loading, splits, downstream training and storage;
a method only sees tensors and a work directory where it caches its stages.
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from bench.config import TrainConfig
from bench.files import write_csv
from bench.pairs import PairSet
from methods import METHODS, check_ablation, method_options, unknown_choice  # noqa: F401 (bench.runner, bench.sweep import it here)

DECISIONS = ("kept", "relabelled", "dropped")


@dataclass
class PairRecord:
    """What happened to one generated pair.

    Attributes:
        id: the pair id (file stem in the synthetic pair set).
        seed: the seed that produced this pair (reproduces it alone).
        decision: ``kept`` (used as generated), ``relabelled`` (image kept, mask replaced by a filter
            prediction) or ``dropped`` (not used for training).
        info: method-specific values (e.g. ``tau``, ``guidance_scale``, ``steps``, ``dice_loss``).
    """

    id: str
    seed: int
    decision: str = "kept"
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Expansion:
    """The output of ``expand``: the pairs to train on (kept + relabelled) and one record per generated pair.

    ``generated`` holds every generated pair before the method's filter (dropped ones included), for methods that
    filter; None means ``pairs`` are all that was generated. Generation metrics are computed on both.
    """

    pairs: PairSet
    records: list[PairRecord]
    generated: PairSet | None = None

    def counts(self) -> dict[str, int]:
        return {d: sum(r.decision == d for r in self.records) for d in DECISIONS}


@dataclass
class MethodContext:
    """Run-level facts a method needs.

    Attributes:
        workdir: cache root of this method for one dataset split; stages write under ``workdir/<role>/<hash>``.
        seed: the run seed; derive every generator from it.
        device: where to compute.
        train: the harness's downstream training config (for methods that train a segmentation net).
        preset: the preset name (methods may pick their own preset overrides by it).
        force: recompute cached stages.
        progress: a rich Progress to add tasks to, or None for silence.
        cached_only: load finished stages only, writing nothing; a stage that is not complete raises
            :class:`methods.stages.StageNotCached` (for commands that inspect a finished run and must never train).
    """

    workdir: Path
    seed: int
    device: torch.device
    train: TrainConfig
    preset: str = "cpu"
    force: bool = False
    progress: Any = None
    cached_only: bool = False


@dataclass(frozen=True)
class NoOptions:
    """Options of a method that has none."""


class ExpansionMethod(abc.ABC):
    """Base class of every expansion method.

    Class attributes, from the method's row of :data:`methods.METHODS` (set by :func:`register_method`):
        name: registry name (``bench run --method <name>``).
        version, variants (the first is the default), description, generates_pairs: see
            :class:`methods.MethodEntry`.

    Class attributes of the method's own:
        Options: frozen dataclass of the method's knobs; its field defaults are the paper defaults.
        presets: per-preset overrides of ``Options`` (``{"smoke": {...}, "cpu": {...}, "paper": {...}}``).
        binary_masks_only: True for methods that cannot learn multi-class masks; the runner refuses such sets.

    Instance attributes set by ``fit`` / ``expand``: ``stats`` (what results.json stores as ``method_stats``) and
    ``history`` (per-step training losses of the method's networks, ``<stage>/loss``..., plotted by W&B).
    """

    name: ClassVar[str]
    version: ClassVar[str]
    variants: ClassVar[tuple[str, ...]]
    description: ClassVar[str]
    generates_pairs: ClassVar[bool]
    Options: ClassVar[type] = NoOptions
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    binary_masks_only: ClassVar[bool] = False

    @classmethod
    def check_request(cls, variant: str, options: Any, image_size: int, channels: int) -> None:
        """Refuse, when a request is planned, what ``fit`` / ``expand`` would only reject after training.

        Args:
            variant: the ablation variant.
            options: the resolved ``Options``.
            image_size: side length the pairs are loaded at.
            channels: image channels (1 or 3).

        Raises:
            bench.config.ConfigError: naming the option or size that cannot work. The default accepts everything.
        """
        return None

    @classmethod
    def check_split(cls, options: Any, test: PairSet) -> None:
        """Refuse, before any work, a test split the method must not be run against (e.g. one its pretrained
        network trained on). The default accepts every split.

        Raises:
            bench.config.ConfigError: naming the option and the images.
        """
        return None

    @classmethod
    def check_train(cls, options: Any, train: int) -> None:
        """Refuse, before any work, a training split of ``train`` pairs too small for ``options`` (e.g. one that
        held-back validation pairs would leave too few). The default accepts every size.

        Raises:
            bench.config.ConfigError: naming the option and the split's size.
        """
        return None

    @classmethod
    def input_fingerprints(cls, options: Any) -> dict[str, str]:
        """Content fingerprints of the files ``options`` name (a pretrained generator), for the run key: a file
        retrained in place must not pass for the one a stored run used. None by default."""
        return {}

    @classmethod
    def pretrain(
        cls, pairs: PairSet, options: Any, folder: Path, seed: int, device: torch.device, progress: Any
    ) -> dict[str, Any]:
        """Train the method's generator on a larger pair set of the same modality into ``folder`` (``bench
        pretrain``), for runs to fine-tune from with ``--option pretrained=FOLDER``.

        Returns:
            What it cost, ``{"steps", "seconds"}``.
        Raises:
            NotImplementedError: for a method that cannot start from a pretrained generator.
        """
        raise NotImplementedError(f"method '{cls.name}' has no pretraining (its generator cannot start from one)")

    def __init__(self, variant: str | None = None, options: Any = None) -> None:
        self.variant = check_ablation(self.name, variant or None)
        self.options = options if options is not None else self.Options()
        self.stats: dict[str, Any] = {}
        self.history: dict[str, list[float]] = {}

    @abc.abstractmethod
    def fit(self, train: PairSet, ctx: MethodContext) -> None:
        """Learn from the real training pairs.

        Args:
            train: real training pairs only (the test split is never passed); images float ``N x C x H x W``
                in [0, 1], masks int ``N x H x W``.
            ctx: run context; cached stages go under ``ctx.workdir``.
        """

    @classmethod
    def speed(cls, preset: str, device: torch.device, steps: int) -> list[dict[str, Any]]:
        """Time the method's stages at a preset's sizes for ``bench speed``.

        Returns:
            Rows ``{"stage", "what", "seconds", "unit"}``.
        Raises:
            NotImplementedError: for a method without a speed benchmark.
        """
        raise NotImplementedError(f"method '{cls.name}' has no speed benchmark")

    @classmethod
    def flops(cls, preset: str) -> dict[str, list[dict[str, Any]]]:
        """What the method's networks cost at a preset's sizes, counted without running them, for ``bench speed``.

        Returns:
            Tables, title -> rows (dicts of column -> value); none by default.
        """
        return {}

    def real_data_network(self) -> torch.nn.Module | None:
        """A binary segmentation network the method trained on the real training split, after ``fit``, or None.

        The harness reuses it for the paper's U-Net-feature FID/IS (``fid_unet``, ``is_unet``) instead of
        training one more network; the default None makes it train its own.
        """
        return None

    @abc.abstractmethod
    def expand(self, n: int, ctx: MethodContext) -> Expansion:
        """Generate ``n`` pairs (before any filtering) after ``fit``.

        Returns:
            Expansion: the pairs to train on, at the training pairs' size and channel count, with ids unique
            and distinct from real ids, plus one PairRecord per generated pair (dropped ones included).
        Raises:
            RuntimeError: if called before ``fit`` or if a network it samples with is in train mode.
        """


def register_method(name: str):
    """Class decorator binding an ExpansionMethod subclass to its row ``methods.METHODS[name]``: the class gets
    its name and the row's version, variants, description and ``generates_pairs`` (and its ``Options`` and
    ``presets`` where the row names them).

    Raises:
        TypeError: for a class that is not an ExpansionMethod subclass.
        KeyError: for a name without a row.
        ValueError: for a class other than the one the row names (the name is taken).
    """

    def wrap(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, ExpansionMethod)):
            raise TypeError(f"{cls!r} is not an ExpansionMethod subclass")
        if name not in METHODS:
            raise KeyError(f"method '{name}' has no row in methods.METHODS (methods/__init__.py); add one")
        entry = METHODS[name]
        if entry.target != f"{cls.__module__}:{cls.__qualname__}":
            raise ValueError(f"method name '{name}' is already registered by {entry.target}")
        cls.name = name
        cls.version, cls.variants, cls.description = entry.version, entry.variants, entry.description
        cls.generates_pairs = entry.generates_pairs
        if entry.options:
            cls.Options, cls.presets = method_options(name)
        return cls

    return wrap


def synthetic_ids(n: int) -> list[str]:
    """Ids of ``n`` generated pairs, ``syn_00000`` ...: zero-padded so they sort in generation order, and prefixed so
    they never collide with real ids."""
    return [f"syn_{i:0{max(5, len(str(n - 1)))}d}" for i in range(n)]


def pair_seeds(seed: int, n: int, start: int = 0) -> list[int]:
    """Seeds of pairs ``start .. start + n - 1`` of a run: independent 31-bit streams keyed by (run seed, index), so
    that each pair can be regenerated alone."""
    return [int(np.random.SeedSequence([seed, i]).generate_state(1)[0] >> 1) for i in range(start, start + n)]


def write_records(records: list[PairRecord], path: Path) -> None:
    """Write records as CSV (id, seed, decision, then the union of ``info`` keys), atomically."""
    keys = sorted({k for r in records for k in r.info})
    rows = ([r.id, r.seed, r.decision, *(r.info.get(k, "") for k in keys)] for r in records)
    write_csv(path, ["id", "seed", "decision", *keys], rows)


def options_dict(options: Any) -> dict[str, Any]:
    """Options as run keys and ``config.json`` store them.

    An option added to a method after runs were stored is left out while it holds the value that reproduces those
    runs (the options class's ``KEYED_ONLY_IF_NOT``), so adding a knob does not invalidate finished results.
    """
    d = dataclasses.asdict(options)
    for name, neutral in getattr(options, "KEYED_ONLY_IF_NOT", {}).items():
        if d.get(name) == neutral:
            del d[name]
    return d


def stored_options(options_cls: type, stored: dict[str, Any]) -> dict[str, Any]:
    """The options of a stored ``config.json`` again, with those :func:`options_dict` left out at their neutral value
    put back (a preset's own value for them may differ, and must not fill the gap)."""
    return {**getattr(options_cls, "KEYED_ONLY_IF_NOT", {}), **stored}
