"""Table rows from stored results: one per setting, its seeds aggregated and paired with its origin row.

A row aggregates the seeds of one setting (dataset, preset, method + version, ablation, model, augmentation,
train-on, ratio) as mean ± std (population std over seeds) with n. Settings that differ in preset or method
version never share a row. ``Δ vs origin`` compares with the ``origin`` row of the same dataset, preset,
model, augmentation and ratio, when one exists, so a table states plainly whether expansion helped.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench import external_scores
from bench.config import TrainConfig, config_hash, tag_value
from bench.results import Results, find_results, load_results
from bench.stats import results_delta

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


def training_signature(r: Results) -> str:
    """What the downstream training saw apart from the split: train config, image size, channels, and how masks
    were read when not as stored (a run never pairs with an origin that read them otherwise). How batches mix real
    and generated pairs (``TrainConfig.MIXING_OPTIONS``) is left out: origin has no generated pairs to mix."""
    c = r["config"]
    train = c.get("train")
    if isinstance(train, dict):
        train = {k: v for k, v in train.items() if k not in TrainConfig.MIXING_OPTIONS}
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


def collect(root: Path) -> list[dict[str, Any]]:
    """One row per setting from every results.json under ``root``."""
    files = find_results(root)
    if not files:
        raise FileNotFoundError(f"no results.json under {root}")
    return make_rows([load_results(f) for f in files], [str(f.parent) for f in files])
