"""Whether an expansion helps a segmenter: the method fitted per seed on a 90 % split, as ``bench run`` does,
and the paired downstream Dice against ``origin`` on the other 10 %."""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any

from bench.expand.request import ExpandRequest, run_request
from bench.runner.loop import Outcome, run
from bench.runner.request import baseline_request
from bench.stats import METHOD, PairedDelta, comparable, results_delta


def evaluate_downstream(req: ExpandRequest, progress: Any = None) -> dict[str, Any]:
    """Paired downstream Dice of the request's method against ``origin`` on held-back test splits.

    ``bench run``'s protocol, one seed of ``req.evaluate`` at a time: the folder is split 90/10 by the seed, the
    method is fitted on the 90 % alone (not on every pair, as the expansion is), and the preset's U-Net is trained
    on those real pairs with and without the generated ones and scored on the 10 %. Runs and stages are kept under
    ``req.cache`` as ``bench run --out`` keeps them, so finished ones are reused.

    Returns:
        ``seeds``, ``model``, ``train_ratio``, ``train_pairs``, ``test_pairs``, per-seed ``dice_origin``,
        ``dice_expanded`` and ``delta`` (expanded − origin), their ``delta_mean`` and ``delta_std`` (sample std;
        None for one seed), the paired Δ's interval (:func:`interval`: ``delta_low``, ``delta_high``, ``p_value``,
        ``detectable``, ``method``; :mod:`bench.stats`, per test image within each seed),
        ``external`` (per external test set: the same per-seed Dice, Δ, their mean and interval; only with such
        sets) and
        the ``runs`` (results files).
    """
    request = dataclasses.replace(run_request(req), seeds=tuple(req.evaluate))
    expanded = run(request, progress=progress, on_warning=lambda _: None)
    origin = run(baseline_request(request), progress=progress, on_warning=lambda _: None)

    def dice(outcome: Outcome) -> dict[int, float]:
        return {r["run"]["seed"]: float(r["metrics"]["dice"]) for r in outcome.results}

    with_pairs, without = dice(expanded), dice(origin)
    seeds = sorted(with_pairs)
    deltas = [with_pairs[s] - without[s] for s in seeds]
    counts = expanded.results[0]["counts"]
    sets = sorted({name for r in expanded.results for name in r["metrics"].get("external") or {}})
    return {
        "seeds": seeds,
        "model": request.models[0],
        "train_ratio": request.train_ratio,
        "train_pairs": counts["real_train"],
        "test_pairs": counts["test"],
        "dice_origin": [round(without[s], 4) for s in seeds],
        "dice_expanded": [round(with_pairs[s], 4) for s in seeds],
        "delta": [round(d, 4) for d in deltas],
        "delta_mean": round(statistics.fmean(deltas), 4),
        "delta_std": round(statistics.stdev(deltas), 4) if len(deltas) > 1 else None,
        **interval(results_delta(by_seed(expanded), by_seed(origin))),
        **({"external": {n: outside(by_seed(expanded), by_seed(origin), n) for n in sets}} if sets else {}),
        "runs": [str(p) for p in [*expanded.paths, *origin.paths]],
    }


def outside(runs: dict[int, dict[str, Any]], origins: dict[int, dict[str, Any]], test_set: str) -> dict[str, Any]:
    """The paired Dice of runs vs their origin runs (seed -> ``results.json`` dict) on one external set, over the
    seeds its interval pairs (:func:`bench.stats.comparable`): not one whose origin was scored on another version of
    the set, or trained on other real pairs (a run kept from before the set's or the data's folder changed)."""

    def dice(scored: dict[int, Any]) -> dict[int, float]:
        return {
            s: float(x["dice"]) for s, r in scored.items() if (x := (r["metrics"].get("external") or {}).get(test_set))
        }

    on, off = dice(comparable(runs, origins, test_set)), dice(origins)
    both = sorted(set(on) & set(off))
    gains = [on[s] - off[s] for s in both]
    return {
        "seeds": both,
        "dice_origin": [round(off[s], 4) for s in both],
        "dice_expanded": [round(on[s], 4) for s in both],
        "delta": [round(d, 4) for d in gains],
        "delta_mean": round(statistics.fmean(gains), 4) if gains else None,
        **interval(results_delta(runs, origins, test_set)),
    }


def by_seed(outcome: Outcome) -> dict[int, dict[str, Any]]:
    return {r["run"]["seed"]: r for r in outcome.results}


def interval(d: PairedDelta | None) -> dict[str, Any]:
    """The paired Δ's 95 % interval, two-sided p, detectable Δ (None with one seed) and how they were computed."""
    figures = (d.low, d.high, d.p, d.detectable) if d else (None,) * 4
    rounded = [None if v is None else round(v, 6) for v in figures]
    return {**dict(zip(("delta_low", "delta_high", "p_value", "detectable"), rounded)), "method": METHOD}
