"""A file the user points at that cannot be read as what it should be: one line naming the option (or variable), the
file and what was expected, exit code 2, no traceback."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cli_checks import assert_refused, invoke, run_args
from PIL import Image

from bench.results import REQUIRED_KEYS, SCHEMA_VERSION

TORN = b"\x80\x02" + b"torn" * 8


@pytest.fixture
def image_folders(tmp_path):
    for name in ("real", "generated"):
        (tmp_path / name).mkdir()
        for i in range(3):
            pixels = np.random.default_rng(i).integers(0, 255, (32, 32), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    return ["--real", tmp_path / "real", "--generated", tmp_path / "generated", "--image-size", "32"]


@pytest.mark.parametrize(
    "content, why",
    [
        (TORN, "it cannot be unpickled: torn, or no torch file"),
        ({"conv.weight": torch.zeros(2)}, "no tensor Conv2d_1a_3x3.conv.weight"),
        ([1, 2], "holds a list, not a state dict"),
    ],
)
def test_metrics_refuses_a_torn_or_wrong_inception_weights_file(tmp_path, image_folders, content, why):
    bad = tmp_path / "pt_inception.pth"
    bad.write_bytes(content) if isinstance(content, bytes) else torch.save(content, bad)
    res = invoke("metrics", *image_folders, "--inception-weights", bad)
    assert_refused(res, f"--inception-weights: {bad}: not FID Inception weights", why)


def test_metrics_names_the_variable_that_named_a_torn_weights_file(tmp_path, image_folders, monkeypatch):
    bad = tmp_path / "weights.pth"
    bad.write_bytes(TORN)
    monkeypatch.setenv("BENCH_FID_WEIGHTS", str(bad))
    assert_refused(invoke("metrics", *image_folders), f"$BENCH_FID_WEIGHTS: {bad}: not FID Inception weights")


def test_run_refuses_torn_inception_weights_before_any_work(discs, tmp_path):
    bad = tmp_path / "weights.pth"
    bad.write_bytes(TORN)
    out = tmp_path / "runs"
    res = invoke(*run_args(discs, out, "--inception-weights", str(bad), method="diffuseexpand"))
    assert_refused(res, f"--inception-weights: {bad}: not FID Inception weights", out=out)


def test_run_refuses_a_torn_pretrained_record(discs, tmp_path):
    folder = tmp_path / "pretrained"
    folder.mkdir()
    for name in ("pretrain.json", "scheduler_config.json", "diffusion_pytorch_model.safetensors"):
        (folder / name).write_text("{ torn")
    res = invoke(*run_args(discs, tmp_path / "runs", "--option", f"pretrained={folder}", method="diffuseexpand"))
    assert_refused(res, f"--option pretrained: {folder / 'pretrain.json'}: not a `bench pretrain` record", "pretrain")


def test_run_refuses_a_pretrained_folder_whose_network_is_torn(discs, tmp_path):
    """A plain diffusers folder (no pretrain.json), which DiffuseExpand adapts, with torn weights."""
    folder = tmp_path / "unet"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel"}))
    (folder / "diffusion_pytorch_model.safetensors").write_bytes(TORN)
    out = tmp_path / "runs"
    res = invoke(*run_args(discs, out, "--option", f"pretrained={folder}", method="diffuseexpand"))
    line = assert_refused(res, f"--option pretrained: {folder}", "not a diffusers UNet2DModel")
    assert "Traceback" not in res.output and not list(out.rglob("results.json")), line


@pytest.mark.parametrize(
    "results, expected",
    [
        ({k: {} for k in REQUIRED_KEYS} | {"schema_version": SCHEMA_VERSION + 1}, "this bench reads"),
        ({"accuracy": 0.9}, f"not a bench results file of schema_version {SCHEMA_VERSION}"),
    ],
)
def test_report_names_a_results_json_of_another_schema(tmp_path, results, expected):
    runs = tmp_path / "runs"
    (runs / "r0").mkdir(parents=True)
    bad = runs / "r0" / "results.json"
    bad.write_text(json.dumps(results))
    assert_refused(invoke("report", "--runs", runs, "--out", tmp_path / "rep"), str(bad), expected)


@pytest.mark.parametrize("verb", ["expand", "sweep"])
def test_a_pretrained_folder_without_its_weights_is_named_by_expand_and_sweep(discs, tmp_path, verb):
    folder = tmp_path / "pretrained"
    folder.mkdir()
    for name in ("pretrain.json", "scheduler_config.json"):
        (folder / name).write_text("{}")
    out = tmp_path / "out"
    if verb == "expand":
        args = ("expand", "--method", "diffuseexpand", "--dataset", discs, "--n", "2", "--preset", "smoke")
        args += ("--out", out, "--cache", tmp_path / "cache", "--option", f"pretrained={folder}")
    else:
        args = ("sweep", "leaderboard", "--dataset", discs, "--preset", "smoke", "--out", out, "--dry-run")
        args += ("--methods", "diffuseexpand+pretrained", "--pretrained", f"diffuseexpand={folder}", "--pairs", "4")
    res = invoke(*args)
    flag = "--option pretrained" if verb == "expand" else "--pretrained diffuseexpand"  # the option as typed
    assert_refused(res, f"{flag}: {folder} is no finished `bench pretrain` folder")
    assert not list(out.rglob("*.png"))
