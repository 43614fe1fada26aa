"""The paper's tables and figures from stored ``results.json`` files: pure functions of the results.

``build_artifact(kind, runs, out)`` reads every ``results.json`` under ``runs`` and writes one artifact into ``out``:

===============  ===================================================================  ==============================
kind             what                                                                 files
===============  ===================================================================  ==============================
``table1``       DiffuseExpand ablations, UNet trained on real + synthetic (Table 1)  table1.md / .csv / .tex
``table2``       methods whose pairs alone train the network (Table 2)                table2.md / .csv / .tex
``fewshot``      Dice vs train ratio, with and without expansion (Fig. 2 right)       fewshot.md / .csv / .png
``tau-vs-s``     stage-IV Dice densities, temperature τ vs gradient scale s (Fig. 2)  tau_vs_s.md / .csv / .png
``gallery``      each method's stored ``gallery.png`` side by side (Fig. 3)           gallery.md / .png
``leaderboard``  Δ Dice vs origin with CIs, per labelled pairs and augmentation       leaderboard.md / .csv / .png
===============  ===================================================================  ==============================

Results are grouped by (dataset, preset), one block each; cells aggregate seeds as :mod:`bench.artifacts.cells`
says, and missing runs show as "–" with a note, never as zeros. Runs scored on external test sets (``--test-set``)
add each set's Dice and paired Δ to every artifact but the gallery. :data:`BUILDERS` is the one list of kinds
(``bench report`` and ``bench sweep`` read theirs from it); importing this package loads no plotting library,
since each figure imports matplotlib only when it is drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.artifacts import fewshot, gallery, leaderboard, table1, table2, tau_vs_s
from bench.artifacts.cells import Run, load_runs
from bench.artifacts.render import Artifact

BUILDERS: dict[str, Callable[[list[Run], Path], Artifact]] = {
    "table1": table1.build,
    "table2": table2.build,
    "fewshot": fewshot.build,
    "tau-vs-s": tau_vs_s.build,
    "gallery": gallery.build,
    "leaderboard": leaderboard.build,
}
ARTIFACTS: tuple[str, ...] = tuple(BUILDERS)

__all__ = ["ARTIFACTS", "BUILDERS", "Artifact", "build_artifact"]


def build_artifact(kind: str, runs: Path, out: Path) -> Artifact:
    """Build the artifact ``kind`` from every ``results.json`` under ``runs``; write its files into ``out``.

    Raises:
        ValueError: an unknown kind, none of the results is relevant to the artifact (the message says what is
            missing), or a cell would average runs of different downstream training or method versions.
        FileNotFoundError: no ``results.json`` under ``runs``.
    """
    if kind not in BUILDERS:
        raise ValueError(f"unknown artifact '{kind}'; choose from: {', '.join(ARTIFACTS)}")
    loaded = load_runs(runs)
    return BUILDERS[kind](loaded, Path(out))  # out is created by the first write: a refused one leaves nothing
