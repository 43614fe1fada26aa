"""Writing an artifact: table cells as text, Markdown, LaTeX (booktabs) and CSV, and the record of what was written.

Every artifact writes a Markdown file first (title, tables, legend, notes), then its CSV / LaTeX / PNG files. A
missing cell shows as "–" (``--`` in LaTeX), never as a number; the long CSV has one line per cell, missing ones
included.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.artifacts.cells import Cell, present
from bench.files import write_text
from bench.report import mean_std
from bench.stats import POWER, RECORD, TARGET, PairedDelta

DASH = "–"
DELTA_LEGEND = (
    "(+x [low, high] p=…) after a Dice: the paired Δ vs origin, i.e. the mean over seeds of Dice minus the origin "
    "run of the same seed (same dataset, preset, model, augmentation, train ratio and downstream training), each "
    "seed's Δ paired image by image on its test split, over the seeds both have; [low, high]: its 95 % confidence "
    "interval and p its two-sided p-value, from a paired t-test over the seeds' Δ (df = seeds - 1: a seed's test "
    "images share its split and trained networks, so the seed is the unit of replication). One seed has no "
    "interval and says so."
)
DETECTABLE = (
    f"Detectable Δ ({POWER:.0%} power, p < 0.05, two-sided): the smallest true Δ each cell's seeds would find "
    f"{POWER:.0%} of the time, if the seed-to-seed spread of Δ were the one observed (noncentral t); a Δ below it "
    "is not evidence of no effect."
)
SEEDS_NEEDED = (
    f"({TARGET:g} needs N seeds): where it is larger than {TARGET:g}, how many seeds the same spread would need to "
    f"detect {TARGET:g}."
)
SEED_LEGEND = "mean ± std: population std over seeds; (n = 1): a single seed, no spread. –: no run (see the notes)."
EXTERNAL_LEGEND = (
    "Dice on <set>: the same networks scored on the external test set <set> (--test-set), which no stage saw; its Δ "
    "pairs each run with the origin run of the same seed on that set, image by image."
)
UP, DOWN = "▲", "▼"  # the interval of Δ lies above 0, below 0
LONG_COLUMNS = [
    "dataset",
    "preset",
    "row",
    "column",
    "mean",
    "std",
    "n",
    "seeds",
    *RECORD,
]


@dataclass
class Artifact:
    """What :func:`bench.artifacts.build_artifact` wrote.

    Attributes:
        name: the artifact kind (one of :data:`bench.artifacts.ARTIFACTS`).
        files: every file written, Markdown first.
        tables: table name -> (columns, rows) of plain cells, for W&B tables.
        figures: the PNGs among ``files``.
        notes: missing runs, excluded runs and other caveats (also written into the Markdown).
    """

    name: str
    files: list[Path]
    tables: dict[str, tuple[list[str], list[list[Any]]]] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Entry:
    """One table cell with where it sits (for the long CSV)."""

    dataset: str
    preset: str
    row: str
    column: str
    cell: Cell | None
    digits: int
    delta: PairedDelta | None = None
    bold: bool = False
    show_n: bool = False  # its row or column mixes seed sets: say how many seeds this mean is over

    def text(self, tex: bool = False, markup: bool = True) -> str:
        if not present(self.cell):
            return "--" if tex else DASH
        s = mean_std(self.cell.mean, self.cell.std, self.cell.n, self.digits)
        if self.show_n and self.cell.n > 1:
            s += f" (n = {self.cell.n})"
        if self.delta is not None:
            s += f" ({self.delta.text(self.digits)})"
        if tex:
            s = s.replace("±", r"$\pm$")
            return rf"\textbf{{{s}}}" if self.bold and markup else s
        return f"**{s}**" if self.bold and markup else s


def mark(d: PairedDelta | None) -> str:
    """:data:`UP` or :data:`DOWN` where the interval of Δ excludes 0, else nothing."""
    return "" if d is None or not d.significant else UP if d.mean > 0 else DOWN


def delta_text(d: PairedDelta | None, digits: int = 4) -> str:
    """A Δ column's cell: the Δ with its interval and p, then its :func:`mark`; "–" without one."""
    return f"{d.text(digits)} {mark(d)}".rstrip() if d is not None else DASH


def number_text(cell: Cell | None, digits: int) -> str:
    """A cell's ``mean ± std`` alone, for a table whose Δ has a column of its own; "–" without runs."""
    return mean_std(cell.mean, cell.std, cell.n, digits) if present(cell) else DASH


def figures(cell: Cell | None) -> list[Any]:
    """mean, std, n and seeds of a cell, for a CSV or W&B row; None (n 0) where there is none."""
    if not present(cell):
        return [None, None, 0, None]
    return [cell.mean, cell.std, cell.n, " ".join(map(str, cell.seeds))]


def csv_value(value: Any) -> Any:
    """A CSV value: floats to 6 significant digits, absent ones empty."""
    return "" if value is None else f"{value:.6g}" if isinstance(value, float) else value


def set_bold(entries: list[Entry], higher: bool, where: str, notes: list[str]) -> None:
    """Bold the best of ``entries`` when they average the same seeds; when they do not, their means are not
    comparable: each shows its seed count, nothing is bold, and a note points to the paired Δ."""
    seeds = {tuple(sorted(e.cell.values)) for e in entries if present(e.cell)}
    if len(seeds) > 1:
        for e in entries:
            e.show_n = True
        notes.append(f"{where}: means over different seeds (n shown), so none is bold; compare the paired Δ")
        return
    for e, bold in zip(entries, _best([e.cell for e in entries], higher, entries[0].digits)):
        e.bold = bold


def _best(cells: list[Cell | None], higher: bool, digits: int) -> list[bool]:
    """Bold flags: the best displayed mean (ties all), only when at least two cells are present."""
    shown = [round(c.mean, digits) if present(c) else None for c in cells]
    values = [v for v in shown if v is not None]
    if len(values) < 2:
        return [False] * len(cells)
    best = max(values) if higher else min(values)
    return [v == best for v in shown]


def long_csv(entries: list[Entry]) -> str:
    """One line per cell; missing cells have empty values and n = 0."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*LONG_COLUMNS, "bold"])
    for e in entries:
        c = e.cell if present(e.cell) else None
        w.writerow(
            [
                e.dataset,
                e.preset,
                e.row,
                e.column,
                "" if c is None else f"{c.mean:.6g}",
                "" if c is None else f"{c.std:.6g}",
                0 if c is None else c.n,
                "" if c is None else " ".join(map(str, c.seeds)),
                *delta_columns(e.delta),
                e.bold,
            ]
        )
    return buf.getvalue()


def delta_columns(d: PairedDelta | None) -> list[Any]:
    """:data:`bench.stats.RECORD`'s columns of a Δ: numbers to 6 significant digits, empty where absent (seed and
    image counts 0)."""
    if d is None:
        return ["" if k not in ("delta_seeds", "delta_images") else 0 for k in RECORD]
    return ["" if v is None else v if isinstance(v, int) else f"{v:.6g}" for v in d.record().values()]


def detectable_lines(rows: list[tuple[str, list[Entry]]]) -> list[str]:
    """Under a table: :data:`DETECTABLE` (and :data:`SEEDS_NEEDED` where a cell says it), then per row (label, its
    entries) the detectable Δ of each cell with a Δ."""
    lines, beyond = [], False
    for label, entries in rows:
        cells = []
        for e in (e for e in entries if e.delta is not None):
            d = e.delta
            far = d.spread is not None and round(d.detectable or 0, e.digits) > TARGET  # as printed: 0.01004 is 0.0100
            cells.append(
                f"{e.column} {d.detectable_text(e.digits)}"
                + (f" ({TARGET:g} needs {d.seeds_needed():,} seeds)" if far else "")
            )
            beyond |= far
        if cells:
            lines.append(f"- {label}: {', '.join(cells)}")
    legend = f"{DETECTABLE} {SEEDS_NEEDED}" if beyond else DETECTABLE
    return ["", legend, "", *lines] if lines else []


def csv_text(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]


_TEX_ESCAPES = {c: "\\" + c for c in "&%$#_{}"} | {"\\": r"\textbackslash{}", "~": r"\~{}", "^": r"\^{}", "–": "--"}
_TEX_MATH = {"↓": r"\downarrow", "↑": r"\uparrow", "⁺": "^{+}", "τ": r"\tau", "±": r"\pm", "Δ": r"\Delta"}


def tex(text: str) -> str:
    """Plain text as LaTeX: special characters escaped, the tables' symbols as math (neighbours share one ``$..$``)."""
    out: list[str] = []
    math: list[str] = []
    for ch in text:
        if ch in _TEX_MATH:
            math.append(_TEX_MATH[ch])
            continue
        if math:
            out.append("$" + " ".join(math) + "$")
            math = []
        out.append(_TEX_ESCAPES.get(ch, ch))
    if math:
        out.append("$" + " ".join(math) + "$")
    return "".join(out)


def tex_table(colspec: str, head: list[str], blocks: list[list[list[str]]]) -> str:
    """A booktabs ``tabular``: ``head`` lines (already LaTeX), blocks of body rows separated by ``\\midrule``."""
    lines = [rf"\begin{{tabular}}{{{colspec}}}", r"\toprule", *head, r"\midrule"]
    for i, block in enumerate(blocks):
        if i:
            lines.append(r"\midrule")
        lines += [" & ".join(row) + r" \\" for row in block]
    return "\n".join([*lines, r"\bottomrule", r"\end{tabular}"]) + "\n"


def markdown(title: str, body: list[str], legend: list[str], notes: list[str]) -> str:
    lines = [f"# {title}", "", *body]
    for paragraph in legend:
        lines += ["", paragraph]
    if notes:
        lines += ["", "Notes:", "", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"


def write(out: Path, texts: dict[str, str]) -> list[Path]:
    """Write each named text into ``out`` (created by the first write); the paths, in order."""
    paths = []
    for name, text in texts.items():
        write_text(out / name, text)
        paths.append(out / name)
    return paths
