"""Tables from stored ``results.json`` files: pure functions of the results, never of live objects.

A row aggregates the seeds of one setting (dataset, preset, method + version, ablation, model, augmentation,
train-on, ratio) as mean ± std (population std over seeds) with n. Settings that differ in preset or method
version never share a row. ``Δ vs origin`` compares with the ``origin`` row of the same dataset, preset,
model, augmentation and ratio, when one exists, so a table states plainly whether expansion helped.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench import external_scores
from bench.config import TrainConfig, config_hash, tag_value
from bench.files import write_text
from bench.results import Results, find_results, load_results
from bench.stats import POWER, RECORD, PairedDelta, results_delta

GROUP_KEYS = (
    "dataset",
    "preset",
    "method",
    "version",
    "ablation",
    "settings",
    "model",
    "augment",
    "train_on",
    "train_ratio",
    "train_pairs",
    "options",
)


def make_rows(results: Iterable[Results], sources: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Aggregate results over seeds into table rows (sorted); ``sources``: where each result was read from.

    Raises:
        ValueError: two different runs of one seed in one row (a copied run folder, say), which would count as two
            seeds with only one paired with origin; the same result given twice counts once.
    """
    results = list(results)
    names = [f"dated {r.get('date')}" for r in results] if sources is None else list(sources)
    groups: dict[tuple, dict[int, tuple[Results, str]]] = defaultdict(dict)
    for r, name in zip(results, names):
        ident = {"settings": "", "train_pairs": None, **r["run"]}
        ident.update(version=r["versions"].get("method"), options=method_signature(r))
        key = tuple(ident[k] for k in GROUP_KEYS)
        first, where = groups[key].setdefault(r["run"]["seed"], (r, name))
        if first != r:
            row = dict(zip(GROUP_KEYS, key))
            raise ValueError(
                f"{row['dataset']}, {row['preset']}, {row['method']} v{row['version']} {row['ablation']} "
                f"({row['settings'] or 'preset'}), {row['model']}, augment {row['augment']}, {row['train_on']}, "
                f"{split_text(row, named=True)}: two different runs of seed {r['run']['seed']} ({where}, {name}); a "
                "row counts one run per seed, so move one of them out of the folder read"
            )
    rows, runs = [], []
    for key, by_seed in sorted(groups.items(), key=lambda kv: tuple(map(_sortable, kv[0]))):
        rs = [r for r, _ in by_seed.values()]
        dice = [r["metrics"]["dice"] for r in rs]
        kept = [r["counts"].get("synthetic_kept", 0) + r["counts"].get("synthetic_relabelled", 0) for r in rs]
        passed = [r["method_stats"]["pass_rate"] for r in rs if r["method_stats"].get("pass_rate") is not None]
        row = dict(zip(GROUP_KEYS, key))
        row.update(
            {
                "synthetic_data": any(r["dataset"].get("synthetic") for r in rs),
                "n": len(rs),
                "seeds": sorted(r["run"]["seed"] for r in rs),
                "dice_by_seed": {r["run"]["seed"]: r["metrics"]["dice"] for r in rs},
                "dice_mean": statistics.fmean(dice),
                "dice_std": statistics.pstdev(dice) if len(dice) > 1 else 0.0,
                "synthetic_used": statistics.fmean(kept),
                "pass_rate": statistics.fmean(passed) if passed else None,
                "real_train": 0 if key[GROUP_KEYS.index("train_on")] == "synthetic" else rs[0]["counts"]["real_train"],
                "test": rs[0]["counts"]["test"],
                "training": training_signature(rs[0]),
                "steps": sorted({train_steps(r) for r in rs}),
                "notes": " ".join(sorted({n for r in rs for n in r["metrics"].get("notes", [])})),
                "choices": choices(rs[0]),
                **_generation_cells(rs),
            }
        )
        rows.append(row)
        runs.append({r["run"]["seed"]: r for r in rs})

    def shown(row: dict[str, Any]) -> tuple:  # what a table row shows of its identity: all but the options
        return tuple(row[k] for k in GROUP_KEYS if k != "options")

    alike = Counter(map(shown, rows))
    for r in rows:
        r["options_apart"] = alike[shown(r)] > 1
    baseline = {_baseline_key(r): (r, by_seed) for r, by_seed in zip(rows, runs) if r["method"] == "origin"}
    for r, by_seed in zip(rows, runs):
        base, origins = baseline.get(_baseline_key(r), (None, {})) if r["method"] != "origin" else (None, {})
        r["delta"] = results_delta(by_seed, origins)
        r["delta_seeds"] = r["delta"].seeds if r["delta"] else 0
        r["delta_vs_origin"] = r["delta"].mean if r["delta"] else None
        r["origin_steps"] = base["steps"] if r["delta"] and base["steps"] != r["steps"] else None
        r["external"] = external_scores.figures(by_seed, origins)
    return rows


def _sortable(value: Any) -> str:
    """A row identity's value as rows are sorted by: numbers (ratios, counts of pairs) in numeric order."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:016.6f}"
    return str(value)


GENERATION_COLUMNS = {  # row key prefix -> (column, how it is read from results.json)
    "fid": "FID (Inception)",
    "kid": "KID (Inception)",
    "is": "IS (Inception)",
    "fid_unet": "FID-U (paper's U-Net)",
    "is_unet": "IS-U (paper's U-Net)",
    "memorised": "memorised share",
    "copies": "copies (pixel SSIM)",
}


MEMORISATION_SHARES = {"memorised": "share_closer_than_real", "copies": "share_copies"}
"""Table columns read from results.json's ``memorisation`` figures."""


def _metric(r: Results, key: str) -> float | None:
    if key in MEMORISATION_SHARES:
        return (r["metrics"].get("memorisation") or {}).get(MEMORISATION_SHARES[key])
    return r["metrics"].get(key)


def _generation_cells(rs: list[Results]) -> dict[str, Any]:
    """Mean/std over the seeds that computed each generation metric, and why the others did not."""
    out: dict[str, Any] = {}
    for key in GENERATION_COLUMNS:
        values = [v for v in (_metric(r, key) for r in rs) if v is not None]
        out[f"{key}_mean"] = statistics.fmean(values) if values else None
        out[f"{key}_std"] = statistics.pstdev(values) if len(values) > 1 else 0.0 if values else None
        out[f"{key}_runs"] = len(values)
        source = "memorisation" if key in MEMORISATION_SHARES else key
        reasons = sorted({r["unavailable"][source] for r in rs if source in r.get("unavailable", {})})
        out[f"{key}_missing"] = " ".join(reasons)
    return out


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


def training_signature(r: Results) -> str:
    """What the downstream training saw apart from the split: train config, image size, channels, and how masks
    were read when not as stored (a run never pairs with an origin that read them otherwise). How batches mix real
    and generated pairs (``TrainConfig.KEYED_ONLY_IF_NOT``) is left out: origin has no generated pairs to mix."""
    c = r["config"]
    train = c.get("train")
    if isinstance(train, dict):
        train = {k: v for k, v in train.items() if k not in TrainConfig.KEYED_ONLY_IF_NOT}
    reading = r.get("dataset", {}).get("reading")
    return config_hash([train, c.get("image_size"), c.get("channels"), *([reading] if reading else [])])


def method_signature(r: Results) -> str:
    """The method's resolved options: runs of one settings tag made under presets that later changed differ here."""
    return config_hash(r["config"].get("method_options") or {})


def choices(r: Results) -> dict[str, str]:
    """Everything a settings tag can name, resolved and written as the tag writes it: the method's options, the
    number of generated pairs and the downstream training options (``train.*``)."""
    c = r["config"]
    made = {**(c.get("method_options") or {}), "n_synthetic": c.get("n_synthetic")}
    made.update({f"train.{k}": v for k, v in (c.get("train") or {}).items()})
    return {k: tag_value(v) for k, v in made.items()}


def cut_tags(rows: list[dict[str, Any]]) -> list[str]:
    """For settings tags cut short (``...~hash``) that show the same beginning, the options that tell them apart:
    without it two such rows read alike."""
    alike: dict[tuple[str, str], dict[str, dict[str, str]]] = defaultdict(dict)
    for r in rows:
        tag = r["settings"] or ""
        if "~" in tag:
            alike[(r["method"], tag.partition("~")[0])].setdefault(tag, r["choices"])
    lines = []
    for tags in alike.values():
        if len(tags) > 1:
            keys = sorted({k for c in tags.values() for k in c if len({d.get(k) for d in tags.values()}) > 1})
            lines += [
                f"{tag}: " + ", ".join(f"{k}={c.get(k, 'not recorded')}" for k in keys)
                for tag, c in sorted(tags.items())
            ]
    return lines


def train_steps(r: Results) -> int:
    """The downstream model's optimiser steps (recorded, or worked out from the config of runs made before 0.7)."""
    if "train_steps" in r["counts"]:
        return r["counts"]["train_steps"]
    t = r["config"]["train"]
    return t.get("steps") or t["epochs"] * math.ceil(r["counts"]["train_total"] / t["batch_size"])


def _baseline_key(row: dict[str, Any]) -> tuple:
    return tuple(row[k] for k in ("dataset", "preset", "model", "augment", "train_ratio", "train_pairs", "training"))


def split_text(row: dict[str, Any], named: bool = False) -> str:
    """How much of the data set a row trained on: its train ratio (``0.9``, ``named``: ``ratio 0.9``), or its count
    of pairs (``14 pairs``)."""
    if row.get("train_pairs") is not None:
        return f"{row['train_pairs']} pairs"
    return f"ratio {row['train_ratio']:g}" if named else f"{row['train_ratio']:g}"


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


LEGEND = [
    "Dice: per test image at threshold 0.5, averaged; ± is the std over seeds (n runs).",
    "real/syn/test: real / synthetic pairs the downstream network trained on (synthetic: mean over seeds; real "
    "is 0 for --train-on synthetic, although the generator learned from the real split) / test pairs; pass rate: "
    "share of generated pairs that passed the method's own filter (mean over seeds).",
    "settings: what the runs changed from the preset (--tau, --option, --train-option, ...).",
    "Δ vs origin: mean over seeds of Dice minus the origin (no expansion) run with the same seed, "
    "dataset/preset/model/aug/ratio and downstream training settings, each seed's Δ paired image by image on its "
    "test split; only seeds both have are compared (and counted when fewer than n); N/A where there is none. "
    "[95 % CI] and p (two-sided, Δ = 0): paired t-test over the seeds' Δ (df = seeds - 1), since a seed's test "
    "images share its split and trained networks; one seed has no interval. Detectable Δ: the smallest Δ this "
    f"design finds with {POWER:.0%} power at p < 0.05, given the seeds' observed spread (noncentral t).",
    "FID/KID/IS (Inception): pytorch-fid's Inception network on all generated images vs the real training "
    "split (results.json also holds fid_kept / kid_kept for the filtered pairs); FID-U / IS-U: the paper's "
    "metrics on features of a U-Net trained on the real split, not comparable with Inception FID/IS; "
    "memorised share: generated images closer to a training image (Inception cosine distance) than the median "
    "real image is to its nearest other real image; copies: generated images whose pixel SSIM to a training image "
    "exceeds the highest any real training image reaches with another (n/a for runs made before 0.10).",
]


APART = (
    "§: rows alike in every column but made with different method options (a preset that changed between package "
    "versions); results.csv's 'options' column tells them apart"
)


CUT = "settings cut short (~ and a hash of the whole) that begin alike differ in:"


def table_notes(rows: list[dict[str, Any]]) -> list[str]:
    """The legend under a results table, then why cells are marked (†) or missing (n/a), one line per reason."""
    apart = [APART] if any(r.get("options_apart") for r in rows) else []
    cut = cut_tags(rows)
    cut = [CUT, *(f"- {line}" for line in cut)] if cut else []
    external = [external_scores.LEGEND] if external_scores.names(rows) else []
    notes = [*marks(rows), *apart, *cut, *unequal_steps(rows), *missing(rows, tuple(GENERATION_COLUMNS))]
    return [*LEGEND, *external, *notes]


def unequal_steps(rows: list[dict[str, Any]]) -> list[str]:
    """Why Δ cells are marked ‡: the run and its origin trained for different numbers of optimiser steps."""

    def fmt(steps: list[int]) -> str:
        return "/".join(map(str, steps))

    return sorted(
        f"‡: {r['method']} {r['ablation']} ({split_text(r, named=True)}, {r['augment']}) trained {fmt(r['steps'])} "
        f"optimiser steps, its origin {fmt(r['origin_steps'])}: part of the Δ is training length, not data "
        "(--train-option steps=N trains every run N steps)"
        for r in rows
        if r.get("origin_steps")
    )


def marks(rows: list[dict[str, Any]]) -> list[str]:
    """The † notes: a row's own (its Dice on the test split carries the mark) and those of its external-set
    figures (their cells carry it), each once."""
    own = {r["notes"] for r in rows if r.get("notes")}
    external = {f["note"] for r in rows for f in (r.get("external") or {}).values() if f.get("note")}
    return sorted(f"†: {note}" for note in own | external)


def missing(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[str]:
    """Why the rows' generation metrics ``keys`` (of ``GENERATION_COLUMNS``) are n/a, one line per run and reason."""
    columns: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in rows:
        for key in keys:
            if r.get(f"{key}_mean") is None:
                same = columns[(f"{r['method']} {r['ablation']}", r.get(f"{key}_missing") or "not recorded")]
                if GENERATION_COLUMNS[key] not in same:
                    same.append(GENERATION_COLUMNS[key])
    return sorted(f"n/a in {', '.join(cols)} ({who}): {why}" for (who, why), cols in columns.items())


def to_markdown(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of the rows with its legend and notes."""
    external = external_scores.names(rows)
    head = [*HEAD, *external_scores.head(external)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row_cells(r, external)) + " |" for r in rows]
    return "\n".join([*lines, "", *table_notes(rows)]) + "\n"


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        fields = [k for k in rows[0] if k != "delta"]
        w = csv.DictWriter(buf, fieldnames=[*fields, *(k for k in RECORD if k not in fields)])
        w.writeheader()
        for r in rows:
            flat = {k: " ".join(map(str, r[k] or [])) for k in ("steps", "origin_steps", "seeds")}
            flat.update(dice_by_seed=json.dumps(r["dice_by_seed"]), choices=json.dumps(r["choices"], sort_keys=True))
            flat.update(r["delta"].record() if r["delta"] else {})
            flat["external"] = json.dumps(
                {k: {**f, "delta": f["delta"].record() if f["delta"] else None} for k, f in r["external"].items()}
            )
            w.writerow({**{k: v for k, v in r.items() if k != "delta"}, **flat})
    return buf.getvalue()


def collect(root: Path) -> list[dict[str, Any]]:
    """One row per setting from every results.json under ``root``."""
    files = find_results(root)
    if not files:
        raise FileNotFoundError(f"no results.json under {root}")
    return make_rows([load_results(f) for f in files], [str(f.parent) for f in files])


def build(root: Path, out: Path) -> list[Path]:
    """Read every results.json under ``root``; write ``out/results.md`` and ``out/results.csv``."""
    return write(collect(root), out)


def write(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    """Write ``rows`` (:func:`collect`) as ``out/results.md`` and ``out/results.csv``."""
    md, cs = out / "results.md", out / "results.csv"
    write_text(md, to_markdown(rows))
    write_text(cs, to_csv(rows))
    return [md, cs]
