"""The paper's figures from stored ``results.json`` files (see :mod:`bench.artifacts`, which dispatches here).

``fewshot`` (Fig. 2 right): Dice vs train ratio per dataset, preset and downstream model, one line per method,
origin dashed black. ``tau-vs-s`` (Fig. 2 left): densities of the stage-IV Dice of generated pairs before selection,
guidance temperature τ = 1/v vs gradient scale s = v. ``gallery`` (Fig. 3): each method's stored ``gallery.png``.
Each also writes a Markdown summary (and a CSV for the first two). Drawing uses ``matplotlib.figure.Figure``
directly (no pyplot state, no display); PNGs are written under a temporary name and renamed.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bench.artifacts import (
    BASELINE,
    DASH,
    DEFAULT_ETA,
    DELTA_LEGEND,
    GALLERY_PNG,
    METHOD_ORDER,
    MODELS,
    SEED_LEGEND,
    Artifact,
    _block,
    _cell,
    _close,
    _csv,
    _dedup,
    _delta,
    _Entry,
    _index,
    _largest_ratio,
    _markdown,
    _md_table,
    _Run,
    _settings_keys,
    _write,
)
from bench.files import atomic_path

# --- fewshot ------------------------------------------------------------------------------------------------------

FEWSHOT_COLUMNS = [
    "dataset",
    "preset",
    "model",
    "method",
    "train_ratio",
    "mean",
    "std",
    "n",
    "seeds",
    "delta_vs_origin",
    "delta_seeds",
]


def fewshot(runs: list[_Run], out: Path) -> Artifact:
    notes: list[str] = []
    curves: dict[tuple[str, str, str], dict[str, list[_Run]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        if r.augment != "none" or r.settings:
            continue
        if r.method == BASELINE and r.train_on == "real":
            curves[r.dataset, r.preset, r.model][BASELINE].append(r)
        elif r.method != BASELINE and r.train_on == "real+synthetic":
            curves[r.dataset, r.preset, r.model][f"{r.method} ({r.ablation})"].append(r)
    if not curves:
        raise ValueError(
            "fewshot needs origin runs (train on real) or runs trained on real+synthetic pairs, with augment none "
            f"and no changed settings; none among the {len(runs)} results"
        )
    order = list(MODELS)
    rows: list[list[Any]] = []
    panels, sections, single = [], [], []
    for (ds, preset, model), by_label in sorted(curves.items(), key=lambda kv: (*kv[0][:2], _index(order, kv[0][2]))):
        block = f"{_block(ds, preset, (r for rs in by_label.values() for r in rs))}, {model}"
        labels = sorted(by_label, key=lambda label: (label != BASELINE, label))
        cells = {
            label: {
                x: _cell(
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
                d, k = _delta(cell, base, f"{block}, {label}, ratio {x:g}", notes)
                rows.append(
                    [ds, preset, model, label, x, cell.mean, cell.std, cell.n, " ".join(map(str, cell.seeds)), d, k]
                )
                points.append((x, cell.mean, cell.std, cell.n))
                shown[x] = _Entry(ds, preset, label, f"{x:g}", cell, 4, d, k).text()
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
        sections += [f"## {block}", "", *_md_table(["method", *(f"ratio {x:g}" for x in ratios)], table), ""]
    if not panels:
        raise ValueError(
            "fewshot: a curve needs the same method at two or more train ratios; only one ratio per method in "
            + "; ".join(single)
        )
    if single:
        notes.append(f"not drawn, one train ratio per method only: {'; '.join(single)}")
    notes = _dedup(notes)
    png = out / "fewshot.png"
    fewshot_figure(panels, png)
    legend = [
        "Few-shot curves (paper Fig. 2 right): Dice of each downstream model vs the share of the data set used for "
        "training (augment none); origin trains on the real split only, the others on the real split plus the "
        "method's generated pairs (generators refit on each split).",
        SEED_LEGEND,
        DELTA_LEGEND,
    ]
    md = _markdown("Few-shot: Dice vs train ratio", [*sections, f"![few-shot curves]({png.name})"], legend, notes)
    csv_rows = [
        [*r[:5], f"{r[5]:.6g}", f"{r[6]:.6g}", *r[7:9], "" if r[9] is None else f"{r[9]:.6g}", r[10]] for r in rows
    ]
    files = _write(out, {"fewshot.md": md, "fewshot.csv": _csv(FEWSHOT_COLUMNS, csv_rows)})
    return Artifact("fewshot", [*files, png], {"fewshot": (FEWSHOT_COLUMNS, rows)}, [png], notes)


# --- tau-vs-s -----------------------------------------------------------------------------------------------------

TAU_VS_S_COLUMNS = [
    "dataset",
    "preset",
    "family",
    "v",
    "tau",
    "guidance_scale",
    "pairs",
    "seeds",
    "mean",
    "median",
    "threshold",
    "share_at_or_above",
]
_FAMILIES = {"tau": lambda v: (1 / v, 1.0), "s": lambda v: (1.0, float(v))}  # family -> v -> (tau, guidance_scale)
_SHOWN = {"tau": "τ", "s": "s"}


def tau_vs_s(runs: list[_Run], out: Path) -> Artifact:
    notes: list[str] = []
    mine = [r for r in runs if r.method == "diffuseexpand" and r.ablation == "cf+cg+cs"]
    if not mine:
        raise ValueError(
            "tau-vs-s needs diffuseexpand cf+cg+cs runs that record method_stats.filter_dice (each generated pair's "
            f"stage-IV Dice); none among the {len(runs)} results"
        )
    without = [r for r in mine if r.res["method_stats"].get("filter_dice") is None]
    if without:
        notes.append(f"skipped {len(without)} runs without method_stats.filter_dice (stored before it was recorded)")
    extra = [r for r in mine if _settings_keys(r.settings) - {"tau", "guidance_scale"}]
    if extra:
        notes.append(f"left out {len(extra)} runs whose settings change more than τ and s")
    mine = [r for r in mine if r not in without and r not in extra]
    if not mine:
        raise ValueError("tau-vs-s: no diffuseexpand cf+cg+cs run records filter_dice (each pair's stage-IV Dice)")
    groups = []
    rows: list[list[Any]] = []
    md_rows: list[list[str]] = []
    for ds, preset in sorted({(r.dataset, r.preset) for r in mine}):
        rs = [r for r in mine if (r.dataset, r.preset) == (ds, preset)]
        block = _block(ds, preset, rs)
        _, rs = _largest_ratio(rs, block, notes)
        families: dict[str, list[tuple[str, list[float]]]] = {}
        matched: set[int] = set()
        cuts: Counter[float] = Counter()
        for family, config in _FAMILIES.items():
            families[family] = []
            for v in (1, 2, 3):
                tau, scale = config(v)
                here = [r for r in rs if _close(r.option("tau"), tau) and _close(r.option("guidance_scale"), scale)]
                matched |= {id(r) for r in here}
                name = f"1/τ = {v}" if family == "tau" else f"s = {v}"
                per_seed = _seed_lists(here, f"{block}, {name}", notes)
                values = [d for dice, _ in per_seed.values() for d in dice]
                if not values:
                    notes.append(f"{name} (τ = {tau:.4g}, s = {scale:g}): no run with filter_dice ({block})")
                    md_rows.append(
                        [block, _SHOWN[family], str(v), f"{tau:.4g}", f"{scale:g}", "0", DASH, DASH, DASH, DASH]
                    )
                    continue
                families[family].append((name, values))
                thresholds = {1 - eta for _, eta in per_seed.values()}
                cuts.update(thresholds)
                share = sum(d >= 1 - eta - 1e-9 for dice, eta in per_seed.values() for d in dice) / len(values)
                threshold = f"{thresholds.pop():.4g}" if len(thresholds) == 1 else "per seed"
                mean, median = statistics.fmean(values), statistics.median(values)
                seeds = " ".join(map(str, sorted(per_seed)))
                rows.append([ds, preset, family, v, tau, scale, len(values), seeds, mean, median, threshold, share])
                md_rows.append(
                    [
                        block,
                        _SHOWN[family],
                        str(v),
                        f"{tau:.4g}",
                        f"{scale:g}",
                        str(len(values)),
                        seeds,
                        f"{mean:.4f}",
                        f"{median:.4f}",
                        f"{share:.3f} (Dice ≥ {threshold})",
                    ]
                )
        if len(matched) < len(rs):
            notes.append(f"{block}: {len(rs) - len(matched)} runs at other (τ, s) left out")
        if any(families.values()):
            groups.append((block, families, cuts.most_common(1)[0][0]))
    if not groups:
        raise ValueError("tau-vs-s: no run with filter_dice at τ = 1, 1/2, 1/3 with s = 1 or s = 1, 2, 3 with τ = 1")
    notes = _dedup(notes)
    png = out / "tau_vs_s.png"
    tau_vs_s_figure(groups, png)
    head = ["dataset", "family", "v", "τ", "s", "pairs", "seeds", "mean Dice", "median Dice", "share kept"]
    legend = [
        "τ vs s (paper Fig. 2 left): the stage-IV Dice between each generated mask and the filter network's "
        "prediction for its image, before selection, pooled over seeds (each seed's pairs once). The τ family "
        "guides at temperature τ = 1/v with s = 1, the s family at gradient scale s = v with τ = 1; v = 1 is the "
        "same configuration in both (Lemma 3.3 compares 1/τ = s).",
        "share kept: share of pairs with Dice ≥ 1 - η (η: the run's stage-IV threshold, 0.065 in the paper).",
    ]
    md = _markdown(
        "τ vs s: stage-IV Dice of generated pairs",
        [*_md_table(head, md_rows), "", f"![tau vs s]({png.name})"],
        legend,
        notes,
    )
    csv_rows = [
        [*r[:4], f"{r[4]:.6g}", f"{r[5]:g}", *r[6:8], f"{r[8]:.6g}", f"{r[9]:.6g}", r[10], f"{r[11]:.6g}"]
        for r in rows
    ]
    files = _write(out, {"tau_vs_s.md": md, "tau_vs_s.csv": _csv(TAU_VS_S_COLUMNS, csv_rows)})
    return Artifact("tau-vs-s", [*files, png], {"tau_vs_s": (TAU_VS_S_COLUMNS, rows)}, [png], notes)


def _seed_lists(runs: list[_Run], where: str, notes: list[str]) -> dict[int, tuple[list[float], float]]:
    """Each seed's filter_dice list once (every model / augmentation run of a seed shares its generated pairs),
    with the seed's η."""
    out: dict[int, tuple[list[float], float]] = {}
    for r in sorted(runs, key=lambda r: (r.seed, r.model != "unet", str(r.folder))):
        dice = [float(d) for d in r.res["method_stats"]["filter_dice"]]
        eta = r.option("eta")
        eta = DEFAULT_ETA if eta is None else float(eta)
        if r.seed not in out:
            out[r.seed] = (dice, eta)
        elif out[r.seed][0] != dice:
            notes.append(f"{where}: runs of seed {r.seed} recorded different filter_dice lists; used the first")
    return out


# --- gallery ------------------------------------------------------------------------------------------------------


def gallery(runs: list[_Run], out: Path) -> Artifact:
    groups: dict[tuple[str, str, str, str], list[_Run]] = defaultdict(list)
    for r in runs:
        if r.train_on != "real":  # runs on real pairs only have no generated pairs to show
            groups[r.dataset, r.preset, r.method, r.ablation].append(r)
    if not groups:
        raise ValueError(f"gallery needs runs of methods that generate pairs; none among the {len(runs)} results")
    order = list(METHOD_ORDER)
    picked, missing = [], []
    for key in sorted(groups, key=lambda k: (k[0], k[1], _index(order, k[2]), k[3])):
        have = [r for r in groups[key] if (r.folder / GALLERY_PNG).is_file()]
        if not have:
            missing.append(f"{key[2]} ({key[3]}), {key[0]}, {key[1]}")
            continue
        picked.append(
            min(
                have,
                key=lambda r: (
                    r.seed,
                    r.settings != "",
                    r.model != "unet",
                    r.train_on != "real+synthetic",
                    -r.ratio,
                    str(r.folder),
                ),
            )
        )
    if not picked:
        raise ValueError(f"gallery: no run folder holds {GALLERY_PNG} (runs of: {'; '.join(missing)})")
    notes = [f"no {GALLERY_PNG} in any run folder of: {'; '.join(missing)}"] if missing else []
    presets = len({r.preset for r in picked}) > 1
    panels = []
    rows = []
    for r in picked:
        ds = f"{r.dataset} ({r.preset})" if presets else r.dataset
        title = f"{r.method} ({r.ablation}), {ds}, seed {r.seed}"
        panels.append((title, r.folder / GALLERY_PNG))
        rows.append([r.dataset, r.preset, r.method, r.ablation, r.seed, r.model, str(r.shown / GALLERY_PNG)])
    png = out / "gallery.png"
    gallery_figure(panels, png)
    head = ["dataset", "preset", "method", "ablation", "seed", "model", "source"]
    legend = [
        "Generated pairs with their masks overlaid (paper Fig. 3), one stored gallery per method: the lowest seed's, "
        "preferring the preset's settings, the UNet run and training on real+synthetic pairs. Colours: the legend "
        "under each grid (for a filtering method, the stage-IV decision of each pair).",
    ]
    md_rows = [[*map(str, row[:6]), f"`{row[6]}`"] for row in rows]
    md = _markdown(
        "Gallery of generated pairs", [*_md_table(head, md_rows), "", f"![gallery]({png.name})"], legend, notes
    )
    files = _write(out, {"gallery.md": md})
    return Artifact("gallery", [*files, png], {"gallery": (head, rows)}, [png], notes)


# --- drawing ------------------------------------------------------------------------------------------------------


def kde(values: list[float], grid: np.ndarray) -> np.ndarray:
    """Gaussian kernel density of ``values`` (in [0, 1]) on ``grid``, reflected at 0 and 1 so no mass leaks out.

    Bandwidth: Silverman's rule, 0.9 min(std, IQR / 1.34) n^(-1/5), at least 0.005 (a set of equal values
    still draws as a narrow peak).
    """
    x = np.asarray(values, dtype=float)
    spread = min(x.std(), (np.percentile(x, 75) - np.percentile(x, 25)) / 1.34) or x.std()
    h = max(0.9 * spread * len(x) ** -0.2, 0.005)
    points = np.concatenate([x, -x, 2 - x])
    z = (np.asarray(grid, dtype=float)[:, None] - points[None, :]) / h
    return np.exp(-0.5 * z**2).sum(axis=1) / (len(x) * h * math.sqrt(2 * math.pi))


def _grid(n: int, width: float, height: float) -> tuple[Any, np.ndarray]:
    from matplotlib.figure import Figure

    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def _save(fig: Any, path: Path, dpi: int = 120) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)


def fewshot_figure(
    panels: list[tuple[str, list[tuple[str, list[tuple[float, float, float, int]]]]]], path: Path
) -> None:
    """One panel per (title, lines); a line is (label, [(ratio, mean, std, n)]), drawn with std error bars."""
    fig, axes = _grid(len(panels), 5.0, 4.0)
    for ax, (title, lines) in zip(axes.flat, panels):
        ns = [n for _, points in lines for *_, n in points]
        seeds = f"n = {min(ns)} seeds per point" if min(ns) == max(ns) else f"n = {min(ns)}–{max(ns)} seeds per point"
        for label, points in lines:
            x, mean, std, _ = zip(*sorted(points))
            style = {"color": "black", "linestyle": "--", "marker": "s"} if label == BASELINE else {"marker": "o"}
            ax.errorbar(x, mean, yerr=std, capsize=3, label=label, **style)
        ax.set_xticks(sorted({x for _, points in lines for x, *_ in points}))
        ax.set(xlabel="train ratio (share of the data set)", ylabel="Dice on the test split")
        ax.set_title(f"{title}\n{seeds}", fontsize="medium")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    _save(fig, path)


def tau_vs_s_figure(groups: list[tuple[str, dict[str, list[tuple[str, list[float]]]], float]], path: Path) -> None:
    """Two panels per (title, families, threshold): the τ family and the s family, one Dice density per
    configuration, and the stage-IV threshold 1 - η as a dotted line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.0, 3.6 * len(groups)), layout="constrained")
    axes = fig.subplots(len(groups), 2, squeeze=False)
    grid = np.linspace(0.0, 1.0, 401)
    for row, (block, families, threshold) in zip(axes, groups):
        for ax, (family, curves) in zip(row, families.items()):
            ax.axvline(threshold, color="grey", linestyle=":", label=f"kept: Dice ≥ {threshold:.4g}")
            for name, values in curves:
                density = kde(values, grid)
                line = ax.plot(grid, density, label=f"{name} ({len(values)} pairs)")[0]
                ax.fill_between(grid, density, alpha=0.15, color=line.get_color())
            fixed = "s = 1" if family == "tau" else "τ = 1"
            ax.set_title(f"{block}: {_SHOWN[family]} family ({fixed})", fontsize="medium")
            ax.set(xlabel="stage-IV Dice (generated mask vs filter prediction)", ylabel="density", xlim=(0, 1))
            ax.legend(fontsize="small", loc="upper left")
            if not curves:
                ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes)
    _save(fig, path)


def gallery_figure(panels: list[tuple[str, Path]], path: Path) -> None:
    """One panel per (title, PNG file): the stored gallery, axes off."""
    from PIL import Image

    fig, axes = _grid(len(panels), 6.0, 6.5)
    for ax, (title, source) in zip(axes.flat, panels):
        with Image.open(source) as im:
            ax.imshow(np.asarray(im.convert("RGB")))
        ax.set_axis_off()
        ax.set_title(title, fontsize="medium")
    _save(fig, path, dpi=110)  # 660 px a panel: every 64 x 64 tile of an 8 x 8 gallery stays readable
