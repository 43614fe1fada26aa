"""``--mask-threshold`` and ``--mask-suffix`` through every verb that reads a pair-set folder: masks as public sets
ship them (0/128, lossy JPEG, ``<id>_segmentation.png``), checked once per folder and read as asked."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_checks import assert_refused, invoke, run_args
from pair_files import disc_mask, shipped_folder
from PIL import Image


def _check_lines(res) -> list[str]:
    return [line for line in res.output.splitlines() if line.startswith(("error:", "warning:", "note:"))]


def test_check_names_two_valued_masks_once_and_passes(tmp_path):
    res = invoke("datasets", "check", shipped_folder(tmp_path, 7, value=128), "--preset", "smoke")
    assert res.exit_code == 0, res.output
    assert _check_lines(res) == [
        "note: masks: every mask holds 0 and 128 only: read as binary masks, 128 = foreground"
    ]
    assert "7 pairs, binary masks, 0 warning(s)" in res.output


def test_check_of_jpeg_masks_is_one_error_suggesting_the_threshold(tmp_path):
    folder = shipped_folder(tmp_path, 9, mask_ext=".jpg")
    res = invoke("datasets", "check", folder, "--preset", "smoke")
    assert res.exit_code == 1
    (line,) = _check_lines(res)
    assert line.startswith("error: masks: lossy JPEG mask") and "in 9 files: c00.jpg, c01.jpg, c02.jpg" in line
    assert "c04.jpg and 4 more; read such masks as binary with --mask-threshold 127" in line
    res = invoke("datasets", "check", folder, "--preset", "smoke", "--mask-threshold", "127")
    assert res.exit_code == 0, res.output
    assert _check_lines(res) == [
        "note: masks: read as binary with --mask-threshold 127 (foreground: value > 127), 9 of them lossy (JPEG)"
    ]


def test_check_of_suffixed_masks_suggests_the_suffix_and_pairs_by_it(tmp_path):
    folder = shipped_folder(tmp_path, 3, suffix="_segmentation")
    res = invoke("datasets", "check", folder, "--preset", "smoke")
    assert res.exit_code == 1
    lines = _check_lines(res)
    assert len(lines) == 2 and lines[1].endswith(
        "3 mask name(s) add '_segmentation' to an image's: pass --mask-suffix _segmentation"
    )
    res = invoke("datasets", "check", folder, "--preset", "smoke", "--mask-suffix", "_segmentation")
    assert res.exit_code == 0, res.output
    assert "3 pairs, binary masks" in res.output


def _verbs(data, out):
    return {
        "datasets check": ["datasets", "check", data],
        "run": run_args(data, out),
        "expand": ["expand", "--method", "diffuseexpand", "--dataset", data, "--n", "4", "--out", out],
        "pretrain": ["pretrain", "--dataset", data, "--out", out],
        "export": ["export", "nnunet", "--real", data, "--dataset-id", "9", "--name", "M", "--out", out],
    }


@pytest.mark.parametrize("verb", ["datasets check", "run", "expand", "pretrain", "export"])
@pytest.mark.parametrize(
    ("flag", "value"), [("--mask-threshold", "-1"), ("--mask-threshold", "300"), ("--mask-suffix", "a/b")]
)
def test_a_bad_value_is_one_line_naming_the_option_before_any_work(discs, tmp_path, verb, flag, value):
    out = tmp_path / "out"
    res = invoke(*_verbs(discs, out)[verb], flag, value)
    line = assert_refused(res, flag, value, out=out)
    assert line.startswith(f"error: {flag}")


def test_a_run_reads_jpeg_masks_with_the_threshold_and_names_its_runs_by_it(tmp_path):
    folder = shipped_folder(tmp_path / "kvasir", 16, mask_ext=".jpg")
    out = tmp_path / "runs"
    res = invoke(*run_args(folder, out, "--train-option", "epochs=1"))
    assert res.exit_code == 2 and "--mask-threshold 127" in res.output and not out.exists()
    res = invoke(*run_args(folder, out, "--train-option", "epochs=1", "--mask-threshold", "127"))
    assert res.exit_code == 0, res.output
    (path,) = out.rglob("results.json")
    assert "__mask_threshold=127" in path.parent.parent.parent.name  # not the folder of masks read as stored
    from bench.data import fingerprint, load_pairs
    from bench.masks import MaskReading

    split = json.loads((path.parent / "splits.json").read_text())
    train = load_pairs(folder, 32, reading=MaskReading(threshold=127)).subset(split["train"])
    assert json.loads(path.read_text())["dataset"]["fingerprint"] == fingerprint(train)


def test_the_runner_and_expand_read_masks_as_asked(tmp_path):
    from bench.expand.request import ExpandRequest, run_request
    from bench.masks import MaskReading
    from bench.runner.dataset import load_data
    from bench.runner.planning import plan
    from bench.runner.request import Request

    folder = shipped_folder(tmp_path / "isic", 16, mask_ext=".jpg", suffix="_segmentation")
    reading = MaskReading(127, "_segmentation")
    req = Request(method="origin", dataset=str(folder), preset="smoke", masks=reading)
    data = load_data(req.dataset, plan(req), 1, lambda _: None, reading=req.masks)
    intended = np.stack([disc_mask(i) > 0 for i in range(16)])
    assert np.array_equal(data.pairs.masks.numpy(), intended)
    assert plan(req).settings == "mask_suffix=_segmentation,mask_threshold=127"
    assert plan(Request(method="origin", preset="smoke")).settings == ""
    expand = ExpandRequest(method="diffuseexpand", dataset=str(folder), n=4, out=tmp_path / "x", masks=reading)
    assert run_request(expand).masks == reading


def test_export_writes_jpeg_masks_thresholded_as_labels(tmp_path):
    folder = shipped_folder(tmp_path / "kvasir", 6, mask_ext=".jpg")
    out = tmp_path / "raw"
    base = ("export", "nnunet", "--real", folder, "--dataset-id", "9", "--name", "K", "--out", out, "--folds", "2")
    res = invoke(*base)
    assert res.exit_code == 2 and "--mask-threshold 127" in res.output
    res = invoke(*base, "--mask-threshold", "127")
    assert res.exit_code == 0, res.output
    for i in range(6):
        label = np.asarray(Image.open(out / "Dataset009_K" / "labelsTr" / f"real_c{i:02d}.png"))
        assert np.array_equal(label, (disc_mask(i) > 0).astype(np.uint8))


def test_pretrain_checks_its_data_with_the_mask_options(tmp_path):
    folder = shipped_folder(tmp_path / "kvasir", 6, mask_ext=".jpg")
    res = invoke("pretrain", "--dataset", folder, "--out", tmp_path / "pre", "--preset", "smoke")
    assert res.exit_code == 2 and "--mask-threshold 127" in res.output
