"""Δ vs origin in W&B: each method run's summary carries its Dice minus that of its paired origin run.

Paired means the same data set, preset, model, augmentation, train ratio, seed and downstream training (the rule
of the tables' "Δ vs origin", :func:`bench.report.training_signature`). A method run logged while its origin run
exists gets Δ when it is logged; one logged before (``bench run`` trains origin after the method) gets it when
the origin run is logged: its W&B run is opened again by id and its summary updated.
"""

from __future__ import annotations

from pathlib import Path

from bench import results as store
from bench import tracking
from bench.paper import BASELINE
from bench.report import training_signature

PAIRED_BY = ("dataset", "preset", "model", "augment", "train_ratio", "seed")


def paired(a: store.Results, b: store.Results) -> bool:
    """Whether two runs are a method run and its origin run, or the other way round."""
    same = all(a["run"][k] == b["run"][k] for k in PAIRED_BY)
    return same and training_signature(a) == training_signature(b)


def stored_runs(out: Path, dataset: str) -> list[tuple[store.Results, Path]]:
    """Every finished run of ``dataset`` under ``out`` with its folder; unreadable results are skipped."""
    found = []
    for f in sorted((Path(out) / dataset).glob("*/ratio_*/seed_*/results.json")):
        try:
            found.append((store.load_results(f), f.parent))
        except ValueError:
            continue
    return found


def origin_dice(res: store.Results, out: Path) -> float | None:
    """The Dice of ``res``'s paired origin run under ``out``, or None while it does not exist."""
    if res["run"]["method"] == BASELINE:
        return None
    runs = stored_runs(out, res["run"]["dataset"])
    return next((o["metrics"]["dice"] for o, _ in runs if o["run"]["method"] == BASELINE and paired(res, o)), None)


def update_paired_runs(origin: store.Results, out: Path) -> int:
    """Give every paired method run under ``out`` that was logged to W&B its Δ vs ``origin``; how many were."""
    n = 0
    for res, rdir in stored_runs(out, origin["run"]["dataset"]):
        if res["run"]["method"] != BASELINE and paired(res, origin):
            n += tracking.log_delta(res, rdir, origin["metrics"]["dice"])
    return n
