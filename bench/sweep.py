"""Sweeps: every run one paper artifact needs, as ``bench run`` requests, run here or handed to submitit.

A sweep is a list of :class:`SweepRun`, one request and one seed each. It is resumable for free: the runner finds
finished runs by their config key and reuses them, and method stages are cached by the config that made them, so
runs of a sweep share the networks they can share and a sweep killed midway, started again, picks up where it
stopped. ``launch`` runs them in this process (default) or submits each to submitit, whose Slurm executor sends
them to a cluster and whose local executor runs them as subprocesses here; results land in the same run folders
either way, so ``bench report`` does not care where a run ran.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import results as store
from bench import runner
from bench.artifacts import ARTIFACTS
from bench.cards import resolve_dataset
from bench.config import AUGMENTS, ConfigError, merge_options
from bench.integrity import check
from bench.pairs import DatasetError
from bench.paper import (
    BASELINE,
    FEWSHOT_METHODS,
    FEWSHOT_RATIOS,
    FEWSHOT_SEEDS,
    METHOD_ORDER,
    MODEL_NAMES,
    SEEDS,
    SHOWN_VARIANTS,
    STRENGTHS,
    TABLE1_ABLATIONS,
    TABLE1_DICE,
    TAUS,
)
from bench.splits import make_split
from bench.testsets import NONE, resolve
from methods import METHODS, get_method, method_options, unknown_choice

logger = logging.getLogger(__name__)

DEFAULT_MODELS = {"table1": ("unet",), "table2": tuple(MODEL_NAMES), "fewshot": ("unet",), "tau-vs-s": ("unet",)}
DEFAULT_SEEDS = {"table1": SEEDS, "table2": SEEDS, "fewshot": FEWSHOT_SEEDS, "tau-vs-s": SEEDS}
LAUNCHERS = ("local", "submitit")
LOCAL_TIMEOUT_MIN = 7 * 24 * 60  # a run on the local executor is never cut short by submitit


@dataclass(frozen=True)
class SweepRun:
    """One ``bench run`` of a sweep: ``label`` says which cell of the artifact it fills; one seed per request."""

    label: str
    request: runner.Request


@dataclass
class Sweep:
    """The runs of one artifact, and the methods it asks for that this installation does not have."""

    name: str
    runs: list[SweepRun]
    missing: list[str] = field(default_factory=list)


@dataclass
class RunStatus:
    """What a dry run says of one sweep run: finished already, and the seconds it is expected to take."""

    run: SweepRun
    done: bool
    estimate: float | None


@dataclass
class SweepOutcome:
    """What a launched sweep did: results files of finished (or reused) runs, and the runs that failed, why."""

    paths: list[Path] = field(default_factory=list)
    failed: list[tuple[SweepRun, str]] = field(default_factory=list)


def build_sweep(
    name: str,
    base: runner.Request,
    methods: tuple[str, ...] | None = None,
    ratios: tuple[float, ...] | None = None,
    augments: tuple[str, ...] | None = None,
    pairs: tuple[int, ...] | None = None,
) -> Sweep:
    """Expand an artifact's name into its runs.

    Args:
        name: one of ``SWEEPS``.
        base: the options every run shares (dataset, preset, seeds, models, out, W&B, device, force); its
            ``models`` and ``seeds`` may be empty for the artifact's defaults (:data:`DEFAULT_SEEDS`).
        methods: for ``table2`` and ``fewshot``, the generating methods to include (default: all of the artifact's).
        ratios: for ``fewshot``, the train ratios (default ``FEWSHOT_RATIOS``).
        augments: for ``fewshot``, the downstream augmentations, one curve each (default: ``base.augment``);
            origin trains under the same augmentation as the generators it is compared with.
        pairs: for ``fewshot``, exact counts of training pairs instead of ratios (``--train-pairs`` runs).

    Raises:
        ConfigError: an unknown sweep, method or augmentation, a ratio out of range, or options the artifact does
            not take.
    """
    if name not in SWEEPS:
        raise ConfigError(unknown_choice("sweep", name, SWEEPS))
    if methods is not None and name not in ("table2", "fewshot"):
        raise ConfigError(f"--methods applies to the table2 and fewshot sweeps, not {name}")
    if ratios is not None and name != "fewshot":
        raise ConfigError(f"--ratios applies to the fewshot sweep, not {name}")
    if pairs is not None and name != "fewshot":
        raise ConfigError(f"--pairs applies to the fewshot sweep, not {name}")
    if pairs is not None and ratios is not None:
        raise ConfigError("--pairs and --ratios exclude each other: the fewshot curve runs counts of pairs or ratios")
    if augments is not None and name != "fewshot":
        raise ConfigError(f"--augment applies to the fewshot sweep, not {name} (table1 runs its own augmentations)")
    for aug in augments or ():
        if aug not in AUGMENTS:
            raise ConfigError(f"--augment: {unknown_choice('augmentation', aug, AUGMENTS)}")
    base = dataclasses.replace(
        base, models=tuple(base.models) or DEFAULT_MODELS[name], seeds=tuple(base.seeds) or DEFAULT_SEEDS[name]
    )
    runner.check_values(base)
    for ratio in ratios or ():
        runner.check_ratio(ratio, "--ratios")
    for count in pairs or ():
        runner.check_pairs(count, "--pairs")
    if pairs is not None:
        points = [{"train_pairs": count} for count in pairs]
    else:
        points = [{"train_ratio": ratio} for ratio in ratios or FEWSHOT_RATIOS]
    configs, missing = _CONFIGS[name](methods, points, augments or (base.augment,), base)
    runs = [
        SweepRun(label, dataclasses.replace(base, seeds=(seed,), **changes))
        for seed in base.seeds  # seed-major: a sweep stopped early still holds whole artifacts for its first seeds
        for label, changes in configs
    ]
    return Sweep(name, runs, missing)


Configs = list[tuple[str, dict[str, Any]]]


def _table1(methods, ratios, augments, base) -> tuple[Configs, list[str]]:
    configs: Configs = []
    for aug in TABLE1_DICE.values():
        shared = {"augment": aug, "train_on": "real+synthetic", "method": "diffuseexpand"}
        configs.append((f"Origin, augment {aug}", {**shared, "method": BASELINE, "train_on": "real"}))
        for ablation, label in TABLE1_ABLATIONS.items():
            if ablation == "cf":  # no guidance, so no temperature
                configs.append((f"{label}, augment {aug}", {**shared, "ablation": ablation}))
                continue
            for tau in TAUS:
                options = {"ablation": ablation, "method_options": {"tau": tau.value}}
                configs.append((f"{label} τ={tau.text}, augment {aug}", {**shared, **options}))
    return configs, []


def _chosen(wanted: tuple[str, ...], methods: tuple[str, ...] | None) -> tuple[list[str], list[str]]:
    """The artifact's methods (restricted to ``methods``) that are registered, and those that are not."""
    for m in methods or ():
        if m not in METHODS:
            raise ConfigError(f"--methods: {unknown_choice('method', m, tuple(METHODS))}")
        if not get_method(m).generates_pairs:
            raise ConfigError(f"--methods lists generating methods; '{m}' is the baseline every sweep runs anyway")
    names = [m for m in wanted if methods is None or m in methods]
    names += [m for m in methods or () if m not in names]
    return [m for m in names if m in METHODS], [m for m in names if m not in METHODS]


def _label(method: str) -> str:
    return f"{method} ({SHOWN_VARIANTS[method]})" if method in SHOWN_VARIANTS else method


def _variant(method: str) -> dict[str, Any]:
    """The variant the paper shows (DiffuseExpand with all four stages); every other method at its default."""
    return {"method": method, "ablation": SHOWN_VARIANTS.get(method)}


def _table2(methods, ratios, augments, base) -> tuple[Configs, list[str]]:
    present, missing = _chosen(METHOD_ORDER, methods)
    configs: Configs = [("Origin (real pairs, for Δ)", {"method": BASELINE, "train_on": "real"})]
    configs += [(f"{_label(m)}, synthetic only", {**_variant(m), "train_on": "synthetic"}) for m in present]
    return configs, missing


def _fewshot(methods, points, augments, base) -> tuple[Configs, list[str]]:
    present, missing = _chosen(FEWSHOT_METHODS, methods)
    configs: Configs = []
    for point in points:
        for aug in augments:
            at = {**point, "augment": aug}
            count = point.get("train_pairs")
            where = (f"{count} pairs" if count else f"ratio {point['train_ratio']:g}") + (
                f", augment {aug}" if aug != "none" else ""
            )
            configs.append((f"Origin, {where}", {"method": BASELINE, "train_on": "real", **at}))
            generated = {"train_on": "real+synthetic", **at}
            configs += [(f"{_label(m)}, {where}", {**_variant(m), **generated}) for m in present]
    return configs, missing


def _tau_vs_s(methods, ratios, augments, base) -> tuple[Configs, list[str]]:
    """The τ family at the preset's gradient scale s₀, the s family at s = v·s₀ and τ = 1 (Lemma 3.3: 1/τ = v)."""
    options, presets = method_options("diffuseexpand")
    s0 = merge_options(options, {}, presets.get(base.preset, {})).guidance_scale  # the preset's, resolved
    configs: Configs = [(f"1/τ = {tau.v}", {"method_options": {"tau": tau.value}}) for tau in TAUS]
    scales = [float(f"{v * s0:.6g}") for v in STRENGTHS if v != 1]  # v = 1 is τ = 1, run once above
    configs += [(f"s = {s:g}", {"method_options": {"tau": 1.0, "guidance_scale": s}}) for s in scales]
    shared = {"method": "diffuseexpand", "ablation": "cf+cg+cs", "train_on": "real+synthetic"}
    return [(label, {**shared, **changes}) for label, changes in configs], []


_CONFIGS: dict[str, Callable[..., tuple[Configs, list[str]]]] = {
    "table1": _table1,
    "table2": _table2,
    "fewshot": _fewshot,
    "tau-vs-s": _tau_vs_s,
}
SWEEPS = tuple(kind for kind in ARTIFACTS if kind in _CONFIGS)  # the artifacts that need runs of their own


def check_sweep(sweep: Sweep) -> None:
    """Plan and preflight every run (options, machine, output folder), and check that every train ratio or count of
    pairs leaves enough training pairs of the data set, before the first run trains anything."""
    first = sweep.runs[0].request if sweep.runs else None
    data = check(resolve_dataset(first.dataset)[0], reading=first.masks) if first else None
    readable = data is not None and data.ok
    points = {(r.request.train_ratio, r.request.train_pairs) for r in sweep.runs} if readable else set()
    for ratio, count in sorted(points, key=str):
        try:  # a data set with errors, or too few pairs for any split, is refused by the first run's data check
            make_split(data.ids, 0, ratio, train_pairs=count)  # the split's sizes depend on the pairs, not the seed
        except DatasetError:
            break
        except ValueError as e:
            raise ConfigError(f"{'--pairs' if count is not None else '--ratios'}: {e}") from None
    for r in sweep.runs:
        pl = runner.plan(r.request)
        runner.preflight(r.request, pl)


def status(sweep: Sweep) -> list[RunStatus]:
    """Which runs are finished, and an estimate of the others' seconds from past runs under the same ``--out``.

    A run not yet scored on a ``--test-set`` it names is not finished. The estimate of a run is, per downstream
    model, the median ``timings.total`` of past runs of the same dataset, preset, method, variant, train-on and model
    (any seed, ratio or setting); None when there is none. Runs that share cached stages take less than it.
    """
    past: dict[tuple, list[float]] = defaultdict(list)
    names: dict[str, str] = {}
    out: list[RunStatus] = []
    for r in sweep.runs:
        req = r.request
        pl = runner.plan(req)
        if req.dataset not in names:
            path, card = resolve_dataset(req.dataset)
            names[req.dataset] = card.name if card else path.name
            _index_past(Path(req.out) / names[req.dataset], past)
        configs = runner.run_configs(req, pl, names[req.dataset], req.seeds[0])
        named = [resolve(name)[0] for name in req.test_sets if name != NONE]  # a set it lacks: the run scores it
        stored = [runner.stored_result(rdir, cfg.key()) for cfg, rdir in configs]
        done = all(s is not None and set(named) <= set(s["metrics"].get("external", {})) for s in stored)
        done = done and not req.force
        seconds = [_median(past.get(_past_key(cfg))) for cfg, _ in configs]
        estimate = 0.0 if done else (None if None in seconds else sum(seconds))
        out.append(RunStatus(r, done, estimate))
    return out


def _past_key(cfg: Any) -> tuple:
    return (cfg.dataset, cfg.preset, cfg.method, cfg.ablation, cfg.train_on, cfg.model)


def _index_past(root: Path, past: dict[tuple, list[float]]) -> None:
    if not root.is_dir():
        return
    for f in store.find_results(root):
        try:
            r = store.load_results(f)
        except (ValueError, OSError):
            continue
        ident = r["run"]
        key = tuple(ident[k] for k in ("dataset", "preset", "method", "ablation", "train_on", "model"))
        if isinstance(r["timings"].get("total"), (int, float)):
            past[key].append(float(r["timings"]["total"]))


def _median(values: list[float] | None) -> float | None:
    return statistics.median(values) if values else None


def new_group(sweep: Sweep) -> str:
    """The W&B group of one launch of a sweep: its runs and its report run are shown together."""
    dataset = Path(sweep.runs[0].request.dataset).name if sweep.runs else "none"
    return f"sweep-{sweep.name}-{dataset}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}"


def run_local(
    sweep: Sweep,
    progress: Any = None,
    on_start: Callable[[int, SweepRun], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> SweepOutcome:
    """Run every run of the sweep in this process, in order, finished ones reused.

    A run that fails for its own reasons (out of memory, a method that kept no pair to train on) is recorded and the
    sweep goes on; a bad request or data set (ConfigError, DatasetError) stops it, since every run would meet it.
    """
    seen: set[str] = set()

    def warn_once(msg: str) -> None:
        if msg not in seen:
            seen.add(msg)
            (on_warning or logger.warning)(msg)

    outcome = SweepOutcome()
    for i, r in enumerate(sweep.runs):
        if on_start:
            on_start(i, r)
        try:
            done = runner.run(r.request, progress=progress, on_warning=warn_once)
        except (runner.RunError, RuntimeError) as e:
            outcome.failed.append((r, str(e)))
            continue
        outcome.paths += done.paths
    return outcome


def run_request(request: runner.Request) -> list[str]:
    """One sweep run in a submitit job (module level, so that it pickles): the results files it wrote or reused."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return [str(p) for p in runner.run(request).paths]


def run_submitit(sweep: Sweep, folder: Path, options: dict[str, Any]) -> SweepOutcome:
    """Submit every unfinished run as one submitit job and wait for them all.

    Args:
        sweep: the sweep.
        folder: where submitit keeps job scripts and logs (``%j`` is the job id).
        options: ``cluster`` (``slurm``, ``local`` or ``debug``; default: Slurm where ``sbatch`` exists, else
            local) and submitit's executor parameters (``timeout_min``, ``gpus_per_node``, ``cpus_per_task``,
            ``mem_gb``, ``slurm_partition`` — ``partition`` is taken as ``slurm_partition`` —, ...), and
            ``max_parallel``: at most this many jobs at once (default: 1 on the local executor, all on a cluster).
            On the local executor ``timeout_min`` defaults to :data:`LOCAL_TIMEOUT_MIN` and ``gpus_per_node`` to
            every visible GPU (submitit's own defaults are 2 minutes and none).
    Raises:
        ConfigError: options submitit does not accept.
    """
    import submitit

    params = dict(options)
    cluster = params.pop("cluster", None)
    limit = params.pop("max_parallel", None)
    if "partition" in params:
        params["slurm_partition"] = params.pop("partition")
    try:
        executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster=cluster)
        executor.update_parameters(name=f"bench-{sweep.name}", **params)
    except (ValueError, NameError, TypeError, RuntimeError) as e:
        raise ConfigError(f"--launcher-option: {e}") from None
    if executor.cluster in ("local", "debug"):
        # submitit's local executor kills a job after 2 minutes and hides every GPU unless told otherwise
        import torch

        local = {"timeout_min": LOCAL_TIMEOUT_MIN, "gpus_per_node": torch.cuda.device_count()}
        executor.update_parameters(**{k: v for k, v in local.items() if k not in params})
        if limit is None:
            limit = 1  # local jobs share this machine: all at once would each want every core and their own memory
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"--launcher-option max_parallel must be a whole number >= 1, got {limit!r}")
    statuses = status(sweep)
    outcome = SweepOutcome()
    for s in statuses:
        if s.done:
            outcome.paths += _result_paths(s.run)
    pending = [s.run for s in statuses if not s.done]
    if limit is None:  # a cluster queues them all; its scheduler decides what runs when
        with executor.batch():
            running = [(r, executor.submit(run_request, r.request)) for r in pending]
        pending = []
    else:
        running = []
    while pending or running:
        while pending and len(running) < limit:
            r = pending.pop(0)
            running.append((r, executor.submit(run_request, r.request)))
        finished = [(r, job) for r, job in running if job.done()]
        if not finished:
            time.sleep(1.0)
        for r, job in finished:
            running.remove((r, job))
            try:
                outcome.paths += [Path(p) for p in job.result()]
            except Exception as e:  # submitit re-raises the job's exception, or says how the scheduler ended it
                lines = str(e).strip().splitlines()
                outcome.failed.append((r, f"job {job.job_id}: {lines[-1] if lines else repr(e)}"))
    return outcome


def _result_paths(r: SweepRun) -> list[Path]:
    req = r.request
    path, card = resolve_dataset(req.dataset)
    configs = runner.run_configs(req, runner.plan(req), card.name if card else path.name, req.seeds[0])
    return [rdir / "results.json" for _, rdir in configs]
