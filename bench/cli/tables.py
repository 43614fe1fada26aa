"""The table ``bench run`` prints when it ends: the finished runs in an 80-column terminal or log file (the full
table, every column, is ``bench report``'s results.md)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bench import external_scores
from bench.report import fmt_delta, fmt_detectable, marks, mean_std, missing, split_text, unequal_steps
from bench.stats import POWER

DICE_LEGEND = "Dice: per test image, mean over seeds; pairs: real / synthetic pairs trained on / test pairs"
DELTA_LEGEND = (
    "Δ vs origin: paired by seed and test image with origin (no expansion, same training); [95 % CI] and p: "
    f"paired t-test over seeds; detectable: the smallest Δ these seeds find with {POWER:.0%} power"
)
DELTA = "Δ vs origin"


def delta_cell(r: dict[str, Any]) -> str:
    """``fmt_delta``'s text over a few short lines (Δ, interval, p, seeds), then the detectable Δ; three digits,
    as the Dice's fourth is below what seeds resolve."""
    text = fmt_delta(r, digits=3)
    for before, after in ((" [", "\n["), ("] ", "]\n"), (" (", "\n("), (", 1 seed", "\n1 seed")):
        text = text.replace(before, after)
    d = r.get("delta")
    return text if d is None or d.detectable is None else f"{text}\ndetectable {fmt_detectable(r, digits=3)}"


GENERATED_LEGEND = (
    "FID, FID-U: vs real training images (Inception; paper's U-Net); memorised / copies: share nearer a "
    "training image than real ones are to each other (Inception / SSIM)"
)
GENERATED_COLUMNS = {"FID": ("fid", 1), "FID-U": ("fid_unet", 1)}  # key, digits
SHARES = ("memorised", "copies")
"""Shown as one column of means, so the table keeps to 80 columns."""


def results_tables(rows: list[dict[str, Any]]) -> tuple[list[Text | Table], list[str]]:
    """The finished runs as a heading and tables that fit an 80-column terminal or log file (Dice and Δ vs origin,
    then how the generated pairs of the runs that have them score), and the few lines to print under them: a short
    legend, then why cells are marked (†, ‡) or n/a. What all rows share goes into the heading, a single seed shows
    plain numbers, and a run's name is never split: its column is as wide as the longest name, and settings wrap
    below it at their commas. `bench report` writes every column and the full legend."""
    shared = {
        "dataset": "{}",
        "preset": "preset {}",
        "model": "{}",
        "augment": "augment {}",
        "split": "{}",
    }
    rows = [{**r, "split": split_text(r, named=True)} for r in rows]
    constant = [k for k in shared if len({r[k] for r in rows}) == 1]
    counts = {r["n"] for r in rows}
    title = [shared[k].format(rows[0][k]) for k in constant] if rows else []
    if rows and rows[0]["synthetic_data"]:
        title[0:1] = [f"{rows[0]['dataset']} (synthetic phantom, not patient data)"] if "dataset" in constant else []
    title.append("1 seed (no spread)" if counts == {1} else f"± std over {'/'.join(map(str, sorted(counts)))} seeds")

    def number(r: dict[str, Any], key: str, digits: int) -> str:
        mean = r.get(f"{key}_mean")
        if mean is None:
            return "n/a"
        n = r.get(f"{key}_runs", r["n"])
        return f"{mean:.{digits}f}" if counts == {1} else mean_std(mean, r[f"{key}_std"], n, digits)

    def name(r: dict[str, Any]) -> str:
        return f"{r['method']} {r['ablation']}"

    identity = {k: (lambda r, k=k: shared[k].format(r[k]).split(" ")[-1]) for k in shared if k not in constant}
    if "split" in identity:
        identity["split"] = split_text
    dice = {
        "pairs": lambda r: f"{r['real_train']}/{r['synthetic_used']:.0f}/{r['test']}",
        "Dice": lambda r: number({**r, "dice_runs": r["n"]}, "dice", 4) + (" †" if r.get("notes") else ""),
        DELTA: delta_cell,
    }
    generated = {c: (lambda r, k=k, d=d: number(r, k, d)) for c, (k, d) in GENERATED_COLUMNS.items()}
    generated[" / ".join(SHARES)] = lambda r: " / ".join(
        "n/a" if r.get(f"{k}_mean") is None else f"{r[f'{k}_mean']:.2f}" for k in SHARES
    )
    if any(r["pass_rate"] is not None for r in rows):
        generated["pass"] = lambda r: "—" if r["pass_rate"] is None else f"{r['pass_rate']:.2f}"
    expanded = [r for r in rows if r["method"] != "origin"]  # origin generates no pairs
    sets = external_scores.names(rows)

    def outside(r: dict[str, Any], name: str) -> str:  # Dice, then Δ and its interval on lines of their own
        return external_scores.cell(r, name).replace(", Δ ", "\nΔ ").replace(" [", "\n[")

    external = {f"Dice on {name}": lambda r, name=name: outside(r, name) for name in sets}
    parts: list[Text | Table] = [Text(" · ".join(title), style="bold")]
    scored = [r for r in rows if r.get("external")]
    tables = ((None, rows, dice), ("generated pairs", expanded, generated), ("external test sets", scored, external))
    for caption, shown, values in tables:
        if not shown:
            continue
        table = Table(title=caption, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
        table.add_column("run", width=max(len(name(r)) for r in shown))
        for column in identity:
            table.add_column(column, no_wrap=True)
        for column in values:
            table.add_column(column, no_wrap=column in ("Dice", DELTA))
        for r in shown:
            settings = f"\n[{', '.join(r['settings'].split(','))}]" if r["settings"] else ""
            cells = [name(r) + settings, *(cell(r) for cell in [*identity.values(), *values.values()])]
            table.add_row(*map(escape, cells), style=None if r["method"] == "origin" else "bold")
        parts.append(table)
    legend = [DICE_LEGEND, DELTA_LEGEND]
    if expanded:
        legend.append(GENERATED_LEGEND + ("; pass: share kept by the filter" if "pass" in generated else ""))
    if sets:
        legend.append(external_scores.LEGEND)
    legend.append("every column and the full legend: results.md (bench report --runs OUT)")
    keys = (*(k for k, _ in GENERATED_COLUMNS.values()), *SHARES)
    return parts, [*legend, *marks(rows), *unequal_steps(rows), *missing(expanded, keys)]


def print_results(rows: list[dict[str, Any]], console: Console) -> None:
    """Print :func:`results_tables`, wrapped at words to the console's width (80 in a log file)."""
    parts, notes = results_tables(rows)
    for part in parts:
        console.print(part, highlight=False, soft_wrap=False)
    for note in notes:
        console.print(escape(note), highlight=False, style="dim", soft_wrap=False)
