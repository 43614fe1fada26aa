"""``bench run --test-set`` and ``--train-pairs`` end to end at the smoke preset: the stored external Dice, the same
scorer as the in-domain test's, a set named later scored from the kept weights, the card's default sets, and every
refusal made before any work."""

import json
import shutil

import pytest
import torch
from cli_checks import assert_refused, invoke, run_args
from synthetic_pairs import disc_folder

from bench.config import TrainConfig, merge_options
from bench.data import read_pairs
from bench.integrity import check
from bench.runner import Request, run
from bench.runner.layout import WEIGHTS
from bench.segmentation.models import build_model
from bench.segmentation.trainer import evaluate
from bench.splits import make_split

pytestmark = pytest.mark.heavy(60)


def _copy_pairs(src, dst, ids, rename=lambda k: f"x_{k}"):
    """The pairs ``ids`` of ``src`` under other names in ``dst``: the same images by content."""
    for sub in ("images", "masks"):
        (dst / sub).mkdir(parents=True, exist_ok=True)
        for k in ids:
            shutil.copy(src / sub / f"{k}.png", dst / sub / f"{rename(k)}.png")
    return dst


def _results(out):
    (path,) = out.rglob("results.json")
    return path, json.loads(path.read_text())


def test_origin_is_scored_on_every_pair_of_an_external_set_with_the_in_domain_scorer(tmp_path):
    data = disc_folder(tmp_path / "discs")
    test_ids = make_split([f"p{i:02d}" for i in range(16)], 0).test
    # the seed's own test images under other names, and pairs of another set: an external set no stage saw
    ext = _copy_pairs(data, disc_folder(tmp_path / "elsewhere", n=4), test_ids)
    out = tmp_path / "runs"
    res = invoke(*run_args(data, out, "--test-set", ext))
    assert res.exit_code == 0, res.output
    assert "scored on external test set(s) elsewhere (6 pairs), seen by no stage" in res.output
    assert "Dice on elsewhere" in res.output, "the final table has the set's own column"
    path, results = _results(out)
    external = results["metrics"]["external"]["elsewhere"]
    assert set(external) == {"dice", "dice_std", "dice_per_image", "n", "fingerprint"} and external["n"] == 6
    assert sorted(external["dice_per_image"]) == sorted([*(f"x_{k}" for k in test_ids), "p00", "p01", "p02", "p03"])
    for k in test_ids:  # the same pairs score the same Dice on both sides
        assert external["dice_per_image"][f"x_{k}"] == results["metrics"]["dice_per_image"][k]

    # the kept weights give the stored Dice again, image by image
    cfg = results["config"]
    train = merge_options(TrainConfig, cfg["train"], where="training")
    model = build_model(cfg["model"], 1, 2, cfg["image_size"], train)
    model.load_state_dict(torch.load(path.parent / WEIGHTS, weights_only=True))
    pairs = read_pairs(check(ext, image_size=32), 32, name="elsewhere")
    again = evaluate(model, pairs, torch.device("cpu"))
    assert {k: round(float(v), 6) for k, v in zip(pairs.ids, again)} == external["dice_per_image"]

    # a set named later is scored from those weights: the run is reused, not trained again
    later = disc_folder(tmp_path / "later", n=5)
    trained_at = results["timings"]["train"]
    res = invoke(*run_args(data, out, "--test-set", ext, "--test-set", later))
    assert res.exit_code == 0 and "(reused)" in res.output, res.output
    _, results = _results(out)
    assert set(results["metrics"]["external"]) == {"elsewhere", "later"}
    assert results["metrics"]["external"]["later"]["n"] == 5 and results["timings"]["train"] == trained_at
    _copy_pairs(data, later, test_ids[:1])  # a set that changed since it was scored is scored again
    res = invoke(*run_args(data, out, "--test-set", later))
    assert res.exit_code == 0 and "(reused)" in res.output, res.output
    _, results = _results(out)
    assert results["metrics"]["external"]["later"]["n"] == 6 and results["timings"]["train"] == trained_at

    report = invoke("report", "--runs", out, "--out", tmp_path / "report")
    assert report.exit_code == 0, report.output
    table = (tmp_path / "report" / "results.md").read_text()
    assert "| Dice on elsewhere (external) | Dice on later (external) |" in table

    # trained again without a set, the run keeps no weights of the earlier training to score a later set with
    res = invoke(*run_args(data, out, "--test-set", "none", "--force"))
    assert res.exit_code == 0 and not list(out.rglob(WEIGHTS)), res.output


def test_a_renamed_training_image_in_an_external_set_is_refused_before_any_work(tmp_path):
    data = disc_folder(tmp_path / "discs")
    trained = make_split([f"p{i:02d}" for i in range(16)], 0).train[0]
    ext = _copy_pairs(data, disc_folder(tmp_path / "elsewhere", n=4), [trained], rename=lambda k: "innocent")
    out = tmp_path / "runs"
    error = assert_refused(invoke(*run_args(data, out, "--test-set", ext)), "--test-set elsewhere", out=out)
    assert f"innocent = {trained}" in error and "training images of this run" in error
    assert_refused(invoke(*run_args(data, out, "--test-set", data)), "--test-set", "own data set", out=out)

    rings = disc_folder(tmp_path / "rings", n=6, labels=2)  # labels 0, 1, 2: not what a binary model predicts
    error = assert_refused(invoke(*run_args(data, out, "--test-set", rings)), "--test-set", out=out)
    assert "masks hold 3 labels, discs's 2" in error


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (("--train-pairs", "0"), ("--train-pairs must be >= 2",)),
        (("--train-pairs", "5", "--train-ratio", "0.3"), ("--train-pairs and --train-ratio exclude each other",)),
        (("--train-pairs", "15"), ("--train-pairs", "[2, 14]", "got 15")),
        (("--test-set", "/nonexistent"), ("--test-set '/nonexistent'", "neither a folder nor a known dataset")),
        (("--test-set", "none", "--test-set", "demo"), ("--test-set none",)),
    ],
)
def test_bad_values_are_one_line_errors_before_any_work(tmp_path, extra, needles):
    out = tmp_path / "runs"
    assert_refused(invoke(*run_args(disc_folder(tmp_path / "discs"), out, *extra)), *needles, out=out)


def test_train_pairs_runs_get_their_own_folder_and_nest_across_counts(tmp_path):
    data, out = disc_folder(tmp_path / "discs"), tmp_path / "runs"
    res = invoke(*run_args(data, out, "--train-pairs", "3", "--seeds", "0"))
    assert res.exit_code == 0 and "3 pairs" in res.output, res.output
    res = invoke(*run_args(data, out, "--train-pairs", "5", "--seeds", "0"))
    assert res.exit_code == 0, res.output
    folders = sorted(p.parent.relative_to(out).as_posix() for p in out.rglob("results.json"))
    assert folders == [f"discs/origin__none__unet__none__real/pairs_{n}/seed_0" for n in (3, 5)]
    splits = {n: json.loads((out / f"{folders[i]}/splits.json").read_text()) for i, n in enumerate((3, 5))}
    assert set(splits[3]["train"]) < set(splits[5]["train"]) and splits[3]["test"] == splits[5]["test"]
    assert splits[3]["train_pairs"] == 3 and splits[3]["train_ratio"] is None
    results = json.loads((out / folders[0] / "results.json").read_text())
    assert results["run"]["train_pairs"] == 3 and results["counts"]["real_train"] == 3
    assert results["config"]["train_pairs"] == 3 and "external" not in results["metrics"]


def test_a_cards_default_set_is_scored_when_found_and_none_turns_it_off(tmp_path, monkeypatch):
    root = tmp_path / "data"
    disc_folder(root / "montgomery")
    disc_folder(root / "shenzhen", n=6)
    monkeypatch.setenv("BENCH_DATA", str(root))
    base = Request(method="origin", dataset="montgomery", preset="smoke", out=tmp_path / "runs", wandb="disabled")
    warnings = []
    (results,) = run(base, on_warning=warnings.append).results
    assert results["metrics"]["external"]["shenzhen"]["n"] == 6 and not warnings

    plain = Request(**{**base.__dict__, "out": tmp_path / "plain", "test_sets": ("none",)})
    (results,) = run(plain).results
    assert "external" not in results["metrics"] and not list((tmp_path / "plain").rglob(WEIGHTS))

    # a finished run that kept no weights is kept without the card's set, said; a named set trains it again
    (results,) = run(Request(**{**plain.__dict__, "test_sets": ()}), on_warning=warnings.append).results
    assert "external" not in results["metrics"] and "kept without it" in warnings[-1]
    (results,) = run(Request(**{**plain.__dict__, "test_sets": ("shenzhen",)}), on_warning=warnings.append).results
    assert results["metrics"]["external"]["shenzhen"]["n"] == 6 and "training it again" in warnings[-1]

    shutil.rmtree(root / "shenzhen")  # a default set that is not on this machine is said and left out
    warnings.clear()
    (results,) = run(Request(**{**base.__dict__, "out": tmp_path / "other"}), on_warning=warnings.append).results
    assert "external" not in results["metrics"]
    assert any("names 'shenzhen' as its external test set; not scored" in w for w in warnings), warnings


def test_an_external_set_holding_a_pretraining_image_is_refused_before_any_work(tmp_path):
    pre = disc_folder(tmp_path / "pre", n=6)
    folder = tmp_path / "pretrained"
    made = invoke("pretrain", "--dataset", pre, "--out", folder, "--preset", "smoke", "--steps", 2)
    assert made.exit_code == 0, made.output
    ext = _copy_pairs(pre, disc_folder(tmp_path / "elsewhere", n=4), ["p01", "p04"])
    data, out = disc_folder(tmp_path / "discs"), tmp_path / "runs"
    options = ("--ablation", "cf", "--option", f"pretrained={folder}", "--test-set", ext)
    refused = invoke(*run_args(data, out, *options, method="diffuseexpand"))
    error = assert_refused(refused, "--test-set elsewhere", out=out)
    assert "was pretrained on 2 of this run's 6 test images (x_p01, x_p04)" in error


def test_a_cards_default_set_that_a_stage_saw_is_left_out_said_and_a_named_one_refused(tmp_path, monkeypatch):
    root = tmp_path / "data"
    own = disc_folder(root / "montgomery")
    split = make_split(sorted(p.stem for p in (own / "images").glob("*.png")), 0)
    _copy_pairs(own, disc_folder(root / "shenzhen", n=4), split.train[:1])  # one training image, renamed
    monkeypatch.setenv("BENCH_DATA", str(root))
    base = Request(method="origin", dataset="montgomery", preset="smoke", out=tmp_path / "runs", wandb="disabled")
    warnings = []
    (results,) = run(base, on_warning=warnings.append).results
    assert "external" not in results["metrics"]
    assert any("not scored, since a stage saw it" in w and "training images" in w for w in warnings), warnings
    out = tmp_path / "named"
    assert_refused(invoke(*run_args(own, out, "--test-set", root / "shenzhen")), "--test-set shenzhen", out=out)
