"""What the end2end search did, per seed: how far the architecture weights moved from their start (every candidate
1/3), the hypergradient's norm per step, and the inner segmenter's validation loss, from the stored runs'
results.json and the search stages' train_log.json.

    python reports/genseg-montgomery/search_stats.py reports/genseg-montgomery
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def main(report: Path) -> None:
    logs = {}
    for key in sorted((report / "search").glob("*/key.json")):
        logs[json.loads(key.read_text())["seed"]] = json.loads(key.with_name("train_log.json").read_text())
    print("| seed | largest move of a candidate weight from 1/3 | hypergradient norm: median [min, max] over steps "
          "| validation loss: first → last step | search seconds |")
    print("|---|---|---|---|---|")
    seen = set()
    for results in sorted(report.glob("runs/*/genseg__end2end__*/*/seed_*/results.json")):
        stats = json.loads(results.read_text())["method_stats"]
        seed = json.loads(results.read_text())["config"]["seed"]
        if seed in seen:
            continue
        seen.add(seed)
        used = [w for row in stats["architecture"]["used"] for w in row]
        move = max(abs(w - 1 / 3) for w in used)
        log = logs[seed]
        grads = log["part_losses"]["arch_grad"]
        val = log["losses"]
        print(
            f"| {seed} | {move:.4f} | {statistics.median(grads):.1e} [{min(grads):.1e}, {max(grads):.1e}] "
            f"| {val[0]:.3f} → {val[-1]:.3f} | {log['seconds']:.0f} |"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
