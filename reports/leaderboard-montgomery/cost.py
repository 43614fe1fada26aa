"""What the leaderboard's runs cost, from the seconds each results.json records, and what the whole grid would.

    python reports/leaderboard-montgomery/cost.py [RUNS] [--pretraining SECONDS ...]

A run records the seconds it spent (``timings.total``); a stage it reused from another run's cache costs it
nothing, so the sum over runs is the compute the grid took, one core per run. The grid the leaderboard asks for is
every entry at every count of pairs, augmentation and seed; a cell not run yet is priced at the mean of the same
entry and augmentation at the counts that did run (marked ``~``), or not at all (``?``). Each pretraining runs once.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from statistics import mean

HERE = Path(__file__).parent
PAIRS, AUGMENTS, SEEDS = (9, 14, 28), ("none", "nnunet"), 5
ENTRIES = ("origin", "xlsor", "diffuseexpand", "diffuseexpand+pretrained", "joint+pretrained", "synthmed")


def entry(run: dict) -> str | None:
    """The grid entry a run fills (pooled runs without other settings only), or None."""
    settings = run["settings"]
    if settings.startswith("pretrained=") and "," not in settings:
        return f"{run['method']}+pretrained"
    return None if settings else run["method"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="?", type=Path, default=HERE / "runs")
    parser.add_argument("--pretraining", type=float, action="append", default=[], help="seconds of one pretraining")
    args = parser.parse_args()
    seconds: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    for path in sorted(args.runs.rglob("results.json")):
        res = json.loads(path.read_text())
        name = entry(res["run"])
        if name in ENTRIES and res["run"].get("train_pairs") in PAIRS:
            seconds[(name, res["run"]["train_pairs"], res["run"]["augment"])].append(res["timings"]["total"])
    done = sum(sum(v) for v in seconds.values())
    print(f"{sum(len(v) for v in seconds.values())} grid runs done: {done / 3600:.1f} core-hours")
    print(f"| entry | augment | {' | '.join(f'{p} pairs' for p in PAIRS)} |")
    print(f"|---|---|{'---|' * len(PAIRS)}")
    total, unpriced = sum(args.pretraining), 0
    for name in ENTRIES:
        for augment in AUGMENTS:
            measured = {p: mean(seconds[(name, p, augment)]) for p in PAIRS if seconds[(name, p, augment)]}
            cells = []
            for p in PAIRS:
                if p in measured:
                    per_run, mark = measured[p], ""
                elif measured:
                    per_run, mark = mean(measured.values()), "~"
                else:
                    unpriced += 1
                    cells.append("?")
                    continue
                total += SEEDS * per_run
                cells.append(f"{mark}{per_run / 60:.1f} min")
            print(f"| {name} | {augment} | {' | '.join(cells)} |")
    grid = len(ENTRIES) * len(AUGMENTS) * len(PAIRS) * SEEDS
    print(
        f"the grid ({grid} runs, {len(args.pretraining)} pretraining(s)): {total / 3600:.1f} core-hours priced, "
        f"{total / 7200:.1f} h on two cores; {unpriced * SEEDS} runs not priced (?)"
    )


if __name__ == "__main__":
    main()
