"""The results table's external test set columns and its rows of counts of training pairs, from fabricated results."""

import json

import pytest
from rich.console import Console

from bench import external_scores, report
from bench.cli.tables import print_results
from bench.results import SCHEMA_VERSION


def _result(method, seed, dice, pairs=None, external=None):
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "method": method,
            "ablation": "none" if method == "origin" else "cf+cg+cs",
            "dataset": "montgomery",
            "model": "unet",
            "seed": seed,
            "train_ratio": None if pairs else 0.9,
            **({"train_pairs": pairs} if pairs else {}),
            "augment": "none",
            "train_on": "real" if method == "origin" else "real+synthetic",
            "preset": "cpu",
            "key": "k",
            "settings": "",
        },
        "config": {"train": {"epochs": 20, "steps": 320, "batch_size": 16}, "image_size": 64, "channels": 1},
        "dataset": {"synthetic": False},
        "versions": {"method": "1"},
        "method_stats": {},
        "timings": {},
        "unavailable": {},
        "metrics": {
            "dice": dice,
            "dice_std": 0.0,
            "dice_per_image": {},
            **({"external": external} if external else {}),
        },
        "counts": {"real_train": pairs or 124, "test": 14, "train_steps": 320},
    }


def _on(name, dice):
    return {name: {"dice": dice, "dice_std": 0.01, "dice_per_image": {}, "n": 566}}


def test_external_sets_get_a_column_each_with_the_delta_paired_on_that_set():
    results = [
        _result("origin", 0, 0.90, external=_on("shenzhen", 0.80)),
        _result("origin", 1, 0.92, external=_on("shenzhen", 0.82)),
        _result("diffuseexpand", 0, 0.91, external=_on("shenzhen", 0.83)),
        _result("diffuseexpand", 1, 0.93, external=_on("shenzhen", 0.86)),
        _result("diffuseexpand", 2, 0.93),  # not scored on it: its column says 2 of 3 seeds
    ]
    rows = report.make_rows(results)
    method = next(r for r in rows if r["method"] == "diffuseexpand")
    figures = method["external"]["shenzhen"]
    assert figures["mean"] == pytest.approx(0.845) and figures["runs"] == 2 and figures["images"] == 566
    assert figures["delta"].mean == pytest.approx(0.035) and figures["delta"].seeds == 2
    assert external_scores.cell(method, "shenzhen").startswith("0.8450 ± 0.0150 (2 of 3 seeds), Δ +0.0350")
    md = report.to_markdown(rows)
    assert "| Dice on shenzhen (external) |" in md.splitlines()[0] and external_scores.LEGEND in md
    origin = next(r for r in rows if r["method"] == "origin")
    assert external_scores.cell(origin, "shenzhen") == "0.8100 ± 0.0100"
    flat = report.to_csv(rows)
    assert '""shenzhen"": {""mean"": 0.845' in flat

    console = Console(width=80, record=True)
    print_results(rows, console)
    text = console.export_text()
    assert "external test sets" in text and "Dice on shenzhen" in text and "0.8450 ± 0.0150" in text


def test_runs_of_counts_of_pairs_are_rows_of_their_own_paired_with_origin_at_that_count():
    results = [_result("origin", 0, 0.70, pairs=9), _result("diffuseexpand", 0, 0.75, pairs=9)]
    results += [_result("origin", 0, 0.90), _result("diffuseexpand", 0, 0.91), _result("origin", 0, 0.8, pairs=14)]
    rows = report.make_rows(results)
    assert [(r["method"], r["train_pairs"], r["train_ratio"]) for r in rows] == [
        ("diffuseexpand", None, 0.9),
        ("diffuseexpand", 9, None),
        ("origin", None, 0.9),
        ("origin", 9, None),
        ("origin", 14, None),
    ]
    assert [round(r["delta_vs_origin"], 4) for r in rows if r["method"] != "origin"] == [0.01, 0.05]
    assert report.row_cells(rows[1])[report.HEAD.index("ratio")] == "9 pairs"
    assert "external" not in json.dumps(report.HEAD)
    console = Console(width=80, record=True)
    print_results(rows, console)
    assert "9 pairs" in console.export_text()


def test_a_row_scored_on_two_versions_of_an_external_set_says_so_and_pairs_only_alike_seeds():
    """Seed 1 was scored on shenzhen after its pairs changed (another fingerprint), its origin before: the row's
    mean mixes the two versions, said and marked, and its Δ pairs seed 0 only."""

    def on(dice, fingerprint):
        return {"shenzhen": {**_on("shenzhen", dice)["shenzhen"], "fingerprint": fingerprint}}

    results = [
        _result("origin", 0, 0.90, external=on(0.80, "v1")),
        _result("origin", 1, 0.92, external=on(0.40, "v1")),
        _result("diffuseexpand", 0, 0.91, external=on(0.83, "v1")),
        _result("diffuseexpand", 1, 0.93, external=on(0.86, "v2")),
    ]
    method = next(r for r in report.make_rows(results) if r["method"] == "diffuseexpand")
    figures = method["external"]["shenzhen"]
    assert figures["delta"].seeds == 1 and figures["delta"].mean == pytest.approx(0.03)
    assert figures["note"] == (
        "the mean on shenzhen mixes 2 versions of the set (its pairs changed between runs); Δ on shenzhen leaves out "
        "seed 1, whose origin was scored on another version of it; run them again with --test-set shenzhen"
    )
    assert external_scores.cell(method, "shenzhen").startswith("0.8450 ± 0.0150 †, Δ +0.0300")
    md = report.to_markdown(report.make_rows(results))
    assert f"†: {figures['note']}" in md
    assert "0.9200 ± 0.0100 |" in md and "0.9200 ± 0.0100 †" not in md  # the test split's Dice is not marked
    origin = next(r for r in report.make_rows(results) if r["method"] == "origin")
    assert "note" not in origin["external"]["shenzhen"] and not origin["notes"]
