import json

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.results import find_results, load_results

pytestmark = pytest.mark.heavy(12)

runner = CliRunner()


def test_help_lists_the_verbs():
    out = runner.invoke(app, ["--help"]).output
    for verb in ("run", "methods", "report", "speed", "datasets"):
        assert verb in out


def test_methods_lists_registered_methods_and_ablations():
    res = runner.invoke(app, ["methods"])
    assert res.exit_code == 0, res.output
    assert "origin" in res.output and "diffuseexpand" in res.output and "cf+cg+cs" in res.output


def test_datasets_check_reports_every_problem_and_fails(broken_pairs):
    res = runner.invoke(app, ["datasets", "check", str(broken_pairs)])
    assert res.exit_code == 1
    for name in ("corrupt.png", "lonely.png", "badvalues.png"):
        assert name in res.output
    assert "FAILED" in res.output


def test_datasets_check_passes_real_data(montgomery):
    res = runner.invoke(app, ["datasets", "check", str(montgomery)])
    assert res.exit_code == 0, res.output
    assert "138 pairs" in res.output


def test_run_refuses_a_broken_dataset_before_training(broken_pairs, tmp_path):
    res = runner.invoke(
        app,
        [
            "run",
            "--method",
            "origin",
            "--dataset",
            str(broken_pairs),
            "--preset",
            "smoke",
            "--out",
            str(tmp_path / "runs"),
            "--no-wandb",
        ],
    )
    assert res.exit_code == 2
    assert "corrupt.png" in res.output and "lonely.png" in res.output and "badvalues.png" in res.output
    assert not (tmp_path / "runs").exists()


def test_run_rejects_unknown_method_with_suggestion(tmp_path):
    res = runner.invoke(app, ["run", "--method", "diffusexpand", "--out", str(tmp_path), "--no-wandb"])
    assert res.exit_code == 2
    assert "Did you mean 'diffuseexpand'" in res.output


def test_run_origin_end_to_end_on_real_data(montgomery, tmp_path):
    """Smoke preset on the real Montgomery set: results.json, W&B offline files, reuse, report."""
    out = tmp_path / "runs"
    args = [
        "run",
        "--method",
        "origin",
        "--dataset",
        str(montgomery),
        "--models",
        "unet",
        "--seeds",
        "0",
        "--preset",
        "smoke",
        "--out",
        str(out),
        "--wandb",
        "offline",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    files = find_results(out)
    assert len(files) == 1
    r = load_results(files[0])
    assert r["run"]["train_on"] == "real" and r["counts"]["real_train"] == 124 and r["counts"]["test"] == 14
    assert 0.0 <= r["metrics"]["dice"] <= 1.0 and len(r["metrics"]["dice_per_image"]) == 14
    assert files[0].parent.name == "seed_0" and files[0].parents[1].name == "ratio_0.9"
    assert list((files[0].parent / "wandb").glob("offline-run-*")), "W&B offline run files missing"
    split = json.loads((files[0].parent / "splits.json").read_text())
    assert sorted(split["test"]) == sorted(r["metrics"]["dice_per_image"])
    assert "results:" in res.output and "W&B: offline" in res.output

    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "(reused)" in again.output

    rep = runner.invoke(app, ["report", "--runs", str(out), "--out", str(tmp_path / "rep")])
    assert rep.exit_code == 0, rep.output
    assert (tmp_path / "rep" / "results.md").is_file()


def test_metrics_prints_json_for_two_folders(montgomery, tmp_path):
    real, gen = tmp_path / "real", tmp_path / "gen"
    for folder, files in ((real, sorted((montgomery / "images").glob("*.png"))[:6]), (gen, [])):
        folder.mkdir()
        for f in files:
            (folder / f.name).symlink_to(f)
    for f in sorted((montgomery / "images").glob("*.png"))[:3]:  # copies of training images
        (gen / f"copy_{f.name}").symlink_to(f)
    res = runner.invoke(app, ["metrics", "--real", str(real), "--generated", str(gen), "--image-size", "32", "--json"])
    assert res.exit_code == 0, res.output
    figures = json.loads(res.output)
    assert isinstance(figures["fid"], float) and figures["is"] is None and "is" in figures["unavailable"]
    assert figures["memorisation"]["share_closer_than_real"] == 1.0


def test_metrics_refuses_a_missing_folder_in_one_line(tmp_path):
    res = runner.invoke(app, ["metrics", "--real", str(tmp_path / "nope"), "--generated", str(tmp_path)])
    assert res.exit_code == 2 and "no such folder" in res.output and "Traceback" not in res.output


def test_speed_times_each_stage_of_a_method_and_refuses_one_without_a_benchmark():
    res = runner.invoke(app, ["speed", "--method", "synthmed", "--preset", "smoke", "--steps", "1", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    for stage in ("mask_gan", "image_gan", "sampler", "s/step", "s/pair"):
        assert stage in res.output
    res = runner.invoke(app, ["speed", "--method", "xlsor", "--preset", "smoke"])
    assert res.exit_code == 2 and "has no speed benchmark" in res.output
