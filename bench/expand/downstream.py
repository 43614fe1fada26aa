"""Whether an expansion helps a segmenter: the method fitted per seed on a 90 % split, as ``bench run`` does,
and the paired downstream Dice against ``origin`` on the other 10 %."""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any

from bench.expand.request import ExpandRequest, run_request
from bench.expand.verdict import gain_p_value
from bench.runner.loop import Outcome, run
from bench.runner.request import baseline_request


def evaluate_downstream(req: ExpandRequest, progress: Any = None) -> dict[str, Any]:
    """Paired downstream Dice of the request's method against ``origin`` on held-back test splits.

    ``bench run``'s protocol, one seed of ``req.evaluate`` at a time: the folder is split 90/10 by the seed, the
    method is fitted on the 90 % alone (not on every pair, as the expansion is), and the preset's U-Net is trained
    on those real pairs with and without the generated ones and scored on the 10 %. Runs and stages are kept under
    ``req.cache`` as ``bench run --out`` keeps them, so finished ones are reused.

    Returns:
        ``seeds``, ``model``, ``train_ratio``, ``train_pairs``, ``test_pairs``, per-seed ``dice_origin``,
        ``dice_expanded`` and ``delta`` (expanded − origin), their ``delta_mean`` and ``delta_std`` (sample std;
        None for one seed), ``p_value`` of a one-sided paired t-test of Δ > 0 over the seeds (None for one seed),
        and the ``runs`` (results files).
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
        "p_value": gain_p_value(deltas),
        "runs": [str(p) for p in [*expanded.paths, *origin.paths]],
    }
