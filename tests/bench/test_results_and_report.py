import json

import pytest

from bench import report
from bench.results import REQUIRED_KEYS, SCHEMA_VERSION, validate


def _result(method, seed, dice, model="unet", synthetic=False, kept=0, settings="", epochs=20):
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "method": method,
            "ablation": "none" if method == "origin" else "cf+cg+cs",
            "dataset": "demo",
            "model": model,
            "seed": seed,
            "train_ratio": 0.9,
            "augment": "none",
            "train_on": "real" if method == "origin" else "real+synthetic",
            "preset": "cpu",
            "key": "k",
            "settings": settings,
        },
        "config": {"train": {"epochs": epochs}, "image_size": 64, "channels": 1},
        "dataset": {"synthetic": synthetic},
        "versions": {"method": "1"},
        "git_hash": None,
        "date": "2026-01-01",
        "environment": {},
        "tracking": {},
        "unavailable": {},
        "method_stats": {} if method == "origin" else {"pass_rate": kept / 10},
        "timings": {},
        "metrics": {"dice": dice, "dice_std": 0.0, "dice_per_image": {}},
        "counts": {"real_train": 10, "test": 2, "synthetic_kept": kept, "synthetic_relabelled": 0},
    }


def test_validate_rejects_missing_keys_and_other_versions():
    r = _result("origin", 0, 0.9)
    assert validate(r)
    with pytest.raises(ValueError, match="missing keys"):
        validate({k: v for k, v in r.items() if k != "metrics"})
    with pytest.raises(ValueError, match="schema_version"):
        validate(r | {"schema_version": SCHEMA_VERSION + 1})
    assert set(REQUIRED_KEYS) == set(r)


def test_rows_aggregate_seeds_and_compare_with_origin():
    rs = [
        _result("origin", 0, 0.90),
        _result("origin", 1, 0.92),
        _result("diffuseexpand", 0, 0.88, kept=5),
        _result("diffuseexpand", 1, 0.86, kept=7),
    ]
    rows = {r["method"]: r for r in report.make_rows(rs)}
    assert rows["origin"]["n"] == 2 and rows["origin"]["dice_mean"] == pytest.approx(0.91)
    assert rows["origin"]["dice_std"] == pytest.approx(0.01)
    assert rows["diffuseexpand"]["synthetic_used"] == pytest.approx(6)
    assert rows["diffuseexpand"]["pass_rate"] == pytest.approx(0.6) and rows["origin"]["pass_rate"] is None
    # expansion hurt here, and the table must say so
    assert rows["diffuseexpand"]["delta_vs_origin"] == pytest.approx(-0.04)
    assert rows["origin"]["delta_vs_origin"] is None
    md = report.to_markdown(report.make_rows(rs))
    assert "-0.040" in md and "0.9100 ± 0.0100" in md and "| 10/6/2 | 0.60 |" in md


def test_settings_keep_rows_apart_and_baseline_needs_the_same_training():
    rs = [
        _result("origin", 0, 0.90),
        _result("origin", 0, 0.95, settings="train.epochs=40", epochs=40),
        _result("diffuseexpand", 0, 0.91, settings="tau=0.5"),
        _result("diffuseexpand", 0, 0.93, settings="tau=0.333333"),
        _result("diffuseexpand", 0, 0.96, settings="tau=0.5,train.epochs=40", epochs=40),
    ]
    rows = {(r["method"], r["settings"]): r for r in report.make_rows(rs)}
    assert len(rows) == 5
    assert rows["diffuseexpand", "tau=0.5"]["delta_vs_origin"] == pytest.approx(0.01)
    assert rows["diffuseexpand", "tau=0.333333"]["delta_vs_origin"] == pytest.approx(0.03)
    assert rows["diffuseexpand", "tau=0.5,train.epochs=40"]["delta_vs_origin"] == pytest.approx(0.01)
    assert "| tau=0.5 |" in report.to_markdown(list(rows.values()))


def test_delta_is_paired_by_seed_and_says_when_seeds_are_missing():
    rs = [_result("origin", 0, 0.90), _result("origin", 1, 0.80)]
    rs += [_result("diffuseexpand", s, d) for s, d in ((0, 0.91), (1, 0.82), (2, 0.99))]
    rows = {r["method"]: r for r in report.make_rows(rs)}
    # paired over seeds 0 and 1 only: (0.01 + 0.02) / 2, not 0.9067 - 0.85
    assert rows["diffuseexpand"]["delta_vs_origin"] == pytest.approx(0.015)
    assert "+0.015 (2 of 3 seeds)" in report.to_markdown(list(rows.values()))


def test_cells_say_what_was_trained_on_and_one_run_has_no_spread():
    """A synthetic-only row trained on no real pair; one seed shows ``n = 1``, not a ``± 0`` that looks measured."""
    only = _result("synthmed", 0, 0.85, kept=8)
    only["run"]["train_on"] = "synthetic"
    md = report.to_markdown(report.make_rows([only]))
    assert "| 0/8/2 |" in md and "0.8500 (n = 1)" in md and "± 0.0000" not in md


def test_synthetic_dataset_is_labelled_and_missing_baseline_is_na():
    md = report.to_markdown(report.make_rows([_result("diffuseexpand", 0, 0.8, synthetic=True)]))
    assert "demo (synthetic phantom)" in md
    assert "| N/A |" in md


def test_build_writes_markdown_and_csv(tmp_path):
    for i, r in enumerate([_result("origin", 0, 0.9), _result("origin", 1, 0.8)]):
        d = tmp_path / "runs" / f"r{i}"
        d.mkdir(parents=True)
        (d / "results.json").write_text(json.dumps(r))
    md, csv = report.build(tmp_path / "runs", tmp_path / "rep")
    assert "0.8500 ± 0.0500" in md.read_text()
    assert csv.read_text().count("\n") == 2
    with pytest.raises(FileNotFoundError):
        report.build(tmp_path / "empty", tmp_path / "rep2")
