"""What goes under a results table: the legend, then why cells are marked (†, ‡, §) or missing (n/a)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bench import external_scores
from bench.report.rows import GENERATION_COLUMNS, split_text
from bench.stats import POWER

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
