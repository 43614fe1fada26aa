import io
import json
import re

import pytest
from cli_checks import assert_refused, invoke
from rich.console import Console

from bench import report
from bench.cli.tables import results_tables
from bench.results import REQUIRED_KEYS, SCHEMA_VERSION, load_results, validate


def _result(method, seed, dice, model="unet", synthetic=False, kept=0, settings="", epochs=20, steps=0):
    """A results.json record of a run made before 0.7: its optimiser steps follow from its config and counts."""
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
        "config": {"train": {"epochs": epochs, "steps": steps, "batch_size": 16}, "image_size": 64, "channels": 1},
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
        "counts": {
            "real_train": 10,
            "test": 2,
            "synthetic_kept": kept,
            "synthetic_relabelled": 0,
            "train_total": 10 + kept,
        },
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


def test_runs_of_one_settings_tag_under_different_presets_are_shown_apart():
    """A preset that changed between versions gives runs the same settings tag but other options: never one row."""
    old, new = (_result("diffuseexpand", s, d) for s, d in ((0, 0.91), (1, 0.80)))
    old["config"]["method_options"] = {"guidance_scale": 0.1}
    new["config"]["method_options"] = {"guidance_scale": 0.05}
    rows = report.make_rows([_result("origin", 0, 0.90), old, new])
    apart = [r for r in rows if r["method"] == "diffuseexpand"]
    assert len(apart) == 2 and all(r["options_apart"] and r["n"] == 1 for r in apart)
    md = report.to_markdown(rows)
    assert md.count("| preset § |") == 2 and report.APART in md
    new["config"]["method_options"] = {"guidance_scale": 0.1}
    rows = report.make_rows([_result("origin", 0, 0.90), old, new])
    assert [r["n"] for r in rows if r["method"] == "diffuseexpand"] == [2]
    assert report.APART not in report.to_markdown(rows)


def test_settings_cut_short_alike_are_told_apart_under_the_table():
    """Two tags cut to the same 60 characters read alike; the notes name the options that differ, paths as the tags
    write them (a name and a hash, never the folder)."""
    head = "cf_weight=1,cfg_dropout=0.1,dynamic_thresholding=False,pretr"
    runs = [_result("diffuseexpand", 0, d, settings=f"{head}~{h}") for d, h in ((0.91, "aaa"), (0.92, "bbb"))]
    for r, folder, steps in zip(runs, ("a", "b"), (10, 30)):
        r["config"]["method_options"] = {"pretrained": f"/home/me/{folder}/lungs", "sampling_steps": steps, "tau": 1.0}
    md = report.to_markdown(report.make_rows([_result("origin", 0, 0.90), *runs]))
    assert report.CUT in md and "/home/me" not in md and "tau=" not in md
    assert re.search(rf"- {head}~aaa: pretrained=lungs-[0-9a-f]{{6}}, sampling_steps=10\n", md)
    assert re.search(rf"- {head}~bbb: pretrained=lungs-[0-9a-f]{{6}}, sampling_steps=30\n", md)
    runs[1]["run"]["settings"] = "n_synthetic=40"
    rows = report.make_rows(runs)
    assert report.CUT not in report.to_markdown(rows)
    assert '""sampling_steps"": ""10""' in report.to_csv(rows)


def test_delta_is_paired_by_seed_and_says_when_seeds_are_missing():
    rs = [_result("origin", 0, 0.90), _result("origin", 1, 0.80)]
    rs += [_result("diffuseexpand", s, d) for s, d in ((0, 0.91), (1, 0.82), (2, 0.99))]
    rows = {r["method"]: r for r in report.make_rows(rs)}
    # paired over seeds 0 and 1 only: (0.01 + 0.02) / 2, not 0.9067 - 0.85
    assert rows["diffuseexpand"]["delta_vs_origin"] == pytest.approx(0.015)
    d = rows["diffuseexpand"]["delta"]
    assert (d.seeds, d.low, d.high) == (2, pytest.approx(-0.0485, abs=1e-4), pytest.approx(0.0785, abs=1e-4))
    assert "| +0.0150 [-0.0485, +0.0785] p=0.20 (2 of 3 seeds) | 0.0817 |" in report.to_markdown(list(rows.values()))


def test_two_different_runs_of_one_seed_in_a_row_are_refused_naming_both_and_one_read_twice_counts_once(tmp_path):
    """Before, the row averaged both as two seeds (n 3 from seeds 0, 0, 1) and paired only the last with origin."""
    rs = [_result("origin", 0, 0.90), _result("origin", 1, 0.80), _result("diffuseexpand", 1, 0.82)]
    again = json.loads(json.dumps(rs[2]))  # the same run read twice (an equal copy): one seed
    rows = {r["method"]: r for r in report.make_rows([*rs, again])}
    assert rows["diffuseexpand"]["n"] == 1 and rows["diffuseexpand"]["seeds"] == [1]
    runs = tmp_path / "runs"
    for folder, r in (("a", rs[0]), ("b", rs[1]), ("copy/b", _result("origin", 1, 0.70))):
        (runs / folder).mkdir(parents=True)
        (runs / folder / "results.json").write_text(json.dumps(r))
    row = r"^demo, cpu, origin v1 none \(preset\), unet, augment none, real, ratio 0.9: "
    with pytest.raises(ValueError, match=row + "two different runs of seed 1"):
        report.collect(runs)
    out = tmp_path / "report"
    res = invoke("report", "results", "--runs", runs, "--out", out)
    error = assert_refused(res, "two different runs of seed 1", "move one of them", out=out)
    assert f"({runs / 'b'}, {runs / 'copy' / 'b'})" in error
    with pytest.raises(ValueError, match=r"seed 1 \(dated 2026-01-01, dated 2026-01-01\)"):
        report.make_rows([rs[1], _result("origin", 1, 0.70)])


def test_a_delta_between_unequal_training_lengths_is_marked_and_explained():
    """By epochs, 10 real + 120 synthetic pairs train 9 times longer than 10 real ones: the Δ says so."""
    rs = [_result("origin", 0, 0.60), _result("diffuseexpand", 0, 0.90, kept=120)]
    rows = {r["method"]: r for r in report.make_rows(rs)}
    assert rows["origin"]["steps"] == [20] and rows["diffuseexpand"]["steps"] == [9 * 20]
    md = report.to_markdown(list(rows.values()))
    assert "+0.3000, 1 seed, no interval ‡" in md
    assert "trained 180 optimiser steps, its origin 20: part of the Δ is training length" in md
    fixed = [_result("origin", 0, 0.85, steps=320), _result("diffuseexpand", 0, 0.90, kept=120, steps=320)]
    md = report.to_markdown(report.make_rows(fixed))
    assert "+0.0500, 1 seed, no interval | n/a (1 seed) |" in md and "‡" not in md
    recorded = _result("diffuseexpand", 0, 0.9, kept=120)
    recorded["counts"]["train_steps"] = 77  # what the run recorded wins over what its config implies
    assert report.train_steps(recorded) == 77


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


def test_a_truncated_results_json_among_many_is_named_by_its_path(tmp_path):
    """One bad file among hundreds must be findable: every message names it, whichever command reads it."""
    runs = tmp_path / "runs"
    for i, r in enumerate([_result("origin", 0, 0.9), _result("origin", 1, 0.8), _result("origin", 2, 0.7)]):
        (runs / f"r{i}").mkdir(parents=True)
        (runs / f"r{i}" / "results.json").write_text(json.dumps(r))
    bad = runs / "r1" / "results.json"
    bad.write_text(bad.read_text()[:24])
    with pytest.raises(ValueError, match=f"^{re.escape(str(bad))}: not valid JSON \\(Unterminated string"):
        load_results(bad)
    for kind in ("results", "table1"):
        assert_refused(invoke("report", kind, "--runs", runs, "--out", tmp_path / kind), str(bad), "not valid JSON")
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match=f"^{re.escape(str(bad))}: not a JSON object$"):
        load_results(bad)


def test_the_run_table_fits_80_columns_and_never_splits_a_run_name():
    """`bench run` ends with this table in terminals and log files 80 columns wide: each run name stays whole on
    one line, long settings wrap at their commas, and the legend is a few lines (results.md holds the full one)."""
    settings = "denoiser_steps=2000,guidance_every=3,solver_order=2,tau=0.333333"
    rs = []
    for model in ("unet", "attnunet", "transunet"):
        run = dict(model=model, steps=320)
        rs += [_result("origin", s, 0.9 + s / 100, **run) for s in range(2)]  # Δ over 2 of 3 seeds
        rs += [_result("synthmed", s, 0.91, kept=8, **run) for s in range(3)]
        rs += [_result("diffuseexpand", s, 0.93, kept=9, settings=settings, **run) for s in range(3)]
    for r in rs:
        r["counts"] |= {"real_train": 124, "test": 14}
        if r["run"]["method"] != "origin":
            r["metrics"] |= {
                "fid": 1392.1 + r["run"]["seed"],
                "memorisation": {"share_closer_than_real": 0.069, "share_copies": 0.2},
            }
    rows = report.make_rows(rs)
    parts, notes = results_tables(rows)
    console = Console(width=80, file=io.StringIO())
    for part in parts:
        console.print(part)
    text = console.file.getvalue()
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80 and "…" not in text
    for name, shown in (("origin none", 3), ("synthmed cf+cg+cs", 6), ("diffuseexpand cf+cg+cs", 6)):
        assert sum(line.count(name) for line in lines) == shown, text  # in the Dice table, then the generated one
    assert "[denoiser_steps=2000," in text and "tau=0.333333]" in text
    (origin_unet,) = [line for line in lines if line.startswith("origin none") and " unet " in line]
    assert "124/0/14" in origin_unet and "0.9050 ± 0.0050" in origin_unet
    assert any("+0.005" in line for line in lines) and any("1393.1 ± 0.8" in line for line in lines)
    assert sum(line.rstrip().endswith("[-0.059, +0.069]") for line in lines) == 3
    assert sum(line.rstrip().endswith("(2 of 3 seeds)") for line in lines) == 6
    assert sum(line.rstrip().endswith("detectable 0.082") for line in lines) == 6
    assert "memorised /" in text and sum("0.07 / 0.20" in line for line in lines) == 6
    legend, why = notes[:4], notes[4:]
    assert all(len(line) < 200 for line in legend) and "results.md" in legend[-1]
    assert why == [
        f"n/a in FID-U (paper's U-Net) ({name} cf+cg+cs): not recorded" for name in ("diffuseexpand", "synthmed")
    ]


def test_report_prints_the_80_column_tables_and_writes_every_column(tmp_path, monkeypatch):
    """`bench report` shows the same short tables as `bench run`; the 20-column table and full legend go to files."""
    monkeypatch.setenv("COLUMNS", "80")
    runs = tmp_path / "runs"
    settings = "denoiser_steps=2000,guidance_every=3,solver_order=2,tau=0.333333"
    rs = [_result("origin", s, 0.9 + s / 100) for s in range(3)]
    rs += [_result("diffuseexpand", s, 0.93, kept=9, settings=settings) for s in range(3)]
    for i, r in enumerate(rs):
        (runs / f"r{i}").mkdir(parents=True)
        (runs / f"r{i}" / "results.json").write_text(json.dumps(r))
    res = invoke("report", "--runs", runs, "--out", tmp_path / "rep")
    assert res.exit_code == 0, res.output
    lines = [line for line in res.output.splitlines() if not line.startswith("written: ")]  # paths run on
    assert max(map(len, lines)) <= 80, res.output
    assert any(line.startswith("diffuseexpand cf+cg+cs") and "+0.020" in line for line in lines), res.output
    md = (tmp_path / "rep" / "results.md").read_text()
    assert "| memorised share |" in md and "FID/KID/IS (Inception): pytorch-fid" in md
    assert "FID/KID/IS (Inception): pytorch-fid" not in res.output
    words = " ".join(res.output.split())  # the ‡ note wraps at words
    assert "‡: diffuseexpand cf+cg+cs (ratio 0.9, none) trained 40 optimiser steps, its origin 20" in words
