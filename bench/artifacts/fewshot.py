"""Few-shot curves (paper Fig. 2 right): Dice vs train ratio, or vs the count of training pairs of ``--train-pairs``
runs, with and without expansion.

One panel per (dataset, preset, downstream model, downstream augmentation, ratio or pairs), and one more per external
test set the runs were scored on; one line per method, origin (trained under the same augmentation) dashed black; a
method at one point only is in the table but not drawn. Writes ``fewshot.md``, ``fewshot.csv`` and ``fewshot.png``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.artifacts.cells import Run, aggregate_dice, block_title, dedup, delta, external_sets, order_key, present
from bench.artifacts.plots import panel_grid, save_png
from bench.artifacts.render import (
    DASH,
    DELTA_LEGEND,
    SEED_LEGEND,
    Artifact,
    Entry,
    csv_text,
    delta_columns,
    detectable_lines,
    markdown,
    md_table,
    write,
)
from bench.config import AUGMENTS
from bench.paper import BASELINE, MODEL_NAMES
from bench.stats import RECORD

COLUMNS = [
    "dataset",
    "preset",
    "model",
    "augment",
    "method",
    "train_ratio",
    "train_pairs",
    "test_set",
    "mean",
    "std",
    "n",
    "seeds",
    *RECORD,
]
Points = list[tuple[float, float, float, int]]  # (ratio or pairs, mean, std, n) of one line
AXES = {"ratio": "train ratio (share of the data set)", "pairs": "real training pairs"}


def _x(r: Run) -> float:
    """Where a run sits on its curve: its count of training pairs, or its train ratio."""
    return r.pairs if r.pairs is not None else r.ratio


def _at(axis: str, x: float) -> str:
    return f"{x:g} pairs" if axis == "pairs" else f"ratio {x:g}"


def build(runs: list[Run], out: Path) -> Artifact:
    """Write the few-shot table, CSV and figure into ``out``."""
    notes: list[str] = []
    curves: dict[tuple[str, str, str, str, str], dict[str, list[Run]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        if r.settings:
            continue
        curve = (r.dataset, r.preset, r.model, r.augment, "pairs" if r.pairs is not None else "ratio")
        if r.method == BASELINE and r.train_on == "real":
            curves[curve][BASELINE].append(r)
        elif r.method != BASELINE and r.train_on == "real+synthetic":
            curves[curve][f"{r.method} ({r.ablation})"].append(r)
    if not curves:
        raise ValueError(
            "fewshot needs origin runs (train on real) or runs trained on real+synthetic pairs, with no changed "
            f"settings; none among the {len(runs)} results"
        )
    models, augments = list(MODEL_NAMES), list(AUGMENTS)
    rows: list[list[Any]] = []
    csv_rows: list[list[Any]] = []
    panels, sections, single = [], [], []
    blocks = []
    for key in sorted(curves, key=lambda k: (*k[:2], order_key(models, k[2]), order_key(augments, k[3]), k[4])):
        by_label = curves[key]
        head = block_title(key[0], key[1], (r for rs in by_label.values() for r in rs))
        title = f"{head}, {key[2]}, augment {key[3]}"
        sets = external_sets(r for rs in by_label.values() for r in rs)
        blocks += [(key, title, None), *((key, f"{title}, on {name} (external)", name) for name in sets)]
    for (ds, preset, model, augment, axis), block, test_set in blocks:
        by_label = curves[ds, preset, model, augment, axis]
        cells = {
            label: {
                x: cell
                for x in sorted({_x(r) for r in by_label[label]})
                if present(
                    cell := aggregate_dice(
                        [r for r in by_label[label] if _x(r) == x], f"{block}, {label}, {_at(axis, x)}", test_set
                    )
                )
            }
            for label in by_label
        }
        labels = sorted((label for label in cells if cells[label]), key=lambda label: (label != BASELINE, label))
        ratios = sorted({x for c in cells.values() for x in c})
        lines, table, lone, entries = [], [], [], []
        for label in labels:
            points, shown = [], {}
            for x, cell in cells[label].items():
                base = cells.get(BASELINE, {}).get(x) if label != BASELINE else None
                d = delta(cell, base, f"{block}, {label}, {_at(axis, x)}", notes)
                at = [x, None] if axis == "ratio" else [None, x]
                ident = [ds, preset, model, augment, label, *at, test_set or ""]
                seeds = " ".join(map(str, cell.seeds))
                figures = d.record() if d else dict.fromkeys(RECORD)
                rows.append([*ident, cell.mean, cell.std, cell.n, seeds, *figures.values()])
                blank = ["" if v is None else v for v in ident]
                csv_rows.append([*blank, f"{cell.mean:.6g}", f"{cell.std:.6g}", cell.n, seeds, *delta_columns(d)])
                points.append((x, cell.mean, cell.std, cell.n))
                shown[x] = Entry(ds, preset, label, _at(axis, x), cell, 4, d)
            entries.append((label, list(shown.values())))
            if len(points) >= 2:
                lines.append((label, points))
            else:
                lone.append(f"{label} ({_at(axis, points[0][0])})")
            table.append([label, *(shown[x].text() if x in shown else DASH for x in ratios)])
        if lines:
            panels.append((block, axis, test_set, lines))
            if lone:
                one = "train ratio" if axis == "ratio" else "count of pairs"
                notes.append(f"{block}: in the table, not drawn (one {one} only): {', '.join(lone)}")
        else:
            single.append(f"{block} ({', '.join(_at(axis, x) for x in ratios)})")
        head = ["method", *(_at(axis, x) for x in ratios)]
        sections += [f"## {block}", "", *md_table(head, table), *detectable_lines(entries), ""]
    if not panels:
        raise ValueError(
            "fewshot: a curve needs the same method at two or more train ratios; only one ratio per method in "
            + "; ".join(single)
        )
    if single:
        notes.append(f"not drawn, one train ratio per method only: {'; '.join(single)}")
    notes = dedup(notes)
    png = out / "fewshot.png"
    figure(panels, png)
    legend = [
        "Few-shot curves (paper Fig. 2 right): Dice of each downstream model vs the share of the data set used for "
        "training, one panel per downstream augmentation; origin trains on the real split only, the others on the "
        "real split plus the method's generated pairs (generators refit on each split), all under the panel's "
        "augmentation, so a Δ is the gain on top of that augmentation. Runs of --train-pairs are drawn against "
        "their count of real training pairs, in panels of their own; a panel 'on <set> (external)' scores the same "
        "models on an external test set (--test-set) no stage saw.",
        SEED_LEGEND,
        DELTA_LEGEND,
    ]
    axes = " or ".join(dict.fromkeys("training pairs" if axis == "pairs" else "train ratio" for _, axis, *_ in panels))
    md = markdown(f"Few-shot: Dice vs {axes}", [*sections, f"![few-shot curves]({png.name})"], legend, notes)
    files = write(out, {"fewshot.md": md, "fewshot.csv": csv_text(COLUMNS, csv_rows)})
    return Artifact("fewshot", [*files, png], {"fewshot": (COLUMNS, rows)}, [png], notes)


def figure(panels: list[tuple[str, str, str | None, list[tuple[str, Points]]]], path: Path) -> None:
    """One panel per (title, axis, external test set or None, lines); a line is (label, [(x, mean, std, n)]), drawn
    with std error bars against the train ratio or the count of pairs (``axis``)."""
    fig, axes = panel_grid(len(panels), 5.0, 4.0)
    labels = list(dict.fromkeys(label for *_, lines in panels for label, _ in lines if label != BASELINE))
    colour = {label: f"C{i % 10}" for i, label in enumerate(labels)}  # one colour per method in every panel
    for ax, (title, axis, test_set, lines) in zip(axes.flat, panels):
        ns = [n for _, points in lines for *_, n in points]
        seeds = f"n = {min(ns)} seeds per point" if min(ns) == max(ns) else f"n = {min(ns)}–{max(ns)} seeds per point"
        for label, points in lines:
            x, mean, std, _ = zip(*sorted(points))
            style = (
                {"color": "black", "linestyle": "--", "marker": "s"}
                if label == BASELINE
                else {"color": colour[label], "marker": "o"}
            )
            ax.errorbar(x, mean, yerr=std, capsize=3, label=label, **style)
        ax.set_xticks(sorted({x for _, points in lines for x, *_ in points}))
        scored = "the test split" if test_set is None else f"{test_set} (external)"
        ax.set(xlabel=AXES[axis], ylabel=f"Dice on {scored}")
        ax.set_title(f"{title}\n{seeds}", fontsize="medium")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    save_png(fig, path)
