"""Which origin run a method run's Δ is paired with: the one that read the masks alike and trained on the same
real pairs, never another that merely shares the setting's name."""

import json

import pytest
from stored_runs import fake_run

from bench import report
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
