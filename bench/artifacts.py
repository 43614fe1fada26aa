"""The paper's tables and figures from stored ``results.json`` files: pure functions of the results.

``build_artifact(kind, runs, out)`` reads every ``results.json`` under ``runs`` and writes one artifact into ``out``:

============  ===================================================================  ==============================
kind          what                                                                 files
============  ===================================================================  ==============================
``table1``    DiffuseExpand ablations, UNet trained on real + synthetic (Table 1)  table1.md / .csv / .tex
``table2``    methods whose pairs alone train the network (Table 2)                table2.md / .csv / .tex
``fewshot``   Dice vs train ratio, with and without expansion (Fig. 2 right)       fewshot.md / .csv / .png
``tau-vs-s``  stage-IV Dice densities, temperature τ vs gradient scale s (Fig. 2)  tau_vs_s.md / .csv / .png
``gallery``   each method's stored ``gallery.png`` side by side (Fig. 3)           gallery.md / .png
============  ===================================================================  ==============================

Results are grouped by (dataset, preset), one block each. A cell aggregates seeds as mean ± population std
(``(n = 1)`` for one seed), as :mod:`bench.report` does, and never averages runs of different downstream training
or method versions (ValueError naming the runs). Δ vs origin is paired by seed over the seeds both cells have.
Missing runs show as "–" with a note, never as zeros. The figures are drawn by :mod:`bench.figures`.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from bench.files import write_text
from bench.report import mean_std, training_signature
from bench.results import Results, find_results, load_results

ARTIFACTS: tuple[str, ...] = ("table1", "table2", "fewshot", "tau-vs-s", "gallery")
BASELINE = "origin"  # the method every Δ compares with
DASH = "–"
MODELS = {"unet": "UNet", "attnunet": "AttnUNet", "transunet": "TransUNet"}
METHOD_ORDER = ("synthmed", "xlsor", "joint", "diffuseexpand")  # the paper's row order; others follow by name
DEFAULT_ETA = 0.065  # the paper's stage-IV Dice-loss threshold η, when a run does not record its own
GALLERY_PNG = "gallery.png"
TOL = 1e-6  # how close a stored τ or s must be to 1, 1/2, 1/3


@dataclass
class Artifact:
    """What :func:`build_artifact` wrote.

    Attributes:
        name: the artifact kind (one of :data:`ARTIFACTS`).
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


def build_artifact(kind: str, runs: Path, out: Path) -> Artifact:
    """Build the artifact ``kind`` from every ``results.json`` under ``runs``; write its files into ``out``.

    Raises:
        ValueError: an unknown kind, none of the results is relevant to the artifact (the message says what is
            missing), or a cell would average runs of different downstream training or method versions.
        FileNotFoundError: no ``results.json`` under ``runs``.
    """
    if kind not in ARTIFACTS:
        raise ValueError(f"unknown artifact '{kind}'; choose from: {', '.join(ARTIFACTS)}")
    files = find_results(runs)
    if not files:
        raise FileNotFoundError(f"no results.json under {runs}")
    shown = Path(Path(runs).resolve().name)  # run folders are written relative to --runs, under its name
    loaded = [_Run(f.parent, shown / f.parent.relative_to(runs), load_results(f)) for f in files]
    out = Path(out)  # created by the first write: a refused artifact leaves nothing behind
    from bench import figures  # imports this module: only once it is loaded

    builders = {"table1": _table1, "table2": _table2, "fewshot": figures.fewshot, "tau-vs-s": figures.tau_vs_s}
    builders["gallery"] = figures.gallery
    return builders[kind](loaded, out)


# --- runs and cells ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Run:
    """One stored run: its folder, the folder as the artifact's files name it (``runs/<dataset>/...``, never a
    machine's absolute path), and its results (compared by identity)."""

    folder: Path
    shown: Path
    res: Results

    def __getattr__(self, key: str) -> Any:  # run identity: method, ablation, dataset, model, seed, augment...
        run = self.__dict__["res"]["run"] if "res" in self.__dict__ else {}
        if key in run:
            return run[key]
        if key == "settings":
            return ""
        raise AttributeError(key)

    @property
    def ratio(self) -> float:
        return self.res["run"]["train_ratio"]

    def option(self, key: str) -> Any:
        return (self.res["config"].get("method_options") or {}).get(key)

    def metric(self, key: str) -> Any:
        return self.res["metrics"].get(key)

    @cached_property
    def kind(self) -> tuple[str, str | None]:
        """What a cell must not mix: the downstream training signature and the method version."""
        return training_signature(self.res), self.res["versions"].get("method")


@dataclass
class _Cell:
    """One aggregated value: ``values`` maps seed -> value; ``kind`` is what its runs share (see ``_Run.kind``)."""

    values: dict[int, float]
    kind: tuple[str, str | None]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values.values())

    @property
    def std(self) -> float:
        return statistics.pstdev(self.values.values()) if self.n > 1 else 0.0

    @property
    def seeds(self) -> list[int]:
        return sorted(self.values)


def _present(cell: _Cell | None) -> bool:
    return cell is not None and cell.n > 0


def _cell(runs: list[_Run], value: Callable[[_Run], float | None], where: str) -> _Cell | None:
    """Aggregate ``value`` over ``runs`` (one per seed); None without runs. Refuses to mix trainings or versions."""
    if not runs:
        return None
    for i, what, short in ((0, "downstream training", "training"), (1, "method version", "version")):
        by_kind: dict[Any, list[str]] = defaultdict(list)
        for r in runs:
            by_kind[r.kind[i]].append(str(r.folder))
        if len(by_kind) > 1:
            listed = "; ".join(f"{short} {k}: {', '.join(sorted(f))}" for k, f in sorted(by_kind.items(), key=str))
            raise ValueError(
                f"{where}: the runs differ in {what} and would be averaged into one number ({listed}); "
                "move the runs of one of them to another folder"
            )
    twice = [s for s, k in Counter(r.seed for r in runs).items() if k > 1]
    if twice:
        folders = ", ".join(str(r.folder) for r in runs if r.seed in twice)
        raise ValueError(f"{where}: more than one run of seed {min(twice)} ({folders})")
    values = {r.seed: v for r in runs if (v := value(r)) is not None}
    return _Cell(values, runs[0].kind)


def _one_per_seed(runs: list[_Run], where: str, notes: list[str]) -> list[_Run]:
    """Runs of equivalent settings (``""`` and ``tau=1`` at the default τ) may share a seed: keep one, noted."""
    by_seed: dict[int, list[_Run]] = defaultdict(list)
    for r in runs:
        by_seed[r.seed].append(r)
    kept = []
    for seed, rs in sorted(by_seed.items()):
        rs = sorted(rs, key=lambda r: (r.settings != "", str(r.folder)))
        if len(rs) > 1:
            notes.append(f"{where}: {len(rs)} runs of seed {seed}; used {rs[0].shown}, not {_names(rs[1:])}")
        kept.append(rs[0])
    return kept


def _delta(cell: _Cell | None, base: _Cell | None, where: str, notes: list[str]) -> tuple[float | None, int]:
    """Mean over shared seeds of cell - base (paired by seed), and how many seeds were paired."""
    if not _present(cell) or not _present(base):
        return None, 0
    if cell.kind[0] != base.kind[0]:
        notes.append(f"{where}: no Δ, origin was trained with other downstream settings")
        return None, 0
    common = sorted(set(cell.values) & set(base.values))
    if not common:
        notes.append(f"{where}: no Δ, no seed in common with origin")
        return None, 0
    if len(common) < cell.n:
        notes.append(f"{where}: Δ paired over {len(common)} of {cell.n} seeds ({' '.join(map(str, common))})")
    return statistics.fmean(cell.values[s] - base.values[s] for s in common), len(common)


def _generation_cell(runs: list[_Run], key: str, kept: bool, where: str, notes: list[str]) -> _Cell | None:
    """A generation metric (``fid``, ``fid_unet``, ``is_unet``); for a filtering method ``kept`` reads the
    ``<key>_kept`` value of the pairs it kept, falling back to all pairs only when no run recorded that."""
    if kept and any(r.metric(f"{key}_kept") is not None for r in runs):
        key = f"{key}_kept"
    elif kept and any(r.metric(key) is not None for r in runs):
        notes.append(f"{where}: {key} of all generated pairs (no run recorded {key}_kept)")
    cell = _cell(runs, lambda r: r.metric(key), where)
    if cell is not None and cell.n < len(runs):
        reasons = "; ".join(
            sorted({r.res["unavailable"].get(key, "not recorded") for r in runs if r.metric(key) is None})
        )
        notes.append(
            f"{where}: {key} of {cell.n} of {len(runs)} seeds ({reasons})" if cell.n else f"{where}: n/a ({reasons})"
        )
    return cell


def _set_bold(entries: list[_Entry], higher: bool, where: str, notes: list[str]) -> None:
    """Bold the best of ``entries`` when they average the same seeds; when they do not, their means are not
    comparable: each shows its seed count, nothing is bold, and a note points to the paired Δ."""
    seeds = {tuple(sorted(e.cell.values)) for e in entries if _present(e.cell)}
    if len(seeds) > 1:
        for e in entries:
            e.show_n = True
        notes.append(f"{where}: means over different seeds (n shown), so none is bold; compare the paired Δ")
        return
    for e, bold in zip(entries, _best([e.cell for e in entries], higher, entries[0].digits)):
        e.bold = bold


def _best(cells: list[_Cell | None], higher: bool, digits: int) -> list[bool]:
    """Bold flags: the best displayed mean (ties all), only when at least two cells are present."""
    shown = [round(c.mean, digits) if _present(c) else None for c in cells]
    values = [v for v in shown if v is not None]
    if len(values) < 2:
        return [False] * len(cells)
    best = max(values) if higher else min(values)
    return [v == best for v in shown]


def _block(dataset: str, preset: str, runs: Iterable[_Run]) -> str:
    synthetic = any(r.res["dataset"].get("synthetic") for r in runs)
    return f"{dataset} (synthetic phantom), {preset}" if synthetic else f"{dataset}, {preset}"


def _largest_ratio(runs: list[_Run], where: str, notes: list[str]) -> tuple[float, list[_Run]]:
    """The paper's tables use the largest train ratio (0.9); runs at other ratios are left out, noted."""
    ratio = max(r.ratio for r in runs)
    other = [r for r in runs if r.ratio != ratio]
    if other:
        ratios = ", ".join(f"{x:g}" for x in sorted({r.ratio for r in other}))
        notes.append(f"{where}: train ratio {ratio:g} shown; {len(other)} runs at ratio {ratios} left out")
    return ratio, [r for r in runs if r.ratio == ratio]


def _settings_keys(tag: str) -> set[str]:
    """Keys of a settings tag (``tau=0.5,train.epochs=40``); a hashed (long) tag counts as unknown changes."""
    if "~" in tag:
        return {"(hashed settings)"}
    return {part.partition("=")[0] for part in tag.split(",") if part}


def _names(runs: Iterable[_Run]) -> str:
    return ", ".join(str(r.shown) for r in runs)


def _close(value: Any, target: float) -> bool:
    return value is not None and abs(float(value) - target) <= TOL


def _dedup(notes: list[str]) -> list[str]:
    return list(dict.fromkeys(notes))


# --- rendering ----------------------------------------------------------------------------------------------------


@dataclass
class _Entry:
    """One table cell with where it sits (for the long CSV)."""

    dataset: str
    preset: str
    row: str
    column: str
    cell: _Cell | None
    digits: int
    delta: float | None = None
    delta_seeds: int = 0
    bold: bool = False
    show_n: bool = False  # its row or column mixes seed sets: say how many seeds this mean is over

    def text(self, tex: bool = False, markup: bool = True) -> str:
        if not _present(self.cell):
            return "--" if tex else DASH
        s = mean_std(self.cell.mean, self.cell.std, self.cell.n, self.digits)
        if self.show_n and self.cell.n > 1:
            s += f" (n = {self.cell.n})"
        if self.delta is not None:
            s += f" ({self.delta:+.{self.digits}f})"
        if tex:
            s = s.replace("±", r"$\pm$")
            return rf"\textbf{{{s}}}" if self.bold and markup else s
        return f"**{s}**" if self.bold and markup else s


LONG_COLUMNS = ["dataset", "preset", "row", "column", "mean", "std", "n", "seeds", "delta_vs_origin", "delta_seeds"]


def _long_csv(entries: list[_Entry]) -> str:
    """One line per cell; missing cells have empty values and n = 0."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*LONG_COLUMNS, "bold"])
    for e in entries:
        c = e.cell if _present(e.cell) else None
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
                "" if e.delta is None else f"{e.delta:.6g}",
                e.delta_seeds,
                e.bold,
            ]
        )
    return buf.getvalue()


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]


_TEX_ESCAPES = {c: "\\" + c for c in "&%$#_{}"} | {"\\": r"\textbackslash{}", "~": r"\~{}", "^": r"\^{}", "–": "--"}
_TEX_MATH = {"↓": r"\downarrow", "↑": r"\uparrow", "⁺": "^{+}", "τ": r"\tau", "±": r"\pm", "Δ": r"\Delta"}


def _tex(text: str) -> str:
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


def _tex_table(colspec: str, head: list[str], blocks: list[list[list[str]]]) -> str:
    """A booktabs ``tabular``: ``head`` lines (already LaTeX), blocks of body rows separated by ``\\midrule``."""
    lines = [rf"\begin{{tabular}}{{{colspec}}}", r"\toprule", *head, r"\midrule"]
    for i, block in enumerate(blocks):
        if i:
            lines.append(r"\midrule")
        lines += [" & ".join(row) + r" \\" for row in block]
    return "\n".join([*lines, r"\bottomrule", r"\end{tabular}"]) + "\n"


def _markdown(title: str, body: list[str], legend: list[str], notes: list[str]) -> str:
    lines = [f"# {title}", "", *body]
    for paragraph in legend:
        lines += ["", paragraph]
    if notes:
        lines += ["", "Notes:", "", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"


def _write(out: Path, texts: dict[str, str]) -> list[Path]:
    paths = []
    for name, text in texts.items():
        write_text(out / name, text)
        paths.append(out / name)
    return paths


DELTA_LEGEND = (
    "(±x) after a Dice: the paired Δ vs origin, i.e. the mean over seeds of Dice minus the origin run of the same "
    "seed (same dataset, preset, model, augmentation, train ratio and downstream training), over the seeds both have."
)
SEED_LEGEND = "mean ± std: population std over seeds; (n = 1): a single seed, no spread. –: no run (see the notes)."


# --- table1 -------------------------------------------------------------------------------------------------------

_ABLATIONS = {"cf": "CF", "cf+cg": "CF+CG", "cf+cg+cs": "CF+CG+CS"}
_TAUS = ((1.0, "1", "1"), (0.5, "1/2", r"\frac{1}{2}"), (1 / 3, "1/3", r"\frac{1}{3}"))
T1_COLUMNS = ("Origin", "CF", *(f"{a} τ={t}" for a in ("CF+CG", "CF+CG+CS") for _, t, _ in _TAUS))
_T1_TEX = ["Origin", "CF", *(rf"{a} $\tau={t}$" for a in ("CF+CG", "CF+CG+CS") for _, _, t in _TAUS)]
_T1_GENERATION = {"FID↓": "fid", "FID-U↓": "fid_unet", "IS-U↑": "is_unet"}
_T1_DICE = {"Dice↑": "none", "Dice⁺↑": "randaugment", "Dice*↑": "cutmix"}


def _t1_candidate(r: _Run) -> bool:
    if r.model != "unet":
        return False
    return (r.method == BASELINE and r.train_on == "real") or (
        r.method == "diffuseexpand" and r.train_on == "real+synthetic" and r.ablation in _ABLATIONS
    )


def _t1_column(r: _Run) -> str | None:
    if r.method == BASELINE:
        return "Origin"
    if r.ablation == "cf":
        return "CF"
    tau = r.option("tau")
    return next((f"{_ABLATIONS[r.ablation]} τ={t}" for v, t, _ in _TAUS if _close(tau, v)), None)


def _table1(runs: list[_Run], out: Path) -> Artifact:
    notes: list[str] = []
    candidates = [r for r in runs if _t1_candidate(r)]
    if not candidates:
        raise ValueError(
            f"table1 needs UNet runs of origin (train on real) or diffuseexpand cf / cf+cg / cf+cg+cs (train on "
            f"real+synthetic); none among the {len(runs)} results"
        )
    placed: dict[tuple[str, str], list[tuple[str, _Run]]] = defaultdict(list)
    other_keys: Counter[str] = Counter()
    off_tau = []
    for r in candidates:
        extra = _settings_keys(r.settings) - {"tau"}
        if extra:
            other_keys.update(extra)
            continue
        column = _t1_column(r)
        if column is None:
            off_tau.append(r)
            continue
        placed[r.dataset, r.preset].append((column, r))
    if other_keys:
        counts = ", ".join(f"{k} ({n})" for k, n in sorted(other_keys.items()))
        notes.append(f"left out {sum(other_keys.values())} runs whose settings change more than τ: {counts}")
    if off_tau:
        taus = ", ".join(sorted({f"{r.option('tau'):g}" for r in off_tau if r.option("tau") is not None}))
        notes.append(f"left out {len(off_tau)} runs at τ not in 1, 1/2, 1/3 ({taus or 'no τ recorded'})")
    if not placed:
        raise ValueError(f"table1: every candidate run was left out ({'; '.join(notes)})")

    entries: list[_Entry] = []
    md_rows: list[list[str]] = []
    tex_blocks: list[list[list[str]]] = []
    plain: list[list[Any]] = []
    for (ds, preset), pairs in sorted(placed.items()):
        block = _block(ds, preset, (r for _, r in pairs))
        ratio, _ = _largest_ratio([r for _, r in pairs], block, notes)
        by_column: dict[str, list[_Run]] = defaultdict(list)
        for column, r in pairs:
            if r.ratio == ratio:
                by_column[column].append(r)
        grid: dict[str, list[_Entry]] = {row: [] for row in (*_T1_GENERATION, *_T1_DICE)}
        for column in T1_COLUMNS:
            rs = by_column[column]
            if not rs:
                notes.append(f"{column}: no run ({block})")
            # generation metrics are the same for every augmentation of a seed: read them from augment none
            source = next((a for a in _T1_DICE.values() if any(r.augment == a for r in rs)), None)
            if source not in (None, "none"):
                notes.append(f"{block}, {column}: FID / IS from the {source} runs (no augment-none run)")
            gen = _one_per_seed([r for r in rs if r.augment == source], f"{block}, {column}, FID / IS", notes)
            for row, key in _T1_GENERATION.items():
                where = f"{block}, {column}, {row[:-1]}"
                blank = column == "Origin" and key != "is_unet"  # no generated pairs: no distance to measure
                cell = None if blank else _generation_cell(gen, key, column.startswith("CF+CG+CS"), where, notes)
                grid[row].append(_Entry(ds, preset, row, column, cell, 3))
            for row, augment in _T1_DICE.items():
                where = f"{block}, {column}, {row[:-1]}"
                dice = _one_per_seed([r for r in rs if r.augment == augment], where, notes)
                if rs and not dice:
                    notes.append(f"{column}, {row[:-1]}: no run ({block})")
                grid[row].append(_Entry(ds, preset, row, column, _cell(dice, lambda r: r.metric("dice"), where), 4))
        for row in _T1_DICE:
            origin = grid[row][0].cell
            for e in grid[row][1:]:
                e.delta, e.delta_seeds = _delta(e.cell, origin, f"{block}, {e.column}, {row[:-1]}", notes)
        for row, es in grid.items():
            _set_bold(es, "↑" in row, f"{block}, {row[:-1]}", notes)
            entries += es
            md_rows.append([block if row == "FID↓" else "", row, *(e.text() for e in es)])
            plain.append([ds, preset, row, *(e.text(markup=False) for e in es)])
        tex_blocks.append(
            [
                [_tex(block) if row == "FID↓" else "", _tex(row), *(e.text(tex=True) for e in es)]
                for row, es in grid.items()
            ]
        )
    notes = _dedup(notes)
    legend = [
        "Table 1: DiffuseExpand ablations; a UNet trained on the real training split plus the generated pairs "
        "(Origin: real pairs only). CF: classifier-free; CG: segmenter (classifier) guidance at temperature τ; "
        "CS: stage-IV selection of pairs. ⁺: RandAugment; *: CutMix; Dice without a mark: no augmentation.",
        "FID: Inception FID of the generated pairs vs the real training split (CF+CG+CS: the pairs it kept); "
        "FID-U / IS-U: the paper's U-Net-feature FID and IS, not comparable with Inception values; from the "
        "augment-none runs. Origin has no generated pairs and so no FID. Bold: best of the row.",
        SEED_LEGEND,
        DELTA_LEGEND,
    ]
    head = ["Dataset", "Metric", *T1_COLUMNS]
    tex_head = [" & ".join(["Dataset", "Metric", *_T1_TEX]) + r" \\"]
    texts = {
        "table1.md": _markdown("Table 1: DiffuseExpand ablations", _md_table(head, md_rows), legend, notes),
        "table1.csv": _long_csv(entries),
        "table1.tex": _tex_table("ll" + "c" * len(T1_COLUMNS), tex_head, tex_blocks),
    }
    files = _write(out, texts)
    return Artifact("table1", files, {"table1": (["dataset", "preset", "metric", *T1_COLUMNS], plain)}, [], notes)


# --- table2 -------------------------------------------------------------------------------------------------------


@cache
def _generates_pairs(name: str) -> bool:
    """The registered class's ``generates_pairs`` (imports the method's module: only asked when runs cannot tell)."""
    from methods import get_method

    return get_method(name).generates_pairs


def _table2_methods(runs: list[_Run]) -> dict[str, str]:
    """Registered methods that generate pairs, in the paper's order, each with the variant Table 2 shows."""
    from methods import METHODS

    trained_on_pairs = {r.method for r in runs if r.train_on != "real"}
    names = [n for n in METHODS if n != BASELINE and (n in trained_on_pairs or _generates_pairs(n))]
    names.sort(key=lambda n: (METHOD_ORDER.index(n) if n in METHOD_ORDER else len(METHOD_ORDER), n))
    return {n: "cf+cg+cs" if n == "diffuseexpand" else METHODS[n].variants[0] for n in names}


def _table2(runs: list[_Run], out: Path) -> Artifact:
    notes: list[str] = []
    variants = _table2_methods(runs)
    wanted = [r for r in runs if variants.get(r.method) == r.ablation and r.train_on == "synthetic"]
    wanted = [r for r in wanted if r.augment == "none"]
    if any(r.settings for r in wanted):
        notes.append(f"left out {sum(bool(r.settings) for r in wanted)} runs with settings changed from the preset")
    other_models = sorted({r.model for r in wanted if r.model not in MODELS})
    if other_models:
        notes.append(f"left out the runs of models {', '.join(other_models)} (Table 2 shows {', '.join(MODELS)})")
    wanted = [r for r in wanted if not r.settings and r.model in MODELS]
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
    grid: dict[str, list[_Entry]] = {n: [] for n in variants}
    block_names = []
    for ds, preset in blocks:
        mine = [r for r in wanted if (r.dataset, r.preset) == (ds, preset)]
        block = _block(ds, preset, mine)
        block_names.append(block)
        ratio, mine = _largest_ratio(mine, block, notes)
        base = {
            m: _cell(
                [r for r in origins if (r.dataset, r.preset, r.model, r.ratio) == (ds, preset, m, ratio)],
                lambda r: r.metric("dice"),
                f"{block}, origin, {label}",
            )
            for m, label in MODELS.items()
        }
        for name in variants:
            rs = [r for r in mine if r.method == name]
            if not rs and any(r.method == name for r in wanted):
                notes.append(f"{name}: not run ({block})")
            for m, label in MODELS.items():
                where = f"{block}, {labels[name]}, {label}"
                cell = _cell([r for r in rs if r.model == m], lambda r: r.metric("dice"), where)
                e = _Entry(ds, preset, labels[name], f"{label} Dice↑", cell, 4)
                e.delta, e.delta_seeds = _delta(cell, base[m], where, notes)
                grid[name].append(e)
            model = next((m for m in MODELS if any(r.model == m for r in rs)), None)
            where = f"{block}, {labels[name]}, FID"
            fid = _generation_cell([r for r in rs if r.model == model], "fid", name == "diffuseexpand", where, notes)
            if model not in (None, "unet"):
                notes.append(f"{where}: from the {model} runs (no UNet run)")
            grid[name].append(_Entry(ds, preset, labels[name], "FID↓", fid, 3))
        if not any(_present(c) for c in base.values()):
            notes.append(f"{block}: no origin run (train on real, augment none) at ratio {ratio:g}: no Δ")
    for name in variants:
        if not any(r.method == name for r in wanted):
            notes.append(f"{name}: not run")
    width = len(MODELS) + 1
    for j in range(len(blocks) * width):
        column = [grid[n][j] for n in variants]
        higher = (j % width) < len(MODELS)  # Dice columns; the last of each block is FID
        _set_bold(column, higher, f"{column[0].dataset}, {column[0].column}", notes)
    notes = _dedup(notes)
    entries = [e for b in range(len(blocks)) for n in variants for e in grid[n][b * width : (b + 1) * width]]
    head = ["Method", *(f"{b}: {c}" for b in block_names for c in [*(f"{v} Dice↑" for v in MODELS.values()), "FID↓"])]
    md_rows = [[labels[n], *(e.text() for e in grid[n])] for n in variants]
    plain = [[labels[n], *(e.text(markup=False) for e in grid[n])] for n in variants]
    tex_head = [
        " & ".join(["", *(rf"\multicolumn{{{width}}}{{c}}{{{_tex(b)}}}" for b in block_names)]) + r" \\",
        " ".join(rf"\cmidrule(lr){{{2 + i * width}-{1 + (i + 1) * width}}}" for i in range(len(blocks))),
        " & ".join(["Method", *([*MODELS.values(), r"FID$\downarrow$"] * len(blocks))]) + r" \\",
    ]
    tex_body = [[_tex(labels[n]), *(e.text(tex=True) for e in grid[n])] for n in variants]
    legend = [
        "Table 2: each network trained only on a method's generated pairs (augment none); Dice↑ on the real test "
        "split. FID↓: Inception FID of all generated pairs vs the real training split (diffuseexpand: the pairs "
        "stage IV kept), from the UNet runs. Bold: best of the column.",
        SEED_LEGEND,
        DELTA_LEGEND + " Origin trains on the real split.",
    ]
    texts = {
        "table2.md": _markdown("Table 2: training on generated pairs only", _md_table(head, md_rows), legend, notes),
        "table2.csv": _long_csv(entries),
        "table2.tex": _tex_table("l" + "c" * (width * len(blocks)), tex_head, [tex_body]),
    }
    files = _write(out, texts)
    return Artifact("table2", files, {"table2": (head, plain)}, [], notes)


def _index(order: list[str], item: str) -> tuple[int, str]:
    return (order.index(item) if item in order else len(order), item)
