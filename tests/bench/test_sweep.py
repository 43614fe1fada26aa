"""Sweeps: which runs each artifact needs, what a dry run says, and an in-process sweep that draws its curves."""

import csv
from pathlib import Path

import pytest
from cli_checks import assert_refused, invoke
from PIL import Image
from synthetic_pairs import disc_folder

from bench import sweep as sw
from bench.runner import Request
from methods import METHODS

pytestmark = pytest.mark.heavy(120)


def _runs(name, seeds=(0,), **kw):
    return sw.build_sweep(name, Request(dataset="demo", seeds=seeds, models=()), **kw)


def _shape(run):
    r = run.request
    return (r.method, r.ablation, r.augment, r.train_on, r.train_ratio, tuple(sorted(r.method_options.items())))


def test_table1_has_origin_cf_and_both_guided_variants_at_three_temperatures_per_augmentation():
    sweep = _runs("table1", seeds=(0, 1))
    assert len(sweep.runs) == 2 * 3 * 8 and not sweep.missing
    first_seed = [_shape(r) for r in sweep.runs if r.request.seeds == (0,)]
    assert len(set(first_seed)) == 24
    for aug in ("none", "randaugment", "cutmix"):
        assert ("origin", None, aug, "real", 0.9, ()) in first_seed
        assert ("diffuseexpand", "cf", aug, "real+synthetic", 0.9, ()) in first_seed
        for ablation in ("cf+cg", "cf+cg+cs"):
            taus = sorted(dict(s[5])["tau"] for s in first_seed if s[1] == ablation and s[2] == aug)
            assert taus == pytest.approx([1 / 3, 1 / 2, 1])
    assert {r.request.models for r in sweep.runs} == {("unet",)}
    assert [r.request.seeds for r in sweep.runs[:24]] == [(0,)] * 24  # seed-major


def test_without_seeds_the_fewshot_sweep_runs_five_and_the_tables_the_papers_three():
    """Small splits vary most by seed: the few-shot curves' paired Δ gets 5 seeds unless --seeds says otherwise."""
    seeds = {name: sorted({r.request.seeds[0] for r in _runs(name, seeds=()).runs}) for name in ("fewshot", "table1")}
    assert seeds == {"fewshot": [0, 1, 2, 3, 4], "table1": [0, 1, 2]}
    assert {r.request.seeds for r in _runs("fewshot", seeds=(7,)).runs} == {(7,)}


def test_table2_trains_every_generator_on_synthetic_pairs_only_with_three_models_and_origin_for_delta():
    sweep = _runs("table2")
    shapes = {(r.request.method, r.request.ablation, r.request.train_on) for r in sweep.runs}
    assert shapes == {
        ("origin", None, "real"),
        ("synthmed", None, "synthetic"),
        ("xlsor", None, "synthetic"),
        ("joint", None, "synthetic"),
        ("diffuseexpand", "cf+cg+cs", "synthetic"),
    }
    assert {r.request.models for r in sweep.runs} == {("unet", "attnunet", "transunet")}


def test_table2_lists_an_unregistered_method_as_missing_not_as_an_error(monkeypatch):
    monkeypatch.delitem(METHODS, "joint")
    sweep = _runs("table2")
    assert sweep.missing == ["joint"]
    assert "joint" not in {r.request.method for r in sweep.runs}


def test_fewshot_runs_origin_and_each_generator_at_each_ratio_and_methods_restrict_it():
    sweep = _runs("fewshot")
    ratios = sorted({r.request.train_ratio for r in sweep.runs})
    assert ratios == [0.1, 0.3, 0.5, 0.7, 0.9] and len(sweep.runs) == 5 * 5
    assert all(
        r.request.train_on == ("real" if r.request.method == "origin" else "real+synthetic") for r in sweep.runs
    )
    augmented = _runs("fewshot", methods=("xlsor",), ratios=(0.3,), augments=("none", "xlsor"))
    assert [(r.request.method, r.request.augment, r.label) for r in augmented.runs] == [
        ("origin", "none", "Origin, ratio 0.3"),
        ("xlsor", "none", "xlsor, ratio 0.3"),
        ("origin", "xlsor", "Origin, ratio 0.3, augment xlsor"),  # the baseline trains under the same augmentation
        ("xlsor", "xlsor", "xlsor, ratio 0.3, augment xlsor"),
    ]
    small = _runs("fewshot", methods=("xlsor",), ratios=(0.3, 0.9))
    assert [(r.request.method, r.request.train_ratio) for r in small.runs] == [
        ("origin", 0.3),
        ("xlsor", 0.3),
        ("origin", 0.9),
        ("xlsor", 0.9),
    ]


@pytest.mark.parametrize("preset", ["paper", "cpu"])
def test_tau_vs_s_pairs_each_temperature_with_its_gradient_scale(preset):
    from methods.diffuseexpand.options import PRESETS, DiffuseExpandOptions

    s0 = PRESETS[preset].get("guidance_scale", DiffuseExpandOptions.guidance_scale)
    sweep = sw.build_sweep("tau-vs-s", Request(dataset="demo", seeds=(0,), models=(), preset=preset))
    options = [r.request.method_options for r in sweep.runs]
    assert options == [
        {"tau": 1.0},
        {"tau": 0.5},
        {"tau": pytest.approx(1 / 3)},
        {"tau": 1.0, "guidance_scale": pytest.approx(2 * s0)},
        {"tau": 1.0, "guidance_scale": pytest.approx(3 * s0)},
    ]
    assert {(r.request.ablation, r.request.train_on) for r in sweep.runs} == {("cf+cg+cs", "real+synthetic")}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("table3",), "unknown sweep 'table3'"),
        (("table1", "--methods", "xlsor"), "--methods applies to the table2 and fewshot sweeps"),
        (("fewshot", "--methods", "nosuch"), "--methods: unknown method 'nosuch'"),
        (("fewshot", "--methods", "origin"), "baseline every sweep runs anyway"),
        (("table2", "--ratios", "0.5"), "--ratios applies to the fewshot sweep"),
        (("table1", "--augment", "xlsor"), "--augment applies to the fewshot sweep, not table1"),
        (("fewshot", "--augment", "none,xlsr"), "--augment: unknown augmentation 'xlsr'. Did you mean 'xlsor'?"),
        (("fewshot", "--ratios", "0.95"), "--ratios must be in"),
        (("fewshot", "--ratios", "0.1,x"), "--ratios: cannot parse '0.1,x' as a comma-separated list of numbers"),
        (("table1", "--seeds", "0,a"), "--seeds: cannot parse '0,a'"),
        (("table1", "--launcher", "slurm"), "unknown --launcher 'slurm'"),
        (("table1", "--launcher-option", "partition=gpu"), "--launcher-option applies to --launcher submitit"),
        (("table1", "--seeds", "0,0"), "given more than once"),
        (("table1", "--pairs", "5"), "--pairs applies to the fewshot sweep, not table1"),
        (("fewshot", "--pairs", "5", "--ratios", "0.5"), "--pairs and --ratios exclude each other"),
        (("fewshot", "--pairs", "5,1"), "--pairs must be >= 2"),
        (("fewshot", "--test-set", "/nonexistent"), "--test-set '/nonexistent'"),
    ],
)
def test_bad_sweep_options_are_refused_in_one_line(tmp_path, args, needle):
    res = invoke("sweep", *args, "--preset", "smoke", "--out", tmp_path / "runs", "--dry-run")
    assert_refused(res, needle)
    assert not (tmp_path / "runs").exists()


def test_a_ratio_that_leaves_one_training_pair_is_refused_before_any_run(tmp_path):
    data = disc_folder(tmp_path / "discs", n=16)  # ratio 0.05 of 16 pairs: 1 training pair
    args = ("--ratios", "0.5,0.05", "--seeds", "0", "--preset", "smoke", "--no-wandb")
    res = invoke("sweep", "fewshot", "--dataset", data, "--methods", "xlsor", *args, "--out", tmp_path / "runs")
    needle = "--ratios: train_ratio 0.05 leaves 1 training pair(s) of 16"
    assert_refused(res, needle, out=tmp_path / "runs")  # the ratio-0.5 runs, listed first, did not start


def test_a_dry_run_refuses_the_data_set_itself_as_a_test_set_before_any_run_finished(tmp_path):
    data = disc_folder(tmp_path / "discs", n=16)
    args = ("--methods", "xlsor", "--ratios", "0.5", "--seeds", "0", "--preset", "smoke", "--no-wandb", "--dry-run")
    res = invoke("sweep", "fewshot", "--dataset", data, "--test-set", data, *args, "--out", tmp_path / "runs")
    assert_refused(res, f"--test-set {data}: this is the run's own data set", out=tmp_path / "runs")


def test_an_unreadable_data_folder_is_one_line_naming_it(tmp_path, monkeypatch):
    data = disc_folder(tmp_path / "discs", n=16)

    def unreadable(path, **_):
        raise PermissionError(13, "Permission denied", str(path / "images"))

    monkeypatch.setattr("bench.sweep.grid.check", unreadable)  # root reads a mode-000 folder, so it is simulated
    res = invoke("sweep", "fewshot", "--dataset", data, "--preset", "smoke", "--out", tmp_path / "runs", "--dry-run")
    assert_refused(res, f"{data / 'images'}: permission denied", out=tmp_path / "runs")


@pytest.mark.parametrize(("name", "rows"), [("table1", 24), ("table2", 5), ("fewshot", 25), ("tau-vs-s", 5)])
def test_every_sweep_dry_run_lists_its_runs_and_writes_nothing(tmp_path, name, rows):
    data = disc_folder(tmp_path / "discs", n=24)
    out = tmp_path / "runs"
    res = invoke("sweep", name, "--dataset", data, "--preset", "smoke", "--seeds", "3", "--out", out, "--dry-run")
    assert res.exit_code == 0, res.output
    assert f"sweep {name}: {rows} runs" in res.output and res.output.count("to run") == rows + 1
    assert not out.exists()


def test_dry_run_lists_runs_and_marks_finished_ones_with_estimates_from_past_runs(tmp_path):
    data = disc_folder(tmp_path / "discs")
    out = tmp_path / "runs"
    args = ("sweep", "fewshot", "--dataset", data, "--preset", "smoke", "--seeds", "0", "--out", out)
    args += ("--methods", "xlsor", "--ratios", "0.5,0.9", "--no-wandb")
    res = invoke(*args, "--dry-run")
    assert res.exit_code == 0, res.output
    assert res.output.count("to run") == 5 and "no estimate" in res.output  # 4 rows + the caption
    assert not out.exists()

    res = invoke(*args[:-5], "--methods", "xlsor", "--ratios", "0.5", "--no-wandb")  # runs ratio 0.5 only
    assert res.exit_code == 0, res.output
    assert "warning: fewshot not built" in res.output  # one ratio is not a curve
    res = invoke(*args, "--dry-run")
    assert res.exit_code == 0, res.output
    assert res.output.count("done") == 3  # two rows and the caption's "2 done"
    assert "2 done, 2 to run; about" in res.output


def test_run_local_records_a_failed_run_and_goes_on(monkeypatch, tmp_path):
    sweep = _runs("fewshot", methods=("xlsor",), ratios=(0.9,))
    calls = []

    def fake_run(req, progress=None, on_warning=None, resolved=None):
        calls.append(req.method)
        if req.method == "origin":
            raise RuntimeError("kept no synthetic pairs")
        return type("O", (), {"paths": [Path("x/results.json")]})()

    monkeypatch.setattr("bench.sweep.launch.runner.run", fake_run)
    outcome = sw.run_local(sweep)
    assert calls == ["origin", "xlsor"]
    assert [(r.request.method, why) for r, why in outcome.failed] == [("origin", "kept no synthetic pairs")]
    assert outcome.paths == [Path("x/results.json")]


def test_smoke_fewshot_sweep_runs_every_method_at_each_ratio_and_reports_the_curves(tmp_path):
    """Every method through the sweep at two ratios, the fewest that make a curve; that the default sweep plans
    every method at all five of the paper's ratios is checked on its plan above."""
    data = disc_folder(tmp_path / "discs")
    out = tmp_path / "runs"
    ratios = (0.5, 0.9)
    res = invoke(
        "sweep",
        "fewshot",
        "--dataset",
        data,
        "--preset",
        "smoke",
        "--seeds",
        "0",
        "--out",
        out,
        "--no-wandb",
        "--ratios",
        ",".join(map(str, ratios)),
    )
    assert res.exit_code == 0, res.output
    found = {(p.parts[-4].split("__")[0], p.parts[-3]) for p in out.rglob("results.json")}
    methods = {"origin", "diffuseexpand", "synthmed", "xlsor", "joint"}
    assert {m for m, _ in found} == methods == set(METHODS) - {"genseg"}  # not in the paper's grids
    assert found == {(m, f"ratio_{r:g}") for m in methods for r in ratios}
    report = out / "reports" / "fewshot"
    with (report / "fewshot.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 10 and {float(r["train_ratio"]) for r in rows} == set(ratios)
    assert Image.open(report / "fewshot.png").size[0] > 100
    assert (out / "reports" / "fewshot" / "fewshot.md").is_file()


def test_fewshot_over_counts_of_pairs_runs_each_count_and_refuses_one_the_data_lacks(tmp_path):
    base = Request(dataset="demo", seeds=(0,), models=(), test_sets=("none",))
    sweep = sw.build_sweep("fewshot", base, methods=("xlsor",), pairs=(5, 9, 14))
    assert [(r.request.method, r.request.train_pairs, r.label) for r in sweep.runs] == [
        ("origin", 5, "Origin, 5 pairs"),
        ("xlsor", 5, "xlsor, 5 pairs"),
        ("origin", 9, "Origin, 9 pairs"),
        ("xlsor", 9, "xlsor, 9 pairs"),
        ("origin", 14, "Origin, 14 pairs"),
        ("xlsor", 14, "xlsor, 14 pairs"),
    ]
    assert {r.request.train_ratio for r in sweep.runs} == {0.9} and {r.request.test_sets for r in sweep.runs} == {
        ("none",)
    }
    data = disc_folder(tmp_path / "discs", n=16)  # 14 pairs beside the test split
    args = ("--pairs", "5,15", "--seeds", "0", "--preset", "smoke", "--no-wandb", "--dry-run")
    res = invoke("sweep", "fewshot", "--dataset", data, "--out", tmp_path / "runs", *args)
    assert_refused(res, "--pairs", "[2, 14]", "got 15")
