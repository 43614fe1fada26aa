"""Few-shot curves (paper Fig. 2 right): Dice vs train ratio, with and without expansion.

One panel per (dataset, preset, downstream model, downstream augmentation), one line per method, origin (trained
under the same augmentation) dashed black; a method with one train ratio only is in the table but not drawn.
Writes ``fewshot.md``, ``fewshot.csv`` and ``fewshot.png``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.artifacts.cells import Run, aggregate, block_title, dedup, delta, order_key
from bench.artifacts.plots import panel_grid, save_png
from bench.artifacts.render import (
    DASH,
    DELTA_LEGEND,
    SEED_LEGEND,
    Artifact,
    Entry,
    csv_text,
    markdown,
    md_table,
    write,
)
from bench.config import AUGMENTS
from bench.paper import BASELINE, MODEL_NAMES

COLUMNS = [
    "dataset",
    "preset",
    "model",
    "augment",
    "method",
    "train_ratio",
    "mean",
    "std",
    "n",
    "seeds",
    "delta_vs_origin",
    "delta_std",
    "delta_seeds",
]
Points = list[tuple[float, float, float, int]]  # (ratio, mean, std, n) of one line


def build(runs: list[Run], out: Path) -> Artifact:
    """Write the few-shot table, CSV and figure into ``out``."""
    notes: list[str] = []
    curves: dict[tuple[str, str, str, str], dict[str, list[Run]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        if r.settings:
            continue
        if r.method == BASELINE and r.train_on == "real":
            curves[r.dataset, r.preset, r.model, r.augment][BASELINE].append(r)
        elif r.method != BASELINE and r.train_on == "real+synthetic":
            curves[r.dataset, r.preset, r.model, r.augment][f"{r.method} ({r.ablation})"].append(r)
    if not curves:
        raise ValueError(
            "fewshot needs origin runs (train on real) or runs trained on real+synthetic pairs, with no changed "
            f"settings; none among the {len(runs)} results"
        )
    models, augments = list(MODEL_NAMES), list(AUGMENTS)
    rows: list[list[Any]] = []
    panels, sections, single = [], [], []
    for key in sorted(curves, key=lambda k: (*k[:2], order_key(models, k[2]), order_key(augments, k[3]))):
        ds, preset, model, augment = key
        by_label = curves[key]
        block = f"{block_title(ds, preset, (r for rs in by_label.values() for r in rs))}, {model}, augment {augment}"
        labels = sorted(by_label, key=lambda label: (label != BASELINE, label))
        cells = {
            label: {
                x: aggregate(
                    [r for r in by_label[label] if r.ratio == x],
                    lambda r: r.metric("dice"),
                    f"{block}, {label}, ratio {x:g}",
                )
                for x in sorted({r.ratio for r in by_label[label]})
            }
            for label in labels
        }
        ratios = sorted({x for c in cells.values() for x in c})
        lines, table, lone = [], [], []
        for label in labels:
            points, shown = [], {}
            for x, cell in cells[label].items():
                base = cells.get(BASELINE, {}).get(x) if label != BASELINE else None
                d, spread, k = delta(cell, base, f"{block}, {label}, ratio {x:g}", notes)
                seeds = " ".join(map(str, cell.seeds))
                rows.append([ds, preset, model, augment, label, x, cell.mean, cell.std, cell.n, seeds, d, spread, k])
                points.append((x, cell.mean, cell.std, cell.n))
                shown[x] = Entry(ds, preset, label, f"{x:g}", cell, 4, d, spread, k).text()
            if len(points) >= 2:
                lines.append((label, points))
            else:
                lone.append(f"{label} (ratio {points[0][0]:g})")
            table.append([label, *(shown.get(x, DASH) for x in ratios)])
        if lines:
            panels.append((block, lines))
            if lone:
                notes.append(f"{block}: in the table, not drawn (one train ratio only): {', '.join(lone)}")
        else:
            single.append(f"{block} (ratio {', '.join(f'{x:g}' for x in ratios)})")
        sections += [f"## {block}", "", *md_table(["method", *(f"ratio {x:g}" for x in ratios)], table), ""]
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
        "augmentation, so a Δ is the gain on top of that augmentation.",
        SEED_LEGEND,
        DELTA_LEGEND,
    ]
    md = markdown("Few-shot: Dice vs train ratio", [*sections, f"![few-shot curves]({png.name})"], legend, notes)
    csv_rows = [
        [*r[:6], f"{r[6]:.6g}", f"{r[7]:.6g}", *r[8:10], *("" if x is None else f"{x:.6g}" for x in r[10:12]), r[12]]
        for r in rows
    ]
    files = write(out, {"fewshot.md": md, "fewshot.csv": csv_text(COLUMNS, csv_rows)})
    return Artifact("fewshot", [*files, png], {"fewshot": (COLUMNS, rows)}, [png], notes)


def figure(panels: list[tuple[str, list[tuple[str, Points]]]], path: Path) -> None:
    """One panel per (title, lines); a line is (label, [(ratio, mean, std, n)]), drawn with std error bars."""
    fig, axes = panel_grid(len(panels), 5.0, 4.0)
    labels = list(dict.fromkeys(label for _, lines in panels for label, _ in lines if label != BASELINE))
    colour = {label: f"C{i % 10}" for i, label in enumerate(labels)}  # one colour per method in every panel
    for ax, (title, lines) in zip(axes.flat, panels):
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
        ax.set(xlabel="train ratio (share of the data set)", ylabel="Dice on the test split")
        ax.set_title(f"{title}\n{seeds}", fontsize="medium")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    save_png(fig, path)
