"""External test sets' Dice as tables show it (:mod:`bench.testsets`): one row's runs aggregated per set over seeds,
the paired Δ vs origin on that set, and the cells, one column per set, after the in-domain Dice."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

from bench.stats import results_delta, set_version

LEGEND = (
    "Dice on <set> (external): the same scorer on every pair of an external test set (--test-set), which no stage "
    "saw; mean ± std over seeds, then Δ vs the origin run of the same seed on that set"
)


def figures(runs: Mapping[int, Mapping[str, Any]], origins: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """``{set: {"mean", "std", "runs", "images", "delta"}}`` of one row's runs (seed -> results.json dict) on each
    external set any of them was scored on; ``delta`` is a :class:`bench.stats.PairedDelta` or None. A set scored
    while it held other pairs (another recorded fingerprint: :func:`bench.stats.set_version`) in some of the row's
    runs, or in the origin run of a seed, which its Δ then leaves out, also has a ``note`` saying so."""
    names = sorted({name for r in runs.values() for name in (r["metrics"].get("external") or {})})
    out = {}
    for name in names:
        scored = {seed: s for seed, r in runs.items() if (s := (r["metrics"].get("external") or {}).get(name))}
        dice = [s["dice"] for s in scored.values()]
        out[name] = {
            "mean": statistics.fmean(dice),
            "std": statistics.pstdev(dice) if len(dice) > 1 else 0.0,
            "runs": len(dice),
            "images": next(iter(scored.values()))["n"],
            "delta": results_delta(runs, origins, name) if origins else None,
        }
        if note := _versions_note(name, {seed: runs[seed] for seed in scored}, origins):
            out[name]["note"] = note
    return out


def _versions_note(
    name: str, runs: Mapping[int, Mapping[str, Any]], origins: Mapping[int, Mapping[str, Any]]
) -> str | None:
    """What a row's figures on ``name`` mix or leave out for its pairs having changed between runs; None if nothing."""
    versions = {set_version(r, name) for r in runs.values()}
    apart = [
        s
        for s, r in sorted(runs.items())
        if s in origins
        and name in (origins[s]["metrics"].get("external") or {})
        and set_version(r, name) != set_version(origins[s], name)
    ]
    said = []
    if len(versions) > 1:
        said.append(f"the mean on {name} mixes {len(versions)} versions of the set (its pairs changed between runs)")
    if apart:
        seeds = " ".join(map(str, apart))
        said.append(f"Δ on {name} leaves out seed {seeds}, whose origin was scored on another version of it")
    return "; ".join(said) + "; run them again with --test-set " + name if said else None


def names(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every external set the rows hold, sorted: one column each."""
    return sorted({name for r in rows for name in r.get("external") or {}})


def head(sets: list[str]) -> list[str]:
    return [f"Dice on {name} (external)" for name in sets]


def cell(row: Mapping[str, Any], name: str) -> str:
    """``mean ± std`` (``(n = 1)`` for one seed) and ``(k of n seeds)`` when some lack the set, ``†`` where its
    figures have a ``note`` (the row's notes say it), then its Δ vs origin; ``—`` for a row not scored on it."""
    f = (row.get("external") or {}).get(name)
    if f is None:
        return "—"
    text = f"{f['mean']:.4f} ± {f['std']:.4f}" if f["runs"] > 1 else f"{f['mean']:.4f} (n = 1)"
    if f["runs"] != row["n"]:
        text += f" ({f['runs']} of {row['n']} seeds)"
    if f.get("note"):
        text += " †"
    return text + (f", Δ {f['delta'].text()}" if f["delta"] is not None else "")
