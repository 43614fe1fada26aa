"""Δ vs origin in W&B: each method run's summary carries its Dice minus that of its paired origin run.

Paired means the same data set, preset, model, augmentation, train ratio, seed and downstream training (the rule
of the tables' "Δ vs origin", :func:`bench.report.training_signature`). A method run logged while its origin run
exists gets Δ when it is logged; one logged before (``bench run`` trains origin after the method) gets it when
the origin run is logged: its W&B run is opened again by id and its summary updated. Each also carries the paired
Δ over every seed of its setting that has its origin so far (:mod:`bench.stats`: interval, p, detectable Δ), and
when an origin run completes a seed, every run of that setting gets the new figures, so all its seeds agree.
"""

from __future__ import annotations

from pathlib import Path

from bench import results as store
from bench import tracking
from bench.paper import BASELINE
from bench.report import training_signature
from bench.stats import PairedDelta, results_delta

PAIRED_BY = ("dataset", "preset", "model", "augment", "train_ratio", "seed")


def paired(a: store.Results, b: store.Results) -> bool:
    """Whether two runs are a method run and its origin run, or the other way round."""
    same = all(a["run"].get(k) == b["run"].get(k) for k in (*PAIRED_BY, "train_pairs"))
    return same and training_signature(a) == training_signature(b)


def stored_runs(out: Path, dataset: str) -> list[tuple[store.Results, Path]]:
    """Every finished run of ``dataset`` under ``out`` with its folder; unreadable results are skipped."""
    found = []
    for f in sorted((Path(out) / dataset).glob("*/*/seed_*/results.json")):  # ratio_<r> or pairs_<N>
        try:
            found.append((store.load_results(f), f.parent))
        except ValueError:
            continue
    return found


def same_setting(a: store.Results, b: store.Results) -> bool:
    """Whether two runs are seeds of one setting: their identities differ only in seed (and run key), and they
    trained alike."""
    keys = (a["run"].keys() | b["run"].keys()) - {"seed", "key"}
    return all(a["run"].get(k) == b["run"].get(k) for k in keys) and training_signature(a) == training_signature(b)


def origin_of(res: store.Results, runs: list[tuple[store.Results, Path]]) -> store.Results | None:
    """``res``'s paired origin run among ``runs``, or None while it does not exist."""
    if res["run"]["method"] == BASELINE:
        return None
    return next((o for o, _ in runs if o["run"]["method"] == BASELINE and paired(res, o)), None)


def origin_dice(res: store.Results, out: Path) -> float | None:
    """The Dice of ``res``'s paired origin run under ``out``, or None while it does not exist."""
    origin = origin_of(res, stored_runs(out, res["run"]["dataset"]))
    return None if origin is None else origin["metrics"]["dice"]


def setting_delta(
    res: store.Results, out: Path, runs: list[tuple[store.Results, Path]] | None = None
) -> PairedDelta | None:
    """The paired Δ vs origin over every seed of ``res``'s setting under ``out`` (``res`` included, stored or not)
    that has its origin run; None without one. ``runs``: :func:`stored_runs`, when already read."""
    runs = stored_runs(out, res["run"]["dataset"]) if runs is None else runs
    seeds = {r["run"]["seed"]: r for r, _ in runs if same_setting(r, res)} | {res["run"]["seed"]: res}
    origins = {s: o for s, r in seeds.items() if (o := origin_of(r, runs)) is not None}
    return results_delta(seeds, origins)


def update_paired_runs(origin: store.Results, out: Path) -> int:
    """Give every method run under ``out`` logged to W&B whose setting has a run paired with ``origin`` its Δ vs
    its own origin and its setting's paired Δ over seeds; how many were updated."""
    runs = stored_runs(out, origin["run"]["dataset"])
    paired_now = [r for r, _ in runs if r["run"]["method"] != BASELINE and paired(r, origin)]
    n = 0
    for res, rdir in runs:
        own = origin_of(res, runs)
        if own is not None and any(same_setting(res, p) for p in paired_now):
            n += tracking.log_delta(res, rdir, own["metrics"]["dice"], setting_delta(res, out, runs))
    return n
