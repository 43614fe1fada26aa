"""Which origin run a method run's Δ is paired with: the one that read the masks alike and trained on the same
real pairs, never another that merely shares the setting's name."""

import json

import pytest
from stored_runs import csv_rows, fake_run, md_row, scored_on

from bench import report
from bench.artifacts import build_artifact
from bench.results import load_results


def test_a_run_pairs_only_with_the_origin_that_read_its_masks_alike_and_trained_on_its_split(tmp_path):
    for seed, (own, other, method) in enumerate([(0.80, 0.50, 0.82), (0.81, 0.52, 0.84), (0.79, 0.49, 0.80)]):
        fake_run(tmp_path, "origin", seed, own)
        moved = fake_run(tmp_path, "origin", seed, other, settings="mask_threshold=127")
        r = json.loads((moved / "results.json").read_text())
        r["dataset"]["reading"] = "mask_threshold=127"
        (moved / "results.json").write_text(json.dumps(r))
        fake_run(tmp_path, "diffuseexpand", seed, method)
    rows = report.make_rows([load_results(p) for p in sorted(tmp_path.rglob("results.json"))])
    (row,) = [r for r in rows if r["method"] == "diffuseexpand"]
    assert row["delta"].mean == pytest.approx(0.02, abs=1e-9) and row["delta"].seeds == 3

    # a seed whose origin trained on other real pairs (another split fingerprint) is left out of the pairing
    for f in sorted(tmp_path.rglob("results.json")):
        r = json.loads(f.read_text())
        r["dataset"]["fingerprint"] = f"{r['run']['seed']}-{r['run']['method']}" if r["run"]["seed"] == 2 else "same"
        f.write_text(json.dumps(r))
    rows = report.make_rows([load_results(p) for p in sorted(tmp_path.rglob("results.json"))])
    (row,) = [r for r in rows if r["method"] == "diffuseexpand"]
    assert row["delta"].seeds == 2 and row["delta"].mean == pytest.approx(0.025, abs=1e-9)


def _rows(runs):
    return report.make_rows([load_results(p) for p in sorted(runs.rglob("results.json"))])


def test_the_tables_and_bench_report_leave_out_alike_a_seed_whose_origin_trained_on_other_real_pairs(tmp_path):
    """Seed 1's origin trained on other real pairs (another recorded training-data fingerprint): table1 and
    ``bench report`` both pair seeds 0 and 2 only (Δ +0.02, not the +0.18 seed 1 would pull it to), and the table
    says why."""
    runs = tmp_path / "runs"
    for seed, gain in ((0, 0.01), (1, 0.50), (2, 0.03)):
        fake_run(runs, "origin", seed, 0.40, fingerprint="other" if seed == 1 else f"split{seed}")
        fake_run(runs, "diffuseexpand", seed, 0.40 + gain, fingerprint=f"split{seed}")
    art = build_artifact("table1", runs, tmp_path / "out")
    (row,) = [r for r in csv_rows(art.files[1]) if (r["row"], r["column"]) == ("Dice↑", "CF+CG+CS τ=1")]
    assert float(row["delta_vs_origin"]) == pytest.approx(0.02) and row["delta_seeds"] == "2"
    assert any("Δ leaves out seed 1, whose origin run trained on other real pairs" in n for n in art.notes)
    (method,) = [r for r in _rows(runs) if r["method"] == "diffuseexpand"]
    assert method["delta"].mean == pytest.approx(float(row["delta_vs_origin"])) and method["delta"].seeds == 2


def test_no_delta_pairs_two_versions_of_an_external_set(tmp_path):
    """Origin scored on jsrt as it was (fingerprint old), synthmed after a mask in it was fixed (new): no Δ on jsrt in
    table2 nor in ``bench report`` (it would read +0.4000), and both say why."""
    runs = tmp_path / "runs"
    for seed in (0, 1):
        fake_run(runs, "origin", seed, 0.93, metrics=scored_on("jsrt", {"a": 0.5, "b": 0.5}, "old"))
        scored = scored_on("jsrt", {"a": 0.9, "b": 0.9}, "new")
        fake_run(runs, "synthmed", seed, 0.56, ablation="dual", train_on="synthetic", metrics=scored)
    art = build_artifact("table2", runs, tmp_path / "out")
    md = art.files[0].read_text()
    col = md_row(md, ["Method"]).index("montgomery_lung, cpu: UNet Dice on jsrt↑")
    assert md_row(md, ["synthmed (dual)"])[col] == "0.9000 ± 0.0000"
    where = "montgomery_lung, cpu, synthmed (dual), UNet, on jsrt"
    assert f"{where}: Δ leaves out seed 0 1, whose origin run was scored on another version of the test set" in md
    assert f"{where}: no Δ, no seed pairs with its origin run" in art.notes
    (synthmed,) = [r for r in _rows(runs) if r["method"] == "synthmed"]
    assert synthmed["external"]["jsrt"]["delta"] is None
    left_out = "Δ on jsrt leaves out seed 0 1, whose origin was scored on another version"
    assert left_out in synthmed["external"]["jsrt"]["note"]

    # older runs that recorded no fingerprint of the set pair only with origins that recorded none either
    for f in sorted(runs.rglob("results.json")):
        r = json.loads(f.read_text())
        del r["metrics"]["external"]["jsrt"]["fingerprint"]
        f.write_text(json.dumps(r))
    art = build_artifact("table2", runs, tmp_path / "older")
    assert "(+0.4000, no spread over seeds" in md_row(art.files[0].read_text(), ["synthmed (dual)"])[col]
    for f in sorted(runs.rglob("origin__*/**/results.json")):
        r = json.loads(f.read_text())
        r["metrics"]["external"]["jsrt"]["fingerprint"] = "new"
        f.write_text(json.dumps(r))
    art = build_artifact("table2", runs, tmp_path / "mixed")
    assert md_row(art.files[0].read_text(), ["synthmed (dual)"])[col] == "0.9000 ± 0.0000"
    assert [r for r in _rows(runs) if r["method"] == "synthmed"][0]["external"]["jsrt"]["delta"] is None


def test_a_cell_of_runs_scored_on_two_versions_of_an_external_set_is_refused(tmp_path):
    """Seed 1 was scored on shenzhen after its pairs changed: its mean would average two versions of the set, so
    table1 refuses, naming both fingerprints and the runs, and writes nothing; `bench report` keeps the row, noted."""
    runs = tmp_path / "runs"
    for seed in (0, 1):
        fake_run(runs, "origin", seed, 0.90, metrics=scored_on("shenzhen", {"a": 0.7}, "v1"))
        fake_run(runs, "diffuseexpand", seed, 0.91, metrics=scored_on("shenzhen", {"a": 0.8}, f"v{seed + 1}"))
    with pytest.raises(ValueError, match="scored on shenzhen while it held different pairs") as err:
        build_artifact("table1", runs, tmp_path / "out")
    assert "fingerprint v1: " in str(err.value) and "fingerprint v2: " in str(err.value)
    assert "seed_1" in str(err.value) and not (tmp_path / "out").exists()
    (method,) = [r for r in _rows(runs) if r["method"] == "diffuseexpand"]
    note = method["external"]["shenzhen"]["note"]
    assert "the mean on shenzhen mixes 2 versions of the set" in note
    assert method["external"]["shenzhen"]["delta"].seeds == 1  # seed 1's origin was scored on v1, it on v2
    assert "Δ on shenzhen leaves out seed 1," in note
    assert not method["notes"]  # the Dice on the test split is not concerned: no † on it
