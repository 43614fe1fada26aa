"""Table 1: DiffuseExpand's ablations, a UNet trained on the real split plus the generated pairs.

Columns: Origin (real pairs only), CF, and CF+CG / CF+CG+CS at each of the paper's τ; rows: the generation
metrics (FID, FID-U, IS-U, read from the augment-none runs) and the Dice of each augmentation, with the paired Δ vs
origin, then the same Dice on each external test set the runs were scored on (``Dice on <set>``). One block per
(dataset, preset), at its largest train ratio.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bench.artifacts.cells import (
    Run,
    aggregate_dice,
    block_title,
    dedup,
    delta,
    external_sets,
    generation_cell,
    largest_ratio,
    note_unscored,
    one_per_seed,
    settings_keys,
)
from bench.artifacts.render import (
    DELTA_LEGEND,
    EXTERNAL_LEGEND,
    SEED_LEGEND,
    Artifact,
    Entry,
    detectable_lines,
    long_csv,
    markdown,
    md_table,
    set_bold,
    tex,
    tex_table,
    write,
)
from bench.paper import BASELINE, TABLE1_ABLATIONS, TABLE1_DICE, TAUS, matches

GUIDED = tuple(a for a in TABLE1_ABLATIONS if a != "cf")  # the ablations with a column per τ
COLUMNS = ("Origin", "CF", *(f"{TABLE1_ABLATIONS[a]} τ={t.text}" for a in GUIDED for t in TAUS))
_TEX_COLUMNS = ["Origin", "CF", *(rf"{TABLE1_ABLATIONS[a]} $\tau={t.tex}$" for a in GUIDED for t in TAUS)]
_GENERATION = {"FID↓": "fid", "FID-U↓": "fid_unet", "IS-U↑": "is_unet"}


def _candidate(r: Run) -> bool:
    if r.model != "unet":
        return False
    return (r.method == BASELINE and r.train_on == "real") or (
        r.method == "diffuseexpand" and r.train_on == "real+synthetic" and r.ablation in TABLE1_ABLATIONS
    )


def _column(r: Run) -> str | None:
    if r.method == BASELINE:
        return "Origin"
    if r.ablation == "cf":
        return "CF"
    tau = r.option("tau")
    return next((f"{TABLE1_ABLATIONS[r.ablation]} τ={t.text}" for t in TAUS if matches(tau, t.value)), None)


def build(runs: list[Run], out: Path) -> Artifact:
    """Write ``table1.md``, ``table1.csv`` (one line per cell) and ``table1.tex`` into ``out``."""
    notes: list[str] = []
    candidates = [r for r in runs if _candidate(r)]
    if not candidates:
        raise ValueError(
            f"table1 needs UNet runs of origin (train on real) or diffuseexpand cf / cf+cg / cf+cg+cs (train on "
            f"real+synthetic); none among the {len(runs)} results"
        )
    placed: dict[tuple[str, str], list[tuple[str, Run]]] = defaultdict(list)
    other_keys: Counter[str] = Counter()
    off_tau = []
    for r in candidates:
        extra = settings_keys(r.settings) - {"tau"}
        if extra:
            other_keys.update(extra)
            continue
        column = _column(r)
        if column is None:
            off_tau.append(r)
            continue
        placed[r.dataset, r.preset].append((column, r))
    if other_keys:
        counts = ", ".join(f"{k} ({n})" for k, n in sorted(other_keys.items()))
        notes.append(f"left out {sum(other_keys.values())} runs whose settings change more than τ: {counts}")
    if off_tau:
        taus = ", ".join(sorted({f"{r.option('tau'):g}" for r in off_tau if r.option("tau") is not None}))
        grid = ", ".join(t.text for t in TAUS)
        notes.append(f"left out {len(off_tau)} runs at τ not in {grid} ({taus or 'no τ recorded'})")
    if not placed:
        raise ValueError(f"table1: every candidate run was left out ({'; '.join(notes)})")

    entries: list[Entry] = []
    md_rows: list[list[str]] = []
    tex_blocks: list[list[list[str]]] = []
    plain: list[list[Any]] = []
    detectable: list[tuple[str, list[Entry]]] = []
    external = False
    for (ds, preset), pairs in sorted(placed.items()):
        block = block_title(ds, preset, (r for _, r in pairs))
        grid = _block_grid(ds, preset, block, pairs, notes)
        external |= any(row not in _GENERATION and row not in TABLE1_DICE for row in grid)
        for row, es in grid.items():
            set_bold(es, "↑" in row, f"{block}, {row[:-1]}", notes)
            entries += es
            md_rows.append([block if row == "FID↓" else "", row, *(e.text() for e in es)])
            detectable.append((f"{block}, {row}", es))
            plain.append([ds, preset, row, *(e.text(markup=False) for e in es)])
        tex_blocks.append(
            [
                [tex(block) if row == "FID↓" else "", tex(row), *(e.text(tex=True) for e in es)]
                for row, es in grid.items()
            ]
        )
    notes = dedup(notes)
    legend = [
        "Table 1: DiffuseExpand ablations; a UNet trained on the real training split plus the generated pairs "
        "(Origin: real pairs only). CF: classifier-free; CG: segmenter (classifier) guidance at temperature τ; "
        "CS: stage-IV selection of pairs. ⁺: RandAugment; *: CutMix; Dice without a mark: no augmentation.",
        "FID: Inception FID of the generated pairs vs the real training split (CF+CG+CS: the pairs it kept); "
        "FID-U / IS-U: the paper's U-Net-feature FID and IS, not comparable with Inception values; from the "
        "augment-none runs. Origin has no generated pairs and so no FID. Bold: best of the row.",
        SEED_LEGEND,
        DELTA_LEGEND,
        *([EXTERNAL_LEGEND] if external else []),
    ]
    head = ["Dataset", "Metric", *COLUMNS]
    tex_head = [" & ".join(["Dataset", "Metric", *_TEX_COLUMNS]) + r" \\"]
    texts = {
        "table1.md": markdown(
            "Table 1: DiffuseExpand ablations",
            [*md_table(head, md_rows), *detectable_lines(detectable)],
            legend,
            notes,
        ),
        "table1.csv": long_csv(entries),
        "table1.tex": tex_table("ll" + "c" * len(COLUMNS), tex_head, tex_blocks),
    }
    files = write(out, texts)
    return Artifact("table1", files, {"table1": (["dataset", "preset", "metric", *COLUMNS], plain)}, [], notes)


def _block_grid(
    ds: str, preset: str, block: str, pairs: list[tuple[str, Run]], notes: list[str]
) -> dict[str, list[Entry]]:
    """The cells of one (dataset, preset) block, row -> one entry per column, Δ vs origin set on the Dice rows; a
    Dice row per external test set and augmentation whose runs were scored on it."""
    ratio, _ = largest_ratio([r for _, r in pairs], block, notes)
    by_column: dict[str, list[Run]] = defaultdict(list)
    for column, r in pairs:
        if r.ratio == ratio:
            by_column[column].append(r)
    placed = [r for rs in by_column.values() for r in rs]
    external = {
        f"{row[:-1]} on {s}↑": (row, s)
        for s in external_sets(placed)
        for row, augment in TABLE1_DICE.items()
        if s in external_sets(r for r in placed if r.augment == augment)
    }
    grid: dict[str, list[Entry]] = {row: [] for row in (*_GENERATION, *TABLE1_DICE, *external)}
    for column in COLUMNS:
        rs = by_column[column]
        if not rs:
            notes.append(f"{column}: no run ({block})")
        # generation metrics are the same for every augmentation of a seed: read them from augment none
        source = next((a for a in TABLE1_DICE.values() if any(r.augment == a for r in rs)), None)
        if source not in (None, "none"):
            notes.append(f"{block}, {column}: FID / IS from the {source} runs (no augment-none run)")
        gen = one_per_seed([r for r in rs if r.augment == source], f"{block}, {column}, FID / IS", notes)
        for row, key in _GENERATION.items():
            where = f"{block}, {column}, {row[:-1]}"
            blank = column == "Origin" and key != "is_unet"  # no generated pairs: no distance to measure
            cell = None if blank else generation_cell(gen, key, column.startswith("CF+CG+CS"), where, notes)
            grid[row].append(Entry(ds, preset, row, column, cell, 3))
        for row, augment in TABLE1_DICE.items():
            where = f"{block}, {column}, {row[:-1]}"
            dice = one_per_seed([r for r in rs if r.augment == augment], where, notes)
            if rs and not dice:
                notes.append(f"{column}, {row[:-1]}: no run ({block})")
            grid[row].append(Entry(ds, preset, row, column, aggregate_dice(dice, where), 4))
            for label, (of, s) in external.items():
                if of == row:
                    cell = aggregate_dice(dice, f"{where}, on {s}", s)
                    note_unscored(cell, dice, s, where, notes)
                    grid[label].append(Entry(ds, preset, label, column, cell, 4))
    for row in (*TABLE1_DICE, *external):
        origin = grid[row][0].cell
        for e in grid[row][1:]:
            e.delta = delta(e.cell, origin, f"{block}, {e.column}, {row[:-1]}", notes)
    return grid
