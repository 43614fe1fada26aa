"""What a dry run says of each run of a sweep, as ``bench run`` would find it: finished, finished but to be scored on
an external test set it lacks, or to run; and how long the rest should take, from past runs under the same ``--out``.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import results as store
from bench import runner
from bench.cards import DatasetCard, resolve_dataset
from bench.integrity import CheckReport, check
from bench.pairs import DatasetError
from bench.runner.layout import WEIGHTS
from bench.sweep.grid import Sweep, SweepRun
from bench.testsets import chosen, load

if TYPE_CHECKING:
    from bench.config import RunConfig
    from bench.runner.dataset import LoadedData
    from bench.runner.planning import Plan
    from bench.testsets import ExternalSet


@dataclass
class RunStatus:
    """What a dry run says of one sweep run: finished already, or, when ``score`` names sets, finished but for
    those external sets, which ``bench run`` scores from the run's kept weights; and the seconds it should take."""

    run: SweepRun
    done: bool
    estimate: float | None
    score: tuple[str, ...] = ()


@dataclass
class _Read:
    """What a status reads once for all the runs that need it: external sets, and data sets, at a size (checked once
    for every method); and the sets :func:`bench.runner.external.load_external` keeps for a data set, size, method
    and seed."""

    sets: dict[tuple, ExternalSet | DatasetError] = field(default_factory=dict)
    checked: dict[tuple, CheckReport] = field(default_factory=dict)
    data: dict[tuple, LoadedData] = field(default_factory=dict)
    kept: dict[tuple, list[ExternalSet]] = field(default_factory=dict)


def status(sweep: Sweep) -> list[RunStatus]:
    """Which runs are finished, which only need scoring on an external set, and an estimate of the others' seconds.

    A stored run is judged as ``bench run`` judges it (:mod:`bench.runner.external`): its external sets are those of
    ``--test-set``, else its card's defaults found here and seen by no stage; one it lacks (or was scored on when the
    set held other pairs) is scored from its kept weights, and without them it is trained again for a set
    ``--test-set`` names and kept as it is for a card's default. The estimate of a run to train is, per downstream
    model, the median ``timings.total`` of past runs of the same dataset, preset, method, variant, train-on and model
    (any seed, ratio or setting), None when there is none (runs that share cached stages take less); of a run to
    score, its own evaluation's seconds per pair times the pairs of the sets it lacks.

    Raises:
        ConfigError, DatasetError: a set ``--test-set`` names that ``bench run`` would refuse for a run, finished or
            not (the run's own data set, one holding a training image of it, say), or one a finished run lacks of
            its card's defaults that it would refuse, naming the option, so the sweep refuses before any run.
    """
    past: dict[tuple, list[float]] = defaultdict(list)
    found: dict[str, tuple[str, DatasetCard | None]] = {}
    read = _Read()
    out: list[RunStatus] = []
    for r in sweep.runs:
        req = r.request
        pl = runner.plan(req, r.checked)
        if req.dataset not in found:
            path, card = resolve_dataset(req.dataset)
            found[req.dataset] = (card.name if card else path.name, card)
            _index_past(Path(req.out) / found[req.dataset][0], past)
        name, card = found[req.dataset]
        steps = [
            _step(req, pl, cfg, rdir, card, read, past)
            for cfg, rdir in runner.run_configs(req, pl, name, req.seeds[0])
        ]
        seconds = [s for kind, s, _ in steps if kind != "done"]
        estimate = None if None in seconds else sum(seconds)
        kinds = {kind for kind, _, _ in steps}
        score = () if "run" in kinds else tuple(dict.fromkeys(n for _, _, names in steps for n in names))
        out.append(RunStatus(r, kinds == {"done"}, estimate, score))
    return out


def _step(
    req: runner.Request,
    pl: Plan,
    cfg: RunConfig,
    rdir: Path,
    card: DatasetCard | None,
    read: _Read,
    past: dict[tuple, list[float]],
) -> tuple[str, float | None, list[str]]:
    """What ``bench run`` does with one of a request's run folders: ``done``, ``score`` (on the sets named) or
    ``run``, and its estimated seconds."""
    from bench.runner.external import lacking, reusable  # torch: when a status is made, not at import

    done = None if req.force else runner.stored_result(rdir, cfg.key())
    sets = _external_sets(req, pl, rdir, card, done, read) if done is not None or req.test_sets else []
    if done is None or not reusable(done, rdir, sets):
        return "run", _median(past.get(_past_key(cfg))), []
    missing = lacking(done, sets) if (rdir / WEIGHTS).is_file() else []
    if not missing:
        return "done", 0.0, []
    return "score", _scoring_seconds(done, missing), [s.name for s in missing]


def _external_sets(
    req: runner.Request, pl: Plan, rdir: Path, card: DatasetCard | None, done: store.Results | None, read: _Read
) -> list[ExternalSet]:
    """The external sets ``bench run`` would score a run on, each read once per status.

    ``bench run`` checks the sets ``--test-set`` names for every run, finished or not, so for them the run's data
    are read (once per data set, size and method) and :func:`bench.runner.external.load_external` decides (once per
    seed and split as well): a set it refuses (the run's own data set, one holding a training image, ...) is
    refused here too, before any run. A card's default set decides something only for a finished run that lacks it
    and kept its weights (one without them is kept as it is), and only there is it checked so.

    Raises:
        ConfigError, DatasetError: as ``bench run`` would, naming the option.
    """
    from bench.runner.external import lacking  # torch, as above

    def cached(name: str, image_size: int, channels: int, asked: bool, reading: Any = None) -> ExternalSet:
        key = (name, image_size, channels, reading, asked)
        if key not in read.sets:
            try:
                read.sets[key] = load(name, image_size, channels, asked, reading)
            except DatasetError as e:
                read.sets[key] = e
        got = read.sets[key]
        if isinstance(got, DatasetError):
            raise got
        return got

    names, asked = chosen(tuple(req.test_sets), card)
    if asked:
        return _kept(req, pl, read, cached)
    sets = []
    for name in names:
        try:
            sets.append(cached(name, pl.image_size, req.channels, asked, req.masks))
        except DatasetError:  # bench run leaves out a card's default set it cannot read
            pass
    if done is None or not lacking(done, sets) or not (rdir / WEIGHTS).is_file():
        return sets
    return _kept(req, pl, read, cached)


def _kept(req: runner.Request, pl: Plan, read: _Read, read_set: Any) -> list[ExternalSet]:
    """:func:`bench.runner.external.load_external` for a run, its data read once per data set, size and method, and
    its verdict taken once per seed, split and method options."""
    from bench.runner.dataset import load_data, seed_splits  # torch, as above
    from bench.runner.external import load_external

    key = (req.dataset, pl.image_size, req.channels, req.masks, pl.method_cls.name)
    split = (req.seeds, req.train_ratio, req.train_pairs, req.allow_empty_test)
    decided = (*key, tuple(req.test_sets), *split, repr(pl.options))
    if decided not in read.kept:
        if key not in read.data:
            at = (req.dataset, pl.image_size, req.masks)
            if at not in read.checked:
                read.checked[at] = check(resolve_dataset(req.dataset)[0], image_size=pl.image_size, reading=req.masks)
            read.data[key] = load_data(req.dataset, pl, req.channels, _quiet, read.checked[at], req.masks)
        data = read.data[key]
        splits = seed_splits(req, data.pairs, data.path, _quiet)[0]
        read.kept[decided] = load_external(req, pl, data, splits, _quiet, read_set=read_set)
    return read.kept[decided]


def _quiet(_: str) -> None:
    """Warnings of the checks a status repeats: the run itself says them."""


def _scoring_seconds(done: store.Results, sets: list[ExternalSet]) -> float | None:
    """A finished run's seconds to score ``sets``: its own evaluation's seconds per pair, times their pairs."""
    seconds = done["timings"].get("evaluate")
    external = done["metrics"].get("external", {}).values()
    evaluated = done.get("counts", {}).get("test", 0) + sum(s.get("n", 0) for s in external)
    if not isinstance(seconds, (int, float)) or not evaluated:
        return None
    return seconds / evaluated * sum(len(s.pairs) for s in sets)


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


def result_paths(r: SweepRun) -> list[Path]:
    """The results files of a sweep run's folders, one per downstream model."""
    req = r.request
    path, card = resolve_dataset(req.dataset)
    configs = runner.run_configs(req, runner.plan(req, r.checked), card.name if card else path.name, req.seeds[0])
    return [rdir / "results.json" for _, rdir in configs]
