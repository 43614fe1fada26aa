"""One row's cells as the results table shows them, in :data:`HEAD`'s order."""

from __future__ import annotations

from typing import Any

from bench import external_scores
from bench.report.rows import GENERATION_COLUMNS, MEMORISATION_SHARES, split_text
from bench.stats import POWER, PairedDelta


def _fmt_metric(row: dict[str, Any], key: str) -> str:
    """``mean ± std``, ``(k of n seeds)`` when some seeds lack it, ``n/a`` when none has it."""
    mean = row.get(f"{key}_mean")
    if mean is None:
        return "n/a"
    digits = 4 if key == "kid" or key in MEMORISATION_SHARES else 2
    cell = mean_std(mean, row[f"{key}_std"], row[f"{key}_runs"], digits)
    return cell if row[f"{key}_runs"] == row["n"] else f"{cell} ({row[f'{key}_runs']} of {row['n']} seeds)"


def mean_std(mean: float, std: float, n: int, digits: int) -> str:
    """``mean ± std``; one run has no spread to show, so it says ``(n = 1)`` rather than ``± 0``."""
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if n > 1 else f"{mean:.{digits}f} (n = 1)"


def fmt_delta(row: dict[str, Any], delta: PairedDelta | None = None, digits: int = 4) -> str:
    """The paired Dice Δ vs origin (``row["delta"]``, or ``delta``, e.g. on an external test set) with its interval
    and p, and how many seeds it covers when some lack it; ``N/A`` without one."""
    d = delta or row.get("delta")
    if d is None:
        return "N/A"
    mark = " ‡" if row.get("origin_steps") else ""
    return d.text(digits) + mark + ("" if d.seeds == row["n"] else f" ({d.seeds} of {row['n']} seeds)")


def fmt_detectable(row: dict[str, Any], delta: PairedDelta | None = None, digits: int = 4) -> str:
    """The smallest Δ the row's paired design could detect (:func:`bench.stats.detectable_delta`); ``N/A`` without
    a Δ."""
    d = delta or row.get("delta")
    return "N/A" if d is None else d.detectable_text(digits)


HEAD = [
    "dataset",
    "preset",
    "method",
    "ablation",
    "settings",
    "model",
    "aug",
    "train on",
    "ratio",
    "real/syn/test",
    "pass rate",
    "Dice (mean ± std)",
    "n",
    "Δ vs origin [95 % CI] p",
    f"detectable Δ ({POWER:.0%} power)",
    *GENERATION_COLUMNS.values(),
]


def row_cells(r: dict[str, Any], external: list[str] | tuple[str, ...] = ()) -> list[str]:
    """One row's cells, in ``HEAD``'s order, then one per ``external`` test set; synthetic (phantom) datasets are
    marked so their numbers are never mistaken for real data."""
    return [
        f"{r['dataset']} (synthetic phantom)" if r["synthetic_data"] else r["dataset"],
        r["preset"],
        f"{r['method']} v{r['version']}",
        r["ablation"],
        (r["settings"] or "preset") + (" §" if r.get("options_apart") else ""),
        r["model"],
        r["augment"],
        r["train_on"],
        split_text(r),
        f"{r['real_train']}/{r['synthetic_used']:.0f}/{r['test']}",
        "—" if r["pass_rate"] is None else f"{r['pass_rate']:.2f}",
        mean_std(r["dice_mean"], r["dice_std"], r["n"], 4) + (" †" if r.get("notes") else ""),
        str(r["n"]),
        fmt_delta(r),
        fmt_detectable(r),
        *(_fmt_metric(r, k) for k in GENERATION_COLUMNS),
        *(external_scores.cell(r, name) for name in external),
    ]
