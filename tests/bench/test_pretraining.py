"""`bench pretrain` and a run that fine-tunes from it: the record, the refusal of a pretraining that saw a test
image, and the fingerprint that keys the run and its denoiser by the weights, not by the folder's path."""

import json

import numpy as np
import pytest
from cli_checks import assert_refused, invoke
from PIL import Image
from synthetic_pairs import disc_folder

from bench.data import image_hashes, read_pairs
from bench.integrity import check

pytestmark = pytest.mark.heavy(65)
RECIPE = {"cfg_dropout": 0.5, "cf_weight": 1.0, "dynamic_thresholding": False, "sampling_steps": 30}


def _changed_copy(src, dst):
    """The same pairs with one pixel of every image changed: other images by content."""
    disc_folder(dst)
    for f in (dst / "images").glob("*.png"):
        a = np.array(Image.open(f))
        a[0, 0] = 255 - a[0, 0]
        Image.fromarray(a).save(f)
    return dst


def _pretrain(data, out, *extra):
    res = invoke("pretrain", "--dataset", data, "--out", out, "--preset", "smoke", "--steps", 4, *extra)
    assert res.exit_code == 0, res.output
    record = json.loads((out / "pretrain.json").read_text())
    assert ("(applies the recipe it records: " in res.output) == bool(record["recipe"]), res.output
    assert f"pretraining {out.name} loss" in res.output, res.output  # the progress line names the pretraining
    return record


def test_a_run_fine_tunes_from_a_pretraining_that_never_saw_its_test_images(tmp_path):
    seen, other = disc_folder(tmp_path / "seen"), _changed_copy(tmp_path / "seen", tmp_path / "other")
    folder = tmp_path / "pretrained"
    record = _pretrain(seen, folder)
    assert record["steps"] == 4 and record["pairs"] == 16 and record["size"] == 32 and record["dataset"] == "seen"
    assert record["options"]["denoiser_steps"] == 4 and "cfg_dropout" in record["options"]
    assert record["image_hashes"] == image_hashes(read_pairs(check(seen, image_size=32), 32))
    assert record["recipe"] == RECIPE, "the recipe a run fine-tunes and samples it with, as pretrained"
    assert str(tmp_path) not in json.dumps(record), "the record names no path of the machine"
    assert_refused(invoke("pretrain", "--dataset", seen, "--out", folder, "--preset", "smoke"), "--out", "--force")

    run = ["run", "--preset", "smoke", "--no-wandb", "--no-baseline", "--out", tmp_path / "runs"]
    run += ["--ablation", "cf", "--option", f"pretrained={folder}"]
    assert_refused(invoke(*run, "--dataset", seen), "--option pretrained", "was pretrained on 2 of this run's 2 test")
    assert not (tmp_path / "runs").exists(), "refused before any work"

    first = invoke(*run, "--dataset", other)
    assert first.exit_code == 0, first.output
    (said,) = [line for line in first.output.splitlines() if line.startswith("pretrained: applied the recipe")]
    assert str(folder) in said and all(f in said for f in ("cfg_dropout=0.5", "cf_weight=1", "sampling_steps=30"))
    (results,) = (tmp_path / "runs").rglob("results.json")
    config = json.loads(results.read_text())["config"]
    assert set(config["inputs"]) == {"pretrained"} and len(config["inputs"]["pretrained"]) == 16
    assert config["settings"].startswith("pretrained=pretrained-"), "named by the folder alone"
    (key,) = (tmp_path / "runs").rglob("denoiser/*/key.json")
    assert json.loads(key.read_text())["options"]["pretrained"] == {"fingerprint": config["inputs"]["pretrained"]}
    (samples,) = (tmp_path / "runs").rglob("samples/*/key.json")
    sampling = json.loads(samples.read_text())["sampling"]
    assert {k: sampling[k] for k in ("cf_weight", "dynamic_thresholding", "sampling_steps")} == {
        k: RECIPE[k] for k in ("cf_weight", "dynamic_thresholding", "sampling_steps")
    }
    spelled = [f"{k}={str(v).lower()}" for k, v in RECIPE.items()]
    same = invoke(*run, "--dataset", other, *(a for option in spelled for a in ("--option", option)))
    assert same.exit_code == 0 and "applied the recipe" in same.output and "given instead" in same.output
    assert len(list((tmp_path / "runs").rglob("samples/*/key.json"))) == 1, "the same stages, reused"

    _pretrain(seen, folder, "--force", "--seed", "1")  # retrained in the same folder: the run is not reused
    again = invoke(*run, "--dataset", other)
    assert again.exit_code == 0, again.output
    assert "reused" not in again.output.split("results:")[-1]
    assert json.loads(results.read_text())["config"]["inputs"] != config["inputs"]
    assert len(list((tmp_path / "runs").rglob("denoiser/*/done.json"))) == 2


def test_a_pretraining_of_another_network_or_prediction_is_refused_naming_the_option(tmp_path):
    data = disc_folder(tmp_path / "discs")
    folder = tmp_path / "pretrained"
    _pretrain(data, folder, "--option", "denoiser_widths=[8, 16]")
    run = ["run", "--preset", "smoke", "--no-wandb", "--no-baseline", "--out", tmp_path / "runs", "--ablation", "cf"]
    res = invoke(*run, "--dataset", _changed_copy(data, tmp_path / "other"), "--option", f"pretrained={folder}")
    assert_refused(res, "--option pretrained", "holds another network than this run's")
    res = invoke(
        *run, "--dataset", tmp_path / "other", "--option", f"pretrained={folder}", "--option", "prediction=edm"
    )
    assert_refused(res, "--option pretrained", "pretrained with prediction=epsilon, this run trains prediction=edm")
    (folder / "scheduler_config.json").unlink()  # a damaged folder: refused by name, not a traceback
    res = invoke(*run, "--dataset", tmp_path / "other", "--option", f"pretrained={folder}")
    assert_refused(res, "--option pretrained", "is no finished `bench pretrain` folder")


def test_joint_fine_tunes_from_its_own_pretraining_and_refuses_another_methods(tmp_path):
    data = disc_folder(tmp_path / "discs")
    other = _changed_copy(data, tmp_path / "other")
    joint, diffuseexpand = tmp_path / "joint", tmp_path / "diffuseexpand"
    record = _pretrain(data, joint, "--method", "joint")
    assert record["method"] == "joint" and record["recipe"] == {}, "joint samples its start as the preset does"
    _pretrain(data, diffuseexpand)
    run = ["run", "--method", "joint", "--preset", "smoke", "--no-wandb", "--no-baseline", "--dataset", other]
    run += ["--out", tmp_path / "runs"]
    assert_refused(invoke(*run, "--option", f"pretrained={diffuseexpand}"), "holds a diffuseexpand generator")
    res = invoke(*run, "--option", f"pretrained={joint}")
    assert res.exit_code == 0 and "recipe" not in res.output, res.output
    (key,) = (tmp_path / "runs").rglob("joint/denoiser/*/key.json")
    (results,) = (tmp_path / "runs").rglob("results.json")
    fingerprint = json.loads(results.read_text())["config"]["inputs"]["pretrained"]
    assert json.loads(key.read_text())["options"]["pretrained"] == {"fingerprint": fingerprint}


def test_a_pretrained_folder_the_method_cannot_start_from_is_refused_before_any_work(tmp_path):
    data = disc_folder(tmp_path / "discs")
    plain = tmp_path / "plain"  # a folder that is no `bench pretrain` one: only DiffuseExpand adapts such a UNet
    plain.mkdir()
    runs = tmp_path / "runs"
    run = ["run", "--preset", "smoke", "--no-wandb", "--no-baseline", "--dataset", data, "--out", runs]
    res = invoke(*run, "--method", "joint", "--option", f"pretrained={plain}")
    assert_refused(res, "--option pretrained", "is no finished `bench pretrain` folder")
    for method in ("joint", "diffuseexpand"):
        res = invoke(*run, "--method", method, "--option", f"pretrained={tmp_path / 'missing'}")
        assert_refused(res, "--option pretrained", "missing is not a folder")
    assert not runs.exists(), "refused before any work"
