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

import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import filelock
import torch
from accelerate.utils import broadcast_object_list

from bench import interrupts, tracking
from bench import results as store
from bench.files import copy_file, locked, write_json
from bench.generator_training import process_state
from bench.integrity import CheckReport
from bench.paper import BASELINE
from bench.runner import deltas, downstream
from bench.runner.dataset import load_data, seed_splits
from bench.runner.expansion import Measuring, expand_pairs
from bench.runner.external import complete, load_external, reusable
from bench.runner.layout import CLOSEST_PNG, cached_stages, method_cache, metrics_cache, stored_result
from bench.runner.machine import oom_as_run_error, preflight
from bench.runner.planning import plan, run_configs
from bench.runner.request import CheckedRequest, Request, baseline_request
from methods.base import Expansion

logger = logging.getLogger(__package__)  # "bench.runner" in log lines, whichever module logs


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
    under ``cache`` (those that match this request are reused, the others belong to other settings or seeds);
    ``test_sets`` names the external test sets and their pair counts.
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
    test_sets: tuple[tuple[str, int], ...] = ()


def run(
    req: Request,
    progress: Any = None,
    on_result: Callable[[store.Results, Path], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_plan: Callable[[Overview], None] | None = None,
    checked: CheckReport | None = None,
    resolved: CheckedRequest | None = None,
) -> Outcome:
    """Run the benchmark a request describes.

    Args:
        req: the request (see Request).
        progress: an optional rich Progress shared by every stage for progress bars.
        on_result: called with each finished or reused run's results and path.
        on_warning: called with each warning about the data or the run (default: logged).
        on_plan: called once with an :class:`Overview` after every check passed, before any work.
        checked: the data set's integrity-check report at the planned size, when the caller already made it (the
            CLI does, to refuse a bad folder before it imports torch); None: checked here.
        resolved: the request's own checks and resolved options, when the caller made them already (the CLI
            does, :func:`.request.checked_request`); None: made here.

    Raises:
        ConfigError: invalid options or a machine that cannot run them. bench.data.DatasetError: the dataset
            fails its integrity check, is too small to split, does not suit the method, or has a test split
            without foreground. Both are raised before anything is trained or written to ``req.out``.
        RunError: out of memory, naming the stage. bench.files.StorageError: a file could not be written.
    """
    warn = on_warning or logger.warning
    # 1. Everything that can be checked before any work: request, machine, data, splits.
    pl = plan(req, resolved)
    device = preflight(req, pl)
    processes = process_state(device)  # one process, or the group `accelerate launch` / `torchrun` started
    if processes.num_processes > 1:
        device = processes.device
    main = processes.is_main_process
    mode = tracking.resolve_mode(req.wandb)
    data = load_data(req.dataset, pl, req.channels, warn, checked, req.masks)
    path, card, dataset_name, report, pairs = data.path, data.card, data.name, data.report, data.pairs
    splits, notes = seed_splits(req, pairs, path, warn)
    for split in splits.values():
        pl.method_cls.check_split(pl.options, pairs.subset(split.test))
        pl.method_cls.check_train(pl.options, len(split.train))
    external = load_external(req, pl, data, splits, warn)
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
                finished=0 if req.force else sum(reusable(stored_result(r, c.key()), r, external) for c, r in planned),
                cache=cache,
                cached_stages=cached_stages(cache),
                test_sets=tuple((t.name, len(t.pairs)) for t in external),
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
            found = [stored_result(rdir, cfg.key()) if main and not req.force else None for cfg, rdir in runs]
            found = [
                done and complete(done, cfg, rdir, external, pairs.num_classes, device, warn)
                for (cfg, rdir), done in zip(runs, found)
            ]
            stored = broadcast_object_list([found])[0]
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

            # 3. Fit the expansion method on the real training split, expand, and (main process) measure the
            # expansion once for every model's run: FID, KID, IS, U-Net FID/IS, memorisation, gallery.
            first = todo[0][1]
            done = expand_pairs(
                pl,
                train,
                workdir=method_cache(out, dataset_name, pl.method_cls.name),
                seed=seed,
                device=device,
                preset=req.preset,
                force=req.force,
                progress=progress if main else None,
                where=f"seed {seed}",
                measuring=Measuring(
                    metrics_cache(out, dataset_name),
                    first / CLOSEST_PNG,
                    first / store.GALLERY_PNG,
                    inception_weights=req.inception_weights,
                )
                if main
                else None,
            )
            if not main:
                continue  # downstream training, results.json and W&B belong to the main process
            method, expansion = done.method, done.expansion

            # 4. Downstream training and evaluation, one run per model.
            for cfg, rdir in todo:
                with oom_as_run_error(f"training {cfg.model} (seed {seed})", device):
                    res = downstream.train_and_evaluate(
                        cfg, rdir, train, test, expansion, method, split, card, path, device, progress, external
                    )
                res["metrics"].update(done.metrics)
                res["unavailable"] = dict(done.unavailable)
                for picture in (CLOSEST_PNG, store.GALLERY_PNG):
                    if rdir != first and (first / picture).is_file():
                        copy_file(first / picture, rdir / picture)
                res["metrics"]["notes"] = notes.get(seed, []) + _empty_expansion_note(cfg, expansion, warn)
                res["dataset"]["check_warnings"] = len(report.warnings)
                res["timings"].update({k: round(v, 3) for k, v in done.timings.items()})
                res["timings"]["total"] = round(sum(v for k, v in res["timings"].items() if k != "total"), 3)
                history = {"train/loss": res.pop("_losses")}
                history.update({f"method/{k}": v for k, v in method.history.items()})
                origin = deltas.origin_dice(res, out) if mode != "disabled" else None
                setting = deltas.setting_delta(res, out) if origin is not None else None
                res["tracking"] = tracking.log_run(res, rdir, mode, group, history, origin, setting)
                write_json(rdir / "results.json", res, sort_keys=False)
                interrupts.kept(rdir / "results.json")
                if mode != "disabled" and res["run"]["method"] == BASELINE:
                    deltas.update_paired_runs(res, out)  # method runs logged before their origin existed
                outcome.results.append(res)
                outcome.paths.append(rdir / "results.json")
                if on_result:
                    on_result(res, rdir / "results.json")
    return outcome


def _empty_expansion_note(cfg: Any, expansion: Expansion, warn: Callable[[str], None]) -> list[str]:
    """A run meant to train on real + synthetic pairs whose method kept none trained as origin did: said, so that
    its Dice is not read as the method's gain."""
    if cfg.train_on != "real+synthetic" or len(expansion.pairs) or not expansion.records:
        return []
    note = (
        f"{cfg.method} kept none of its {len(expansion.records)} generated pairs: this run trained on the real "
        "pairs alone, as origin does"
    )
    warn(f"seed {cfg.seed}: {note}")
    return [note]


def _lock(stack: ExitStack, path: Path, warn: Callable[[str], None]) -> None:
    """Hold ``path``'s lock until ``stack`` closes, saying so when another invocation holds it first."""
    try:
        stack.enter_context(locked(path, timeout=0))
    except filelock.Timeout:
        warn(f"{path} is in use by another bench run; waiting for it")
        stack.enter_context(locked(path))


def run_with_origin(
    req: Request,
    progress: Any = None,
    on_warning: Callable[[str], None] | None = None,
    on_plan: Callable[[Overview], None] | None = None,
    checked: CheckReport | None = None,
    on_origin: Callable[[Request], None] | None = None,
    resolved: CheckedRequest | None = None,
) -> Outcome:
    """:func:`run`, then, for a method that generates pairs, its paired ``origin`` runs (:func:`baseline_request`:
    the same seeds, splits and downstream training; reused where finished), so that the outcome's rows carry their
    Δ vs origin from Python as from ``bench run``. ``on_origin`` is told the origin request before it starts;
    ``resolved`` is ``req``'s (origin's request is checked and resolved on its own).

    Raises:
        As :func:`run`.
    """
    outcome = run(req, progress=progress, on_warning=on_warning, on_plan=on_plan, checked=checked, resolved=resolved)
    baseline = baseline_request(req)
    if baseline is None:
        return outcome
    if on_origin is not None:
        on_origin(baseline)
    done = run(baseline, progress=progress, on_warning=lambda _: None, checked=checked)
    return Outcome(
        outcome.results + done.results, outcome.paths + done.paths, outcome.reused + done.reused, outcome.wandb_mode
    )
