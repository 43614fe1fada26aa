"""One benchmark invocation: method.fit -> expand -> downstream train/eval per model -> results.json (+ W&B).

``run`` is what ``bench run`` calls. It validates the whole request, the machine and the data before any
training (every user error surfaces there, as ConfigError or DatasetError). Then, for every seed, it fits the
expansion method on the real training pairs only, expands, and trains and evaluates each downstream model.
Finished runs are found by their config key and not recomputed unless ``force``; ``results.json`` is written
last and atomically, so a killed invocation never leaves one for unfinished work (method stages resume from
their own checkpoints). A file lock per run folder (and one per cached method stage) lets two invocations share
an output folder: the second waits, then reuses what the first finished.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata as md
import logging
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import filelock
import torch
from accelerate.utils import broadcast_object_list

from bench import results as store
from bench import tracking
from bench.config import (
    AUGMENTS,
    MODEL_STRIDES,
    MODELS,
    TRAIN_ON,
    ConfigError,
    RunConfig,
    TrainConfig,
    check_type,
    config_hash,
    merge_options,
    preset,
    settings_tag,
)
from bench.data import (
    TEST_FRACTION,
    CheckReport,
    DatasetCard,
    DatasetError,
    PairSet,
    Split,
    check,
    fingerprint,
    make_split,
    read_pairs,
    resolve_dataset,
)
from bench.files import copy_file, locked, write_json
from bench.training import process_state
from methods import get_method
from methods.base import Expansion, ExpansionMethod, MethodContext, options_dict, unknown_choice

logger = logging.getLogger(__name__)

PACKAGES = ("torch", "torchvision", "diffusers", "segmentation-models-pytorch", "timm", "monai", "wandb")
MIN_IMAGE_SIZE = 16  # the smallest input every downstream model takes
SHOWN_WARNINGS = 10  # dataset warnings shown before "... and N more"
CLOSEST_PNG = "closest_pairs.png"  # generated images beside their nearest real training images
GALLERY_PNG = "gallery.png"  # the run's generated pairs with their masks (and filter decisions)


class RunError(RuntimeError):
    """A run that failed for a reason the request could not rule out (out of memory); names the stage."""


@dataclass
class Request:
    """What a user asks ``bench run`` for. ``None`` means "the preset's value"."""

    method: str = "diffuseexpand"
    ablation: str | None = None
    dataset: str = "demo"
    models: tuple[str, ...] = ("unet",)
    seeds: tuple[int, ...] = (0,)
    train_ratio: float = 0.9
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


@dataclass
class Outcome:
    """What ``run`` did: every run's results (new and reused), their files, and what was skipped."""

    results: list[store.Results]
    paths: list[Path]
    reused: list[Path]
    wandb_mode: str


@dataclass
class Overview:
    """What a run is about to do, known before anything is trained: said before the first progress bar.

    ``source`` is the dataset card's title (or "folder" for a plain folder); ``train`` / ``test`` are the first
    seed's split sizes (every seed splits the same counts); ``finished`` counts the runs of the request whose
    results.json is already there and will be reused; ``cached_stages`` counts the method's finished stage folders
    under ``cache`` (those that match this request are reused, the others belong to other settings or seeds).
    """

    method: str
    ablation: str
    dataset: str
    path: Path
    source: str
    synthetic_data: bool
    pairs: int
    image_size: int
    train: int
    test: int
    preset: str
    n_synthetic: int
    train_on: str
    models: tuple[str, ...]
    seeds: tuple[int, ...]
    device: str
    threads: int
    processes: int
    runs: int
    finished: int
    cache: Path
    cached_stages: int


@dataclass
class Plan:
    """A request resolved against presets and the method's options; nothing is loaded yet."""

    method_cls: type[ExpansionMethod]
    ablation: str
    options: Any
    train: TrainConfig
    image_size: int
    n_synthetic: int
    train_on: str
    settings: str


def plan(req: Request) -> Plan:
    """Resolve and validate a request without loading anything; every bad value raises ConfigError naming it."""
    p = preset(req.preset)
    try:
        cls = get_method(req.method)
    except KeyError as e:
        raise ConfigError(e.args[0]) from None
    ablation = req.ablation or cls.variants[0]
    if ablation not in cls.variants:
        raise ConfigError(unknown_choice("ablation", ablation, cls.variants, f" for method '{cls.name}'"))
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
    train_on = req.train_on
    if not cls.generates_pairs:
        if train_on == "synthetic":
            raise ConfigError(f"method '{cls.name}' generates no pairs, so --train-on synthetic is impossible")
        train_on = "real"
    options = merge_options(
        cls.Options,
        {},
        cls.presets.get(req.preset, {}),
        req.method_options,
        where=f"{cls.name} method",
        flag="--option",
    )
    train = merge_options(
        TrainConfig, {}, p.get("train", {}), req.train_options, where="training", flag="--train-option"
    )
    n = check_type(req.n_synthetic if req.n_synthetic is not None else p["n_synthetic"], int, "--n-synthetic")
    least = 1 if train_on != "real" else 0
    if n < least:
        raise ConfigError(f"--n-synthetic must be >= {least} for method '{cls.name}' training on {train_on}, got {n}")
    cls.check_request(ablation, options, image_size, req.channels)
    overrides = {
        **req.method_options,
        **{f"train.{k}": v for k, v in req.train_options.items()},
        "n_synthetic": req.n_synthetic,
        "image_size": req.image_size,
        "channels": req.channels if req.channels != 1 else None,
    }
    settings = settings_tag(overrides)
    return Plan(cls, ablation, options, train, image_size, n, train_on, settings)


def check_values(req: Request) -> None:
    """The request's own values: seeds, models, W&B mode, train ratio, channels."""
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
    if req.channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {req.channels}")


def check_ratio(value: Any, flag: str = "--train-ratio") -> None:
    """Refuse a train ratio outside (0, 1 - TEST_FRACTION] (the rest is the test set), naming ``flag``."""
    ratio = check_type(value, float, flag)
    if not 0 < ratio <= 1 - TEST_FRACTION:
        raise ConfigError(f"{flag} must be in (0, {1 - TEST_FRACTION:g}] (the rest is the test set), got {ratio:g}")


def preflight(req: Request, pl: Plan) -> torch.device:
    """Check what a planned request needs from this machine, before anything is loaded or written.

    Returns:
        The device to compute on.

    Raises:
        ConfigError: a downstream model that cannot take the image size, a device this machine lacks, or an
            output folder that cannot be written (checked without creating it).
    """
    for m in req.models:
        if pl.image_size % MODEL_STRIDES[m]:
            raise ConfigError(
                f"--image-size {pl.image_size}: model '{m}' needs a multiple of {MODEL_STRIDES[m]} "
                f"(e.g. {max(MODEL_STRIDES[m], pl.image_size // MODEL_STRIDES[m] * MODEL_STRIDES[m])})"
            )
    device = resolve_device(req.device)
    check_writable(Path(req.out))
    if req.inception_weights is not None and not Path(req.inception_weights).is_file():
        raise ConfigError(f"--inception-weights: no such file {req.inception_weights}")
    return device


def resolve_device(name: str | None) -> torch.device:
    """The device ``--device`` names (default: cuda if available); ConfigError for one this machine lacks."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r}: not a device name (cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is built without CUDA" if torch.version.cuda is None else "no GPU is visible"
            raise ConfigError(f"--device {name}: CUDA is not available on this machine ({why}); use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} GPU(s) are visible")
    elif device.type != "cpu":
        raise ConfigError(f"--device {name}: only cpu and cuda devices are supported")
    return device


def check_writable(out: Path, flag: str = "--out") -> None:
    """Refuse an output folder that cannot be written, by a probe file in its nearest existing folder.

    Raises:
        ConfigError: naming ``flag``, when that folder is a file or cannot be written.
    """
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"{flag} {out}: {existing} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise ConfigError(f"{flag} {out}: cannot write in {existing} ({e.strerror or e})") from None


@dataclass
class LoadedData:
    """A data set read for a planned request: its folder, card (None for a plain folder), name, the integrity
    check's report and the pairs at the planned size."""

    path: Path
    card: DatasetCard | None
    name: str
    report: CheckReport
    pairs: PairSet


def load_data(dataset: str, pl: Plan, channels: int, warn: Callable[[str], None]) -> LoadedData:
    """Find, check and read ``--dataset`` (a card name or a folder) for a planned request.

    The check's warnings go to ``warn`` (the first ``SHOWN_WARNINGS``, then a count).

    Raises:
        bench.data.DatasetError: a missing data set, one that fails its integrity check, or multi-class masks for
            a method that handles binary masks only.
    """
    path, card = resolve_dataset(dataset)
    name = card.name if card else path.name
    report = check(path, image_size=pl.image_size)
    for w in _shown(report.warnings, f"`bench datasets check {path}` lists them all"):
        warn(f"{name}: {w}")
    report.raise_for_errors()
    pairs = read_pairs(report, pl.image_size, channels, name, synthetic=bool(card and card.synthetic))
    if pl.method_cls.binary_masks_only and pairs.num_classes > 2:
        raise DatasetError(
            f"{path}: masks hold labels 0..{pairs.num_classes - 1} (multi-class), but method "
            f"'{pl.method_cls.name}' handles binary masks only"
        )
    return LoadedData(path, card, name, report, pairs)


def method_cache(out: Path, dataset_name: str, method: str) -> Path:
    """Where a method's cached stages for a data set live under an output root: ``<out>/<dataset>/_cache/<method>``
    (``MethodContext.workdir``); every command that fits methods there shares them."""
    return Path(out) / dataset_name / "_cache" / method


def metrics_cache(out: Path, dataset_name: str) -> Path:
    """Where real-image features of a data set are cached under an output root: ``<out>/<dataset>/_cache/metrics``."""
    return Path(out) / dataset_name / "_cache" / "metrics"


def run(
    req: Request,
    progress: Any = None,
    on_result: Callable[[store.Results, Path], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_plan: Callable[[Overview], None] | None = None,
) -> Outcome:
    """Run the benchmark a request describes.

    Args:
        req: the request (see Request).
        progress: an optional rich Progress shared by every stage for progress bars.
        on_result: called with each finished or reused run's results and path.
        on_warning: called with each warning about the data or the run (default: logged).
        on_plan: called once with an :class:`Overview` after every check passed, before any work.

    Raises:
        ConfigError: invalid options or a machine that cannot run them. bench.data.DatasetError: the dataset
            fails its integrity check, is too small to split, does not suit the method, or has a test split
            without foreground. Both are raised before anything is trained or written to ``req.out``.
        RunError: out of memory, naming the stage. bench.files.StorageError: a file could not be written.
    """
    warn = on_warning or logger.warning
    # 1. Everything that can be checked before any work: request, machine, data, splits.
    pl = plan(req)
    device = preflight(req, pl)
    processes = process_state(device)  # one process, or the group `accelerate launch` / `torchrun` started
    if processes.num_processes > 1:
        device = processes.device
    main = processes.is_main_process
    mode = tracking.resolve_mode(req.wandb)
    data = load_data(req.dataset, pl, req.channels, warn)
    path, card, dataset_name, report, pairs = data.path, data.card, data.name, data.report, data.pairs
    splits, notes = _splits(req, pairs, path, warn)
    out = Path(req.out)
    if on_plan is not None and main:
        cache = method_cache(out, dataset_name, pl.method_cls.name)
        planned = [run for seed in req.seeds for run in run_configs(req, pl, dataset_name, seed)]
        first = splits[req.seeds[0]]
        on_plan(
            Overview(
                method=pl.method_cls.name,
                ablation=pl.ablation,
                dataset=dataset_name,
                path=path,
                source=card.title if card else "folder",
                synthetic_data=bool(card and card.synthetic),
                pairs=len(pairs.ids),
                image_size=pl.image_size,
                train=len(first.train),
                test=len(first.test),
                preset=req.preset,
                n_synthetic=pl.n_synthetic if pl.train_on != "real" else 0,
                train_on=pl.train_on,
                models=tuple(req.models),
                seeds=tuple(req.seeds),
                device=str(device),
                threads=torch.get_num_threads(),
                processes=processes.num_processes,
                runs=len(planned),
                finished=0 if req.force else sum(stored_result(r, c.key()) is not None for c, r in planned),
                cache=cache,
                cached_stages=len(list(cache.glob("*/*/done.json"))) if cache.is_dir() else 0,
            )
        )

    group = req.group or f"{dataset_name}-{req.method}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}"
    outcome = Outcome([], [], [], mode)
    for seed in req.seeds:
        split = splits[seed]
        runs = run_configs(req, pl, dataset_name, seed)
        with ExitStack() as held:
            # 2. Lock the run folders (sorted, so two invocations cannot deadlock), then look for finished runs:
            # a run another invocation finished while this one waited is reused, not recomputed. The main
            # process decides for all processes of a multi-process run.
            if main:
                for rdir in sorted(rdir for _, rdir in runs):
                    _lock(held, rdir, warn)
            stored = broadcast_object_list([[stored_result(rdir, cfg.key()) for cfg, rdir in runs]])[0]
            todo = []
            for (cfg, rdir), done in zip(runs, stored):
                if done is not None and not req.force:
                    logger.info("reusing finished run %s", rdir)
                    outcome.results.append(done)
                    outcome.paths.append(rdir / "results.json")
                    outcome.reused.append(rdir / "results.json")
                    if on_result:
                        on_result(done, rdir / "results.json")
                else:
                    todo.append((cfg, rdir))
            if not todo:
                continue
            train, test = pairs.subset(split.train), pairs.subset(split.test)

            # 3. Fit the expansion method on the real training split and expand; its stages are locked one by
            # one (methods.stages), so two runs that share a cached stage never train it twice.
            method = pl.method_cls(pl.ablation, pl.options)
            ctx = MethodContext(
                workdir=method_cache(out, dataset_name, pl.method_cls.name),
                seed=seed,
                device=device,
                train=pl.train,
                preset=req.preset,
                force=req.force,
                progress=progress if main else None,
            )
            t0 = time.perf_counter()
            with oom_as_run_error(f"fitting {pl.method_cls.name} ({pl.ablation}, seed {seed})", device):
                method.fit(train, ctx)
            t_fit = time.perf_counter() - t0
            t0 = time.perf_counter()
            with oom_as_run_error(f"generating pairs with {pl.method_cls.name} (seed {seed})", device):
                expansion = (
                    method.expand(pl.n_synthetic, ctx) if pl.train_on != "real" else Expansion(_empty_like(train), [])
                )
            t_expand = time.perf_counter() - t0
            if not main:
                continue  # downstream training, results.json and W&B belong to the main process

            # 4. Generation metrics (FID, KID, IS, U-Net FID/IS, memorisation), once per seed for every model's run.
            t0 = time.perf_counter()
            with oom_as_run_error(f"computing generation metrics (seed {seed})", device):
                gen_metrics, gen_unavailable = _generation_metrics(
                    pl,
                    train,
                    expansion,
                    method,
                    seed,
                    device,
                    metrics_cache(out, dataset_name),
                    progress,
                    todo[0][1] / CLOSEST_PNG,
                    req.inception_weights,
                )
            t_metrics = time.perf_counter() - t0

            # 5. Downstream training and evaluation, one run per model.
            for cfg, rdir in todo:
                with oom_as_run_error(f"training {cfg.model} (seed {seed})", device):
                    res = _train_and_evaluate(
                        cfg, rdir, train, test, expansion, method, split, card, path, device, progress
                    )
                res["metrics"].update(gen_metrics)
                res["unavailable"] = dict(gen_unavailable)
                if rdir != todo[0][1] and (todo[0][1] / CLOSEST_PNG).is_file():
                    copy_file(todo[0][1] / CLOSEST_PNG, rdir / CLOSEST_PNG)
                _save_gallery(expansion, rdir / GALLERY_PNG)
                res["metrics"]["notes"] = notes.get(seed, [])
                res["dataset"]["check_warnings"] = len(report.warnings)
                res["timings"].update(
                    {"fit": round(t_fit, 3), "expand": round(t_expand, 3), "generation_metrics": round(t_metrics, 3)}
                )
                res["timings"]["total"] = round(sum(v for k, v in res["timings"].items() if k != "total"), 3)
                history = {"train/loss": res.pop("_losses")}
                history.update({f"method/{k}": v for k, v in method.history.items()})
                res["tracking"] = tracking.log_run(res, rdir, mode, group, history)
                write_json(rdir / "results.json", res, sort_keys=False)
                outcome.results.append(res)
                outcome.paths.append(rdir / "results.json")
                if on_result:
                    on_result(res, rdir / "results.json")
    return outcome


def _save_gallery(expansion: Expansion, path: Path) -> None:
    """The run's generated pairs as overlays, coloured by the method's decision when it filters (``bench report
    gallery`` assembles these); nothing for a run without generated pairs."""
    from methods.gallery import save_gallery

    generated = expansion.generated if expansion.generated is not None else expansion.pairs
    decisions = [r.decision for r in expansion.records] if expansion.generated is not None else None
    save_gallery(path, generated.images, (generated.masks > 0).long(), decisions)


def baseline_request(req: Request) -> Request | None:
    """The ``origin`` request that gives a generating method's runs their paired Δ: same seeds, splits, models,
    augmentation and downstream training; None for a method that generates no pairs (it is its own baseline)."""
    try:
        generates = get_method(req.method).generates_pairs
    except KeyError:
        return None
    if not generates:
        return None
    return dataclasses.replace(
        req, method="origin", ablation=None, train_on="real", n_synthetic=None, method_options={}
    )


def _shown(warnings: list[str], more: str) -> list[str]:
    """The first ``SHOWN_WARNINGS`` warnings, plus one line counting the rest."""
    extra = len(warnings) - SHOWN_WARNINGS
    return warnings[:SHOWN_WARNINGS] + ([f"... and {extra} more warning(s); {more}"] if extra > 0 else [])


def _splits(
    req: Request, pairs: PairSet, path: Path, warn: Callable[[str], None]
) -> tuple[dict[int, Split], dict[int, list[str]]]:
    """Every seed's split, checked before any training, and the notes its results will carry.

    A test split without a single foreground pixel is refused unless ``req.allow_empty_test``: Dice scores a
    model that predicts nothing as perfect on it, so its number would look like a result and mean nothing.
    """
    splits, notes = {}, {}
    for seed in req.seeds:
        try:
            split = make_split(pairs.ids, seed, req.train_ratio)
        except DatasetError as e:
            raise DatasetError(f"{path}: {e}") from None
        except ValueError as e:
            raise ConfigError(f"--train-ratio: {e}") from None
        if not bool((pairs.subset(split.test).masks > 0).any()):
            problem = (
                f"the test split of seed {seed} ({len(split.test)} images) has no foreground pixel, so a model "
                "that predicts nothing scores Dice 1.0 on it"
            )
            if not req.allow_empty_test:
                raise DatasetError(
                    f"{path}: {problem}; check the masks (`bench datasets check {path}`) or pass --allow-empty-test"
                )
            warn(problem)
            notes[seed] = [f"{problem} (run with --allow-empty-test): this Dice is not a segmentation result"]
        splits[seed] = split
    return splits, notes


def _lock(stack: ExitStack, path: Path, warn: Callable[[str], None]) -> None:
    """Hold ``path``'s lock until ``stack`` closes, saying so when another invocation holds it first."""
    try:
        stack.enter_context(locked(path, timeout=0))
    except filelock.Timeout:
        warn(f"{path} is in use by another bench run; waiting for it")
        stack.enter_context(locked(path))


@contextmanager
def oom_as_run_error(what: str, device: torch.device) -> Iterator[None]:
    """Turn running out of memory during ``what`` into a RunError that names the stage and the device."""
    try:
        yield
    except (torch.OutOfMemoryError, MemoryError) as e:
        cause = (str(e).strip().splitlines() or ["no details"])[0]
        raise RunError(
            f"out of memory while {what} on {device} ({cause}); try a smaller preset, batch size or --image-size"
        ) from e


def _train_and_evaluate(
    cfg: RunConfig,
    rdir: Path,
    train: PairSet,
    test: PairSet,
    expansion: Expansion,
    method: ExpansionMethod,
    split,
    card: DatasetCard | None,
    path: Path,
    device: torch.device,
    progress: Any,
) -> dict[str, Any]:
    from bench.segmentation.trainer import evaluate, train_segmentation

    write_json(rdir / "config.json", cfg.to_dict(), sort_keys=False)
    write_json(rdir / "splits.json", split.to_json(), sort_keys=False)
    if cfg.train_on == "synthetic":
        if len(expansion.pairs) == 0:
            raise RunError(f"{cfg.method} ({cfg.ablation}) kept no synthetic pairs; cannot train on synthetic only")
        train_set = expansion.pairs
    elif cfg.train_on == "real+synthetic" and len(expansion.pairs):
        train_set = PairSet.concat([train, expansion.pairs], f"{train.name}+synthetic")
    else:
        train_set = train
    t0 = time.perf_counter()
    fit = train_segmentation(
        train_set,
        cfg.model,
        cfg.train,
        cfg.seed,
        device,
        cfg.augment,
        progress,
        description=f"{cfg.model} seed {cfg.seed}",
    )
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    dice = evaluate(fit.model, test, device)
    t_eval = time.perf_counter() - t0
    counts = {
        "real_train": len(train),
        "test": len(test),
        "synthetic_generated": len(expansion.records),
        **{f"synthetic_{k}": v for k, v in expansion.counts().items()},
        "train_total": len(train_set),
    }
    return {
        "schema_version": store.SCHEMA_VERSION,
        "run": {
            "method": cfg.method,
            "ablation": cfg.ablation,
            "dataset": cfg.dataset,
            "model": cfg.model,
            "seed": cfg.seed,
            "train_ratio": cfg.train_ratio,
            "augment": cfg.augment,
            "train_on": cfg.train_on,
            "preset": cfg.preset,
            "settings": cfg.settings,
            "key": cfg.key(),
        },
        "config": cfg.to_dict(),
        "dataset": {
            "name": cfg.dataset,
            "path": str(path.resolve()),
            "synthetic": bool(card and card.synthetic),
            "card_version": card.version if card else None,
            "pairs": len(train) + len(test),
            "fingerprint": fingerprint(train),
        },
        "versions": {
            "package": _version("diffuseexpand-bench"),
            "method": method.version,
            **{p: _version(p) for p in PACKAGES},
        },
        "git_hash": _git_hash(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": {
            "device": str(device),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cuda": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        },
        "counts": counts,
        "metrics": {
            "dice": float(dice.mean()),
            "dice_std": float(dice.std(unbiased=False)),
            "dice_per_image": {k: round(float(v), 6) for k, v in zip(test.ids, dice)},
        },
        "method_stats": getattr(method, "stats", {}),
        "timings": {"train": round(t_train, 3), "evaluate": round(t_eval, 3)},
        "unavailable": {},
        "_losses": list(fit.losses),
    }


def _generation_metrics(
    pl: Plan,
    train: PairSet,
    expansion: Expansion,
    method: ExpansionMethod,
    seed: int,
    device: torch.device,
    cache_dir: Path,
    progress: Any,
    closest_png: Path,
    inception_weights: Path | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Generation metrics of one seed's expansion against the real training split (``bench.metrics.generation``).

    Inception weights: ``inception_weights``, else as :func:`bench.metrics.inception.resolve_weights` finds them.
    Inception features of the real split are cached in ``cache_dir`` by its fingerprint. ``fid_unet`` / ``is_unet``
    use the method's own real-data network when it has one (DiffuseExpand's stage-IV filter), else a U-Net
    trained here on the real split with the run's downstream training config.
    """
    from bench.metrics.generation import METRIC_KEYS, Images, generation_metrics
    from bench.metrics.inception import WeightsError, load_inception

    if not len(expansion.records):
        why = (
            f"method '{pl.method_cls.name}' generates no pairs"
            if not pl.method_cls.generates_pairs
            else "no pairs were generated (--train-on real)"
        )
        return {k: None for k in METRIC_KEYS}, {k: why for k in METRIC_KEYS}
    inception, inception_reason = None, ""
    try:
        inception = load_inception(None if inception_weights is None else str(inception_weights), str(device))
    except (WeightsError, ValueError) as e:
        inception_reason = str(e)
    unet, unet_reason = method.real_data_network(), ""
    if unet is None and train.num_classes > 2:
        unet_reason = "the paper's U-Net feature metrics are defined for binary masks"
    elif unet is None:
        unet = _metrics_unet(pl, train, seed, device, cache_dir / "fid_unet", progress)
    generated = expansion.generated if expansion.generated is not None else expansion.pairs
    kept = expansion.pairs if expansion.generated is not None else None
    return generation_metrics(
        Images(train.ids, train.images, fingerprint(train)),
        Images(generated.ids, generated.images),
        None if kept is None else Images(kept.ids, kept.images),
        inception=inception,
        inception_reason=inception_reason,
        unet=unet,
        unet_reason=unet_reason,
        device=device,
        progress=progress,
        cache_dir=cache_dir,
        pairs_png=closest_png,
        seed=seed,
    )


def _metrics_unet(
    pl: Plan, train: PairSet, seed: int, device: torch.device, cache_dir: Path, progress: Any
) -> torch.nn.Module:
    """The U-Net of ``fid_unet`` / ``is_unet`` for a method without a real-data network of its own: trained on the
    real split with the run's downstream config, and kept in ``cache_dir`` by everything that made it, so every
    method and setting of a sweep measures against the same network (``model.pt`` is written last)."""
    from methods.diffuseexpand.filter import MaskFilter
    from methods.stages import stage_seed

    key = {"data": fingerprint(train), "model": "unet", "train": dataclasses.asdict(pl.train), "seed": seed}
    folder = cache_dir / config_hash(key)
    with locked(folder):
        if not (folder / "model.pt").is_file():
            unet = MaskFilter("unet", pl.train, device)
            unet.fit(train, stage_seed(seed, "metrics-unet"), progress=progress, description="unet for fid_unet")
            folder.mkdir(parents=True, exist_ok=True)
            write_json(folder / "key.json", key)
            unet.save(folder)
        return MaskFilter.load(folder, device).model


def run_configs(req: Request, pl: Plan, dataset_name: str, seed: int) -> list[tuple[RunConfig, Path]]:
    """The runs (one per downstream model) a planned request makes for one seed, with their folders."""
    runs = []
    for m in req.models:
        cfg = RunConfig(
            method=pl.method_cls.name,
            ablation=pl.ablation,
            dataset=dataset_name,
            model=m,
            seed=seed,
            train_ratio=req.train_ratio,
            augment=req.augment,
            train_on=pl.train_on,
            preset=req.preset,
            image_size=pl.image_size,
            channels=req.channels,
            n_synthetic=pl.n_synthetic,
            train=pl.train,
            method_options=options_dict(pl.options),
            settings=pl.settings,
        )
        runs.append((cfg, store.run_dir(Path(req.out), dataset_name, cfg.run_name, cfg.train_ratio, seed)))
    return runs


def stored_result(rdir: Path, key: str) -> store.Results | None:
    """The finished results of the run with config ``key`` in ``rdir``, or None (missing, unreadable, other key)."""
    f = rdir / "results.json"
    if not f.is_file():
        return None
    try:
        res = store.load_results(f)
    except ValueError as e:
        logger.warning("ignoring %s", e)  # the message names the file
        return None
    return res if res["run"]["key"] == key else None


def _empty_like(pairs: PairSet) -> PairSet:
    c, h, w = pairs.images.shape[1:]
    return PairSet([], torch.zeros(0, c, h, w), torch.zeros(0, h, w, dtype=torch.long), "none", True)


def _version(pkg: str) -> str | None:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return None


def _git_hash() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None
