"""Table 2: each network trained only on a method's generated pairs, one row per method that generates pairs.

Columns per (dataset, preset) block: the Dice of each of the paper's downstream models, with the paired Δ vs an
origin run trained on the real split, the same on each external test set the runs were scored on, and the method's
FID.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

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
    present,
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
from bench.paper import BASELINE, METHOD_ORDER, MODEL_NAMES, SHOWN_VARIANTS


@cache
def generates_pairs(name: str) -> bool:
    """The registered class's ``generates_pairs`` (imports the method's module: only asked when runs cannot tell)."""
    from methods import get_method

    return get_method(name).generates_pairs


def shown_methods(runs: list[Run]) -> dict[str, str]:
    """Registered methods that generate pairs, in the paper's order, each with the variant Table 2 shows."""
    from methods import METHODS

    trained_on_pairs = {r.method for r in runs if r.train_on != "real"}
    names = [n for n in METHODS if n != BASELINE and (n in trained_on_pairs or generates_pairs(n))]
    names.sort(key=lambda n: (METHOD_ORDER.index(n) if n in METHOD_ORDER else len(METHOD_ORDER), n))
    return {n: SHOWN_VARIANTS.get(n, METHODS[n].variants[0]) for n in names}


def build(runs: list[Run], out: Path) -> Artifact:
    """Write ``table2.md``, ``table2.csv`` (one line per cell) and ``table2.tex`` into ``out``."""
    notes: list[str] = []
    variants = shown_methods(runs)
    wanted = [r for r in runs if variants.get(r.method) == r.ablation and r.train_on == "synthetic"]
    wanted = [r for r in wanted if r.augment == "none"]
    if any(r.settings for r in wanted):
        notes.append(f"left out {sum(bool(r.settings) for r in wanted)} runs with settings changed from the preset")
    other_models = sorted({r.model for r in wanted if r.model not in MODEL_NAMES})
    if other_models:
        notes.append(f"left out the runs of models {', '.join(other_models)} (Table 2 shows {', '.join(MODEL_NAMES)})")
    wanted = [r for r in wanted if not r.settings and r.model in MODEL_NAMES]
    if not wanted:
        shown = ", ".join(f"{n} ({v})" for n, v in variants.items())
        raise ValueError(
            "table2 needs runs trained on synthetic pairs only (--train-on synthetic, augment none, no changed "
            f"settings) of {shown}; none among the {len(runs)} results"
        )
    origins = [
        r for r in runs if r.method == BASELINE and r.train_on == "real" and r.augment == "none" and not r.settings
    ]
    blocks = sorted({(r.dataset, r.preset) for r in wanted})
    labels = {n: f"{n} ({v})" for n, v in variants.items()}
    grid: dict[str, list[Entry]] = {n: [] for n in variants}
    block_names = []
    widths = []  # each block's columns: a Dice per model and test set, then FID
    for ds, preset in blocks:
        mine = [r for r in wanted if (r.dataset, r.preset) == (ds, preset)]
        block = block_title(ds, preset, mine)
        block_names.append(block)
        ratio, mine = largest_ratio(mine, block, notes)
        sets = [None, *external_sets(mine)]
        widths.append(len(MODEL_NAMES) * len(sets) + 1)
        base = {
            (m, s): aggregate_dice(
                [r for r in origins if (r.dataset, r.preset, r.model, r.ratio) == (ds, preset, m, ratio)],
                f"{block}, origin, {label}" + (f", on {s}" if s else ""),
                s,
            )
            for m, label in MODEL_NAMES.items()
            for s in sets
        }
        for name in variants:
            rs = [r for r in mine if r.method == name]
            if not rs and any(r.method == name for r in wanted):
                notes.append(f"{name}: not run ({block})")
            for s in sets:
                for m, label in MODEL_NAMES.items():
                    where = f"{block}, {labels[name]}, {label}"
                    scored = where + (f", on {s}" if s else "")
                    cell = aggregate_dice([r for r in rs if r.model == m], scored, s)
                    if s is not None:
                        note_unscored(cell, [r for r in rs if r.model == m], s, where, notes)
                    e = Entry(ds, preset, labels[name], f"{label} Dice{f' on {s}' if s else ''}↑", cell, 4)
                    e.delta = delta(cell, base[m, s], scored, notes)
                    grid[name].append(e)
            model = next((m for m in MODEL_NAMES if any(r.model == m for r in rs)), None)
            where = f"{block}, {labels[name]}, FID"
            fid = generation_cell([r for r in rs if r.model == model], "fid", name == "diffuseexpand", where, notes)
            if model not in (None, "unet"):
                notes.append(f"{where}: from the {model} runs (no UNet run)")
            grid[name].append(Entry(ds, preset, labels[name], "FID↓", fid, 3))
        if not any(present(base[m, None]) for m in MODEL_NAMES):
            notes.append(f"{block}: no origin run (train on real, augment none) at ratio {ratio:g}: no Δ")
    for name in variants:
        if not any(r.method == name for r in wanted):
            notes.append(f"{name}: not run")
    starts = [sum(widths[:b]) for b in range(len(blocks) + 1)]
    spans = list(zip(starts, starts[1:]))
    first = next(iter(variants))
    for j in range(starts[-1]):
        column = [grid[n][j] for n in variants]
        set_bold(column, column[0].column != "FID↓", f"{column[0].dataset}, {column[0].column}", notes)
    notes = dedup(notes)
    entries = [e for a, b in spans for n in variants for e in grid[n][a:b]]
    detectable = [
        (f"{block}, {labels[n]}", grid[n][a:b]) for block, (a, b) in zip(block_names, spans) for n in variants
    ]
    external = any(" on " in e.column for e in grid[first])
    head = ["Method", *(f"{b}: {e.column}" for b, (i, j) in zip(block_names, spans) for e in grid[first][i:j])]
    md_rows = [[labels[n], *(e.text() for e in grid[n])] for n in variants]
    plain = [[labels[n], *(e.text(markup=False) for e in grid[n])] for n in variants]
    tex_head = [
        " & ".join(["", *(rf"\multicolumn{{{b - a}}}{{c}}{{{tex(n)}}}" for n, (a, b) in zip(block_names, spans))])
        + r" \\",
        " ".join(rf"\cmidrule(lr){{{2 + a}-{1 + b}}}" for a, b in spans),
        " & ".join(["Method", *(_tex_column(e.column) for e in grid[first])]) + r" \\",
    ]
    tex_body = [[tex(labels[n]), *(e.text(tex=True) for e in grid[n])] for n in variants]
    legend = [
        "Table 2: each network trained only on a method's generated pairs (augment none); Dice↑ on the real test "
        "split. FID↓: Inception FID of all generated pairs vs the real training split (diffuseexpand: the pairs "
        "stage IV kept), from the UNet runs. Bold: best of the column.",
        SEED_LEGEND,
        DELTA_LEGEND + " Origin trains on the real split.",
        *([EXTERNAL_LEGEND] if external else []),
    ]
    texts = {
        "table2.md": markdown(
            "Table 2: training on generated pairs only",
            [*md_table(head, md_rows), *detectable_lines(detectable)],
            legend,
            notes,
        ),
        "table2.csv": long_csv(entries),
        "table2.tex": tex_table("l" + "c" * starts[-1], tex_head, [tex_body]),
    }
    files = write(out, texts)
    return Artifact("table2", files, {"table2": (head, plain)}, [], notes)


def _tex_column(column: str) -> str:
    """A column's LaTeX head: the model's name for a Dice on the test split (the paper's head), else the column."""
    model = column.removesuffix(" Dice↑")
    return model if model in MODEL_NAMES.values() else tex(column)
