"""τ vs s (paper Fig. 2 left): densities of the stage-IV Dice of generated pairs before selection.

The τ family guides at temperature τ = 1/v with the preset's gradient scale s₀, the s family at s = v·s₀ with τ = 1,
for each guidance strength v of :data:`bench.paper.STRENGTHS` (the paper's s₀ is 1); v = 1 is one configuration in
both. s₀ is read from the runs that leave the scale at their preset's value. Each seed's pairs count
once (every model / augmentation run of a seed shares them). Where the runs were scored on external test sets, each
configuration also shows the downstream Dice on each set with its paired Δ vs origin, read from the runs of one
downstream model and augmentation (UNet, none where there are some). Writes ``tau_vs_s.md``, ``.csv`` and ``.png``.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.artifacts.cells import (
    Cell,
    Run,
    aggregate_dice,
    block_title,
    dedup,
    delta,
    external_sets,
    largest_ratio,
    note_unscored,
    one_per_seed,
    order_key,
    settings_keys,
)
from bench.artifacts.plots import save_png
from bench.artifacts.render import (
    DASH,
    DELTA_LEGEND,
    DOWN,
    EXTERNAL_LEGEND,
    UP,
    Artifact,
    csv_text,
    csv_value,
    delta_columns,
    delta_text,
    figures,
    markdown,
    md_table,
    number_text,
    write,
)
from bench.config import AUGMENTS
from bench.paper import BASELINE, ETA, MODEL_NAMES, STRENGTHS, TAUS, matches
from bench.stats import RECORD, PairedDelta

if TYPE_CHECKING:
    import numpy as np

COLUMNS = [
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
    "seed_std",
    "threshold",
    "share_at_or_above",
]
_FAMILIES = {"tau": lambda v, s0: (1 / v, s0), "s": lambda v, s0: (1.0, v * s0)}  # family -> (v, s0) -> (tau, s)
_SHOWN = {"tau": "τ", "s": "s"}
Families = dict[str, list[tuple[str, list[float]]]]  # family -> [(configuration, each pair's Dice)]


def build(runs: list[Run], out: Path) -> Artifact:
    """Write the per-configuration summary, its CSV and the density figure into ``out``."""
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
    extra = [r for r in mine if settings_keys(r.settings) - {"tau", "guidance_scale"}]
    if extra:
        notes.append(f"left out {len(extra)} runs whose settings change more than τ and s")
    mine = [r for r in mine if r not in without and r not in extra]
    if not mine:
        raise ValueError("tau-vs-s: no diffuseexpand cf+cg+cs run records filter_dice (each pair's stage-IV Dice)")
    groups = []
    rows: list[list[Any]] = []
    md_rows: list[list[str]] = []
    scored_csv: list[list[Any]] = []  # each row's CSV cells after COLUMNS: the external sets'
    sets = external_sets(mine)
    for ds, preset in sorted({(r.dataset, r.preset) for r in mine}):
        rs = [r for r in mine if (r.dataset, r.preset) == (ds, preset)]
        block = block_title(ds, preset, rs)
        ratio, rs = largest_ratio(rs, block, notes)
        s0 = _preset_scale(rs, f"{block}", notes)
        downstream, origin = _downstream(runs, rs, ratio, sets, block, notes)
        families: Families = {}
        matched: set[int] = set()
        cuts: Counter[float] = Counter()
        for family, config in _FAMILIES.items():
            families[family] = []
            for v in STRENGTHS:
                tau, scale = config(v, s0)
                here = [r for r in rs if matches(r.option("tau"), tau) and matches(r.option("guidance_scale"), scale)]
                matched |= {id(r) for r in here}
                name = f"1/τ = {v}" if family == "tau" else f"s = {scale:g}"
                per_seed = _seed_lists(here, f"{block}, {name}", notes)
                values = [d for dice, _ in per_seed.values() for d in dice]
                if not values:
                    notes.append(f"{name} (τ = {tau:.4g}, s = {scale:g}): no run with filter_dice ({block})")
                    md_rows.append(
                        [block, _SHOWN[family], str(v), f"{tau:.4g}", f"{scale:g}", "0", DASH, DASH, DASH, DASH, DASH]
                        + [DASH, DASH] * len(sets)
                    )
                    continue
                shown = [r for r in here if (r.model, r.augment) == downstream]
                scored = _scored(shown, origin, sets, f"{block}, {name}", notes)
                families[family].append((name, values))
                thresholds = {1 - eta for _, eta in per_seed.values()}
                cuts.update(thresholds)
                share = sum(d >= 1 - eta - 1e-9 for dice, eta in per_seed.values() for d in dice) / len(values)
                threshold = f"{thresholds.pop():.4g}" if len(thresholds) == 1 else "per seed"
                mean, median = statistics.fmean(values), statistics.median(values)
                seed_means = [statistics.fmean(dice) for dice, _ in per_seed.values()]
                spread = statistics.pstdev(seed_means) if len(seed_means) > 1 else None
                seeds = " ".join(map(str, sorted(per_seed)))
                lead = [" ".join(downstream)] if sets else []
                rows.append(
                    [ds, preset, family, v, tau, scale, len(values), seeds, mean, median, spread, threshold, share]
                    + lead
                    + [x for cell, d in scored for x in [*figures(cell), *_record(d).values()]]
                )
                scored_csv.append(
                    lead + [x for cell, d in scored for x in [*map(csv_value, figures(cell)), *delta_columns(d)]]
                )
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
                        DASH if spread is None else f"{spread:.4f}",
                        f"{share:.3f} (Dice ≥ {threshold})",
                        *(x for cell, d in scored for x in (number_text(cell, 4), delta_text(d))),
                    ]
                )
        if len(matched) < len(rs):
            notes.append(f"{block}: {len(rs) - len(matched)} runs at other (τ, s) left out")
        if any(families.values()):
            groups.append((block, families, cuts.most_common(1)[0][0]))
    if not groups:
        taus, scales = ", ".join(t.text for t in TAUS), ", ".join(map(str, STRENGTHS))
        raise ValueError(
            f"tau-vs-s: no run with filter_dice at τ = {taus} with the preset's s₀, or s = ({scales}) · s₀ with τ = 1"
        )
    notes = dedup(notes)
    png = out / "tau_vs_s.png"
    figure(groups, png)
    head = ["dataset", "family", "v", "τ", "s", "pairs", "seeds", "mean Dice", "median Dice", "seed std", "share kept"]
    head += [x for name in sets for x in (f"Dice on {name}", f"Δ on {name}")]
    legend = [
        "τ vs s (paper Fig. 2 left): the stage-IV Dice between each generated mask and the filter network's "
        "prediction for its image, before selection, pooled over seeds (each seed's pairs once). The τ family "
        "guides at temperature τ = 1/v with the preset's gradient scale s₀, the s family at s = v·s₀ with τ = 1; "
        "v = 1 is the same configuration in both (Lemma 3.3 compares 1/τ with s/s₀).",
        "seed std: population std over seeds of each seed's mean Dice; two rows whose mean Dice differ by less "
        "than it differ within the seed spread (– with one seed).",
        f"share kept: share of pairs with Dice ≥ 1 - η (η: the run's stage-IV threshold, {ETA:g} in the paper).",
    ]
    if sets:
        legend += [
            "The columns on <set> read the configuration's runs of one downstream model and augmentation (the notes "
            f"say which), and the origin runs of the same. {UP} / {DOWN}: the interval of Δ lies above / below 0.",
            DELTA_LEGEND.replace("after a Dice", "in a Δ column"),
            EXTERNAL_LEGEND,
        ]
    md = markdown(
        "τ vs s: stage-IV Dice of generated pairs",
        [*md_table(head, md_rows), "", f"![tau vs s]({png.name})"],
        legend,
        notes,
    )
    csv_rows = [
        [
            *r[:4],
            f"{r[4]:.6g}",
            f"{r[5]:g}",
            *r[6:8],
            f"{r[8]:.6g}",
            f"{r[9]:.6g}",
            "" if r[10] is None else f"{r[10]:.6g}",
            r[11],
            f"{r[12]:.6g}",
            *tail,
        ]
        for r, tail in zip(rows, scored_csv)
    ]
    columns = COLUMNS + external_columns(sets)
    files = write(out, {"tau_vs_s.md": md, "tau_vs_s.csv": csv_text(columns, csv_rows)})
    return Artifact("tau-vs-s", [*files, png], {"tau_vs_s": (columns, rows)}, [png], notes)


def external_columns(sets: list[str]) -> list[str]:
    """The CSV columns after :data:`COLUMNS` with external test sets: the downstream model and augmentation read,
    then per set its Dice figures and Δ (:data:`bench.stats.RECORD`), each suffixed ``_on_<set>``."""
    if not sets:
        return []
    keys = ["dice", "dice_std", "dice_n", "dice_seeds", *RECORD]
    return ["downstream", *(f"{k}_on_{name}" for name in sets for k in keys)]


def _record(d: PairedDelta | None) -> dict[str, Any]:
    return d.record() if d is not None else dict.fromkeys(RECORD)


def _downstream(
    runs: list[Run], rs: list[Run], ratio: float, sets: list[str], block: str, notes: list[str]
) -> tuple[tuple[str, str], list[Run]]:
    """The downstream (model, augment) whose Dice on the external sets a block shows (UNet, none first), and the
    origin runs it pairs with; the choice is noted where there are sets."""
    order = (list(MODEL_NAMES), list(AUGMENTS))
    model, augment = min({(r.model, r.augment) for r in rs}, key=lambda k: tuple(map(order_key, order, k)))
    origin = [
        r
        for r in runs
        if r.method == BASELINE and r.train_on == "real" and not r.settings and r.ratio == ratio
        if (r.dataset, r.preset, r.model, r.augment) == (rs[0].dataset, rs[0].preset, model, augment)
    ]
    if sets:
        other = sum((r.model, r.augment) != (model, augment) for r in rs)
        notes.append(
            f"{block}: Dice on {', '.join(sets)} of the {model} runs under augment {augment}"
            + (f"; {other} runs of other models or augmentations not in those columns" if other else "")
        )
    return (model, augment), origin


def _scored(
    runs: list[Run], origin: list[Run], sets: list[str], where: str, notes: list[str]
) -> list[tuple[Cell | None, PairedDelta | None]]:
    """One configuration's Dice on each external set, with its paired Δ vs the origin runs on that set."""
    if not sets:
        return []
    runs = one_per_seed(runs, where, notes)
    out = []
    for name in sets:
        cell = aggregate_dice(runs, f"{where}, on {name}", name)
        note_unscored(cell, runs, name, where, notes)
        base = aggregate_dice(origin, f"{where}, origin, on {name}", name)
        out.append((cell, delta(cell, base, f"{where}, on {name}", notes)))
    return out


def _preset_scale(runs: list[Run], where: str, notes: list[str]) -> float:
    """s₀: the gradient scale of the runs that leave it at their preset's value; 1 (the paper's) if all set it."""
    scales = sorted(
        {
            float(r.option("guidance_scale"))
            for r in runs
            if "guidance_scale" not in settings_keys(r.settings) and r.option("guidance_scale") is not None
        }
    )
    if not scales:
        notes.append(f"{where}: every run sets guidance_scale; s₀ = 1 (the paper's)")
        return 1.0
    if len(scales) > 1:
        notes.append(
            f"{where}: runs at the preset's scale disagree ({', '.join(f'{s:g}' for s in scales)}); s₀ = {scales[0]:g}"
        )
    return scales[0]


def _seed_lists(runs: list[Run], where: str, notes: list[str]) -> dict[int, tuple[list[float], float]]:
    """Each seed's filter_dice list once (every model / augmentation run of a seed shares its generated pairs),
    with the seed's η."""
    out: dict[int, tuple[list[float], float]] = {}
    for r in sorted(runs, key=lambda r: (r.seed, r.model != "unet", str(r.folder))):
        dice = [float(d) for d in r.res["method_stats"]["filter_dice"]]
        eta = r.option("eta")
        eta = ETA if eta is None else float(eta)
        if r.seed not in out:
            out[r.seed] = (dice, eta)
        elif out[r.seed][0] != dice:
            notes.append(f"{where}: runs of seed {r.seed} recorded different filter_dice lists; used the first")
    return out


def kde(values: list[float], grid: np.ndarray) -> np.ndarray:
    """Gaussian kernel density of ``values`` (in [0, 1]) on ``grid``, reflected at 0 and 1 so no mass leaks out.

    Bandwidth: Silverman's rule, 0.9 min(std, IQR / 1.34) n^(-1/5), at least 0.005 (a set of equal values
    still draws as a narrow peak).
    """
    import numpy as np

    x = np.asarray(values, dtype=float)
    spread = min(x.std(), (np.percentile(x, 75) - np.percentile(x, 25)) / 1.34) or x.std()
    h = max(0.9 * spread * len(x) ** -0.2, 0.005)
    points = np.concatenate([x, -x, 2 - x])
    z = (np.asarray(grid, dtype=float)[:, None] - points[None, :]) / h
    return np.exp(-0.5 * z**2).sum(axis=1) / (len(x) * h * math.sqrt(2 * math.pi))


def figure(groups: list[tuple[str, Families, float]], path: Path) -> None:
    """Two panels per (title, families, threshold): the τ family and the s family, one Dice density per
    configuration, and the stage-IV threshold 1 - η as a dotted line."""
    import numpy as np
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
    save_png(fig, path)
