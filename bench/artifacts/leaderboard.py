"""The leaderboard: how much each generator's pairs add to a segmenter trained on a few labelled pairs.

One table per (dataset, preset, downstream model, downstream augmentation): a row per count of labelled pairs
(``--train-pairs`` runs) and entry (origin, then each method; ``<method>+pretrained`` for one fine-tuned from a
``bench pretrain`` folder, a row per start, named with it where there are several; ``<method> (mixing=alternate)``
for its runs whose batches mixed real and generated pairs by a schedule, after the entry's pooled row), with the
Dice on the test split and on each external test set, the paired Δ vs origin under the same augmentation and pairs
with its 95 % interval (marked where it excludes 0), and the generator's FID, filter pass rate and share of copies
beside it. Writes ``leaderboard.md``, ``leaderboard.csv`` (one line per cell and test set) and ``leaderboard.png``
(Δ with its interval against the labelled pairs, a panel per augmentation and test set). Every order and number
format is fixed, so a rebuild from the same runs writes the same bytes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.artifacts.cells import (
    Cell,
    Run,
    aggregate,
    aggregate_dice,
    block_title,
    dedup,
    delta,
    external_sets,
    generation_cell,
    note_unscored,
    order_key,
    present,
    settings_keys,
)
from bench.artifacts.plots import panel_grid, save_png
from bench.artifacts.render import (
    DELTA_LEGEND,
    DOWN,
    SEED_LEGEND,
    UP,
    Artifact,
    Entry,
    csv_text,
    csv_value,
    delta_columns,
    delta_text,
    detectable_lines,
    figures,
    markdown,
    md_table,
    number_text,
    write,
)
from bench.config import AUGMENTS, TrainConfig
from bench.paper import (
    BASELINE,
    LEADERBOARD_AUGMENTS,
    LEADERBOARD_ENTRIES,
    MODEL_NAMES,
    SHOWN_VARIANTS,
    entry_name,
    parse_entry,
    schedule,
    schedule_rank,
    scheduled_name,
)
from bench.stats import RECORD, PairedDelta

UNEVEN = (
    "(n = k): this mean is over k seeds, origin's over others (a sweep still running, say): compare its Δ, which "
    "pairs the seeds both have, not the two means."
)
MARKERS = "os^Dv"  # the figure's markers, one per ten rows
GENERATED = {"fid": ("FID↓", 1), "pass_rate": ("pass", 2), "share_copies": ("copies", 2)}  # csv key: (column, digits)
COLUMNS = [
    "dataset",
    "preset",
    "model",
    "augment",
    "train_pairs",
    "method",
    "test_set",
    "mean",
    "std",
    "n",
    "seeds",
    *RECORD,
    "ci_excludes_0",
    *GENERATED,
]
Block = tuple[str, str, str, str]  # dataset, preset, model, augment
Panel = tuple[str, str | None, dict[str, list[tuple[int, PairedDelta]]]]  # title, test set, row -> [(pairs, Δ)]
SCHEDULE = {f"train.{k}" for k in TrainConfig.MIXING_OPTIONS}  # the settings a mixing schedule names
DELTA = (  # the shared Δ legend, said of what the leaderboard pairs: counts of pairs, and each external set too
    DELTA_LEGEND.replace("after a Dice", "in a Δ column")
    .replace("train ratio", "count of labelled pairs")
    .replace("on its test split", "on the column's test set (the test split, or <set> in a Δ on <set> column)")
)
FID = (
    "FID↓: Inception FID of the generated pairs vs the row's own real training pairs (diffuseexpand: those its "
    "filter kept); it falls as that set grows, so the FIDs of rows of different counts of pairs are not comparable"
)
PRETRAINED = (
    "<method>+pretrained: its generator fine-tunes a bench pretrain start, trained on other labelled pairs ({}); "
    "its Δ is that of those pairs and its generated pairs together, not of generated pairs alone (origin never "
    "sees the pretraining's pairs), and on an external set from the same source as the pretraining's pairs it is "
    "not out of domain."
)


@dataclass(frozen=True)
class Row:
    """What a table row holds: an entry (origin, ``xlsor``, ``genseg:end2end``, ``joint+pretrained``), the mixing
    schedule its runs trained with (:func:`bench.paper.schedule`; empty: pooled batches) and the pretrained start
    they fine-tuned (its settings tag value, ``shenzhen-cpu-9600-3f09a1``; empty: none). Its name shows the start
    only where the artifact holds several starts of the entry (``named``)."""

    entry: str
    mixing: tuple[tuple[str, str], ...] = ()
    start: str = ""
    named: bool = False

    @property
    def name(self) -> str:
        return scheduled_name(f"{self.entry} ({self.start})" if self.named else self.entry, dict(self.mixing))

    @property
    def order(self) -> tuple:
        """Origin, then the entries in their order, an entry's starts by name, each one's pooled row first."""
        entry = order_key([BASELINE, *LEADERBOARD_ENTRIES], self.entry)
        return entry, self.start, schedule_rank(dict(self.mixing)), self.name


ORIGIN = Row(BASELINE)


def _row(r: Run, variants: dict[str, str]) -> Row | None:
    """The row a run fills, or None: origin on the real split, or a method's variant on real + synthetic pairs
    (``genseg:end2end`` where it is not the shown one); no changed settings but a pretrained start (which makes it
    the ``+pretrained`` entry) and a mixing schedule (which gives it a row of its own, named with it)."""
    pretrained = r.method != BASELINE and r.option("pretrained") is not None
    keys, start = settings_keys(r.settings), {"pretrained"} if pretrained else set()
    if not start <= keys or keys - start - SCHEDULE:
        return None
    if r.method == BASELINE:
        return ORIGIN if r.train_on == "real" and not keys else None
    if r.train_on != "real+synthetic":
        return None
    entry = entry_name(r.method, pretrained, None if variants.get(r.method) == r.ablation else r.ablation)
    tagged = dict(part.partition("=")[::2] for part in r.settings.split(",") if part)
    mixing = schedule({k.removeprefix("train."): v for k, v in tagged.items() if k in SCHEDULE})
    return Row(entry, tuple(mixing.items()), tagged.get("pretrained", ""))


def _name_starts(grid: dict[Block, dict[tuple[int, Row], list[Run]]]) -> dict[Block, dict[tuple[int, Row], list[Run]]]:
    """``grid`` with the rows of every entry it holds several starts of named with their start: one row name each."""
    starts = defaultdict(set)
    for cells in grid.values():
        for _, row in cells:
            starts[row.entry].add(row.start)
    several = {entry for entry, found in starts.items() if len(found) > 1}
    return {
        block: {(count, replace(row, named=row.entry in several)): rs for (count, row), rs in cells.items()}
        for block, cells in grid.items()
    }


def _variants() -> dict[str, str]:
    from methods import METHODS  # the registry's rows only: no method's dependencies

    return {m: SHOWN_VARIANTS.get(m, e.variants[0]) for m, e in METHODS.items()}


def _generated(runs: list[Run], method: str, where: str, notes: list[str]) -> dict[str, Cell | None]:
    """The generator's FID (of the pairs DiffuseExpand's filter kept), filter pass rate and share of copies."""
    return {
        "fid": generation_cell(runs, "fid", method == "diffuseexpand", where, notes),
        "pass_rate": aggregate(runs, lambda r: r.res["method_stats"].get("pass_rate"), where),
        "share_copies": aggregate(runs, lambda r: (r.metric("memorisation") or {}).get("share_copies"), where),
    }


def _mean(cell: Cell | None) -> float | None:
    return cell.mean if present(cell) else None


def build(runs: list[Run], out: Path) -> Artifact:
    """Write the leaderboard's table, CSV and figure into ``out``."""
    notes: list[str] = []
    variants = _variants()
    grid: dict[Block, dict[tuple[int, Row], list[Run]]] = defaultdict(lambda: defaultdict(list))
    ratio_runs = other = 0
    for r in runs:
        row = _row(r, variants)
        if row is None:
            other += 1
        elif r.pairs is None:
            ratio_runs += 1
        else:
            grid[r.dataset, r.preset, r.model, r.augment][r.pairs, row].append(r)
    if not grid:
        raise ValueError(
            "leaderboard needs runs of counts of labelled pairs (--train-pairs) of origin (train on real) or of a "
            "method trained on real+synthetic pairs, with no changed settings but a pretrained "
            f"start or a mixing schedule; none among the {len(runs)} results"
        )
    grid = _name_starts(grid)
    if ratio_runs:
        notes.append(f"{ratio_runs} run(s) of train ratios left out: the leaderboard reads counts of labelled pairs")
    if other:
        notes.append(f"{other} run(s) of other trainings or changed settings left out")
    augments = [*LEADERBOARD_AUGMENTS, *(a for a in AUGMENTS if a not in LEADERBOARD_AUGMENTS)]
    sections: list[str] = []
    rows: list[list[Any]] = []
    csv_rows: list[list[Any]] = []
    panels: list[Panel] = []
    blocks = sorted(grid, key=lambda b: (b[0], b[1], order_key(list(MODEL_NAMES), b[2]), order_key(augments, b[3])))
    for block in blocks:
        lines, block_rows, block_csv, block_panels = _block(block, grid[block], notes)
        sections += lines
        rows += block_rows
        csv_rows += block_csv
        panels += block_panels
    notes = dedup(notes)
    png = out / "leaderboard.png"
    if panels:
        sections.append(f"![leaderboard]({png.name})")
    else:
        notes.append("no figure: no entry has a paired Δ vs origin")
    legend = [
        "Leaderboard: each segmenter trained on a few labelled (real) pairs, origin on those alone, every other entry "
        "on them plus its method's generated pairs (generators refit on each split), all under the table's "
        "downstream augmentation; <method>+pretrained fine-tunes a bench pretrain folder. Dice on the test split, "
        "and on each external test set (--test-set) no stage saw.",
        SEED_LEGEND,
        DELTA + f" {UP} / {DOWN}: the interval lies above / below 0.",
        f"{FID}; pass: share of generated pairs the method's filter kept; copies: share of generated images whose "
        "pixel SSIM to a training image exceeds that of any two real training images. –: not recorded.",
    ]
    started = sorted({row for cells in grid.values() for _, row in cells if row.start}, key=lambda row: row.order)
    if started:
        starts = dict.fromkeys(f"{row.entry} starts from {row.start}" for row in started)  # one per schedule
        legend.append(PRETRAINED.format("; ".join(starts)))
    if any(row.mixing for cells in grid.values() for _, row in cells):
        legend.append(
            "<entry> (mixing=...), <entry> (synthetic_share=...): the entry's runs whose batches drew its real and "
            "generated pairs by that schedule (--train-option) instead of as one pooled set; their Δ pairs with the "
            "same origin runs as the entry's (origin has no generated pairs to mix)."
        )
    md = markdown("Leaderboard: Δ Dice vs origin per labelled pairs", sections, legend, notes)
    files = write(out, {"leaderboard.md": md, "leaderboard.csv": csv_text(COLUMNS, csv_rows)})
    if panels:
        figure(panels, png)
        files.append(png)
    tables = {"table": (COLUMNS, rows)}  # W&B keys are "leaderboard/<table or figure>": the figure has the other
    return Artifact("leaderboard", files, tables, [png] if panels else [], notes)


def _block(
    block: Block, cells: dict[tuple[int, Row], list[Run]], notes: list[str]
) -> tuple[list[str], list[list[Any]], list[list[Any]], list[Panel]]:
    """One table: its Markdown lines, its rows of :data:`COLUMNS` (one per cell and test set) as plain values and
    as CSV text, and its figure's panels (one per test set with a Δ)."""
    ds, preset, model, augment = block
    title = f"{block_title(ds, preset, (r for rs in cells.values() for r in rs))}, {model}, augment {augment}"
    sets = [None, *external_sets(r for rs in cells.values() for r in rs)]
    keys = sorted(cells, key=lambda k: (k[0], k[1].order))
    dice = {
        (k, s): aggregate_dice(cells[k], f"{title}, {k[1].name}, {k[0]} pairs" + (f", on {s}" if s else ""), s)
        for k in keys
        for s in sets
    }
    lines: dict[str | None, dict[str, list[tuple[int, PairedDelta]]]] = {s: defaultdict(list) for s in sets}
    table, rows, csv_rows, detectable, uneven = [], [], [], [], False
    for count, kind in keys:
        name = kind.name
        where = f"{title}, {name}, {count} pairs"
        origin = kind == ORIGIN
        gen = {} if origin else _generated(cells[count, kind], parse_entry(kind.entry)[0], where, notes)
        row, shown = [str(count), name], []
        for s in sets:
            cell = dice[(count, kind), s]
            if s is not None:
                note_unscored(cell, cells[count, kind], s, where, notes)
            base = None if origin else dice[(count, ORIGIN), s] if (count, ORIGIN) in cells else None
            d = None if origin else delta(cell, base, where + (f", on {s}" if s else ""), notes)
            if d is not None:
                lines[s][name].append((count, d))
                shown.append(Entry(ds, preset, name, s or "test split", cell, 4, d))
            apart = present(cell) and present(base) and cell.seeds != base.seeds  # means over other seeds
            row += [
                number_text(cell, 4) + (f" (n = {cell.n})" if apart else ""),
                "baseline" if origin else delta_text(d),
            ]
            uneven |= apart
            ident = [ds, preset, model, augment, count, name, s or ""]
            record = d.record() if d else dict.fromkeys(RECORD)
            after = [None if d is None else d.significant, *(_mean(gen.get(k)) for k in GENERATED)]
            rows.append([*ident, *figures(cell), *record.values(), *after])
            csv_rows.append([*ident, *map(csv_value, figures(cell)), *delta_columns(d), *map(csv_value, after)])
        table.append([*row, *(number_text(gen.get(k), digits) for k, (_, digits) in GENERATED.items())])
        if shown:
            detectable.append((f"{name}, {count} pairs", shown))
    head = ["pairs", "method"]
    for s in sets:
        head += ["Dice", "Δ vs origin"] if s is None else [f"Dice on {s}", f"Δ on {s}"]
    head += [column for column, _ in GENERATED.values()]
    section = [f"## {title}", "", *md_table(head, table)]
    if uneven:
        section += ["", UNEVEN]
    section += [*detectable_lines(detectable), ""]
    return section, rows, csv_rows, [(title, s, dict(lines[s])) for s in sets if lines[s]]


def figure(panels: list[Panel], path: Path) -> None:
    """One panel per (title, external test set or None, entry -> [(pairs, Δ)]): Δ with its 95 % interval against
    the labelled pairs, 0 (origin) dashed; a Δ of one seed has no interval and is drawn as a point."""
    fig, axes = panel_grid(len(panels), 5.0, 4.0)
    names = list(dict.fromkeys(name for *_, lines in panels for name in lines))
    # one look per row in every panel: ten colours, then the next marker
    look = {name: (f"C{i % 10}", MARKERS[i // 10 % len(MARKERS)]) for i, name in enumerate(names)}
    for ax, (title, test_set, lines) in zip(axes.flat, panels):
        ax.axhline(0.0, color="black", linestyle="--", linewidth=1, label=BASELINE)
        counts = sorted({count for points in lines.values() for count, _ in points})
        step = 0.03 * (counts[-1] - counts[0] or 1)  # rows side by side at a count, so their bars do not hide
        at = {c: [name for name, points in lines.items() if any(k == c for k, _ in points)] for c in counts}
        for name, points in lines.items():
            x = [c + (at[c].index(name) - (len(at[c]) - 1) / 2) * step for c, _ in points]
            y = [d.mean for _, d in points]
            below = [0.0 if d.low is None else d.mean - d.low for _, d in points]
            above = [0.0 if d.high is None else d.high - d.mean for _, d in points]
            colour, marker = look[name]
            ax.errorbar(x, y, yerr=[below, above], capsize=3, marker=marker, color=colour, label=name)
        ax.set_xticks(counts)
        scored = "the test split" if test_set is None else f"{test_set} (external)"
        ax.set(xlabel="labelled training pairs", ylabel=f"Δ Dice vs origin on {scored}")
        ax.set_title(f"{title}\non {scored}", fontsize="medium")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    save_png(fig, path)
