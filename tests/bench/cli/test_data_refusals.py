"""Data that would give a number that looks right and means nothing is refused (or flagged) by ``bench run``."""

from __future__ import annotations

import json
import os

import numpy as np
from cli_checks import assert_refused, invoke, run_args
from synthetic_pairs import disc_folder, write_pair


def test_empty_masks_are_refused_and_the_check_warnings_are_shown(tmp_path):
    data = disc_folder(tmp_path / "empty", empty=True)
    out = tmp_path / "runs"
    res = invoke(*run_args(data, out))
    line = assert_refused(res, "no foreground", "--allow-empty-test", str(data), out=out)
    # one line for the 16 empty masks: the count and the first five
    assert "warning: empty: masks: empty mask (no foreground) in 16 files: p00.png, p01.png, p02.png, p03.png, " \
        "p04.png and 11 more\n" in res.output, res.output
    assert line.startswith("error:")


def test_allow_empty_test_runs_and_says_so_in_results(tmp_path):
    data = disc_folder(tmp_path / "empty", empty=True)
    out = tmp_path / "runs"
    res = invoke(*run_args(data, out, "--allow-empty-test", "--train-option", "epochs=1"))
    assert res.exit_code == 0, res.output
    assert "no foreground pixel" in res.output
    (path,) = out.rglob("results.json")
    results = json.loads(path.read_text())
    assert results["metrics"]["notes"] and "not a segmentation result" in results["metrics"]["notes"][0]
    assert results["dataset"]["check_warnings"] == 1
    rep = invoke("report", "--runs", out, "--out", tmp_path / "rep")
    assert rep.exit_code == 0, rep.output
    assert "(n = 1) †" in (tmp_path / "rep" / "results.md").read_text()
    assert " †" in rep.output and "†: the test split of seed 0" in rep.output


def test_a_clean_run_has_no_notes(discs, tmp_path):
    out = tmp_path / "runs"
    res = invoke(*run_args(discs, out, "--train-option", "epochs=1"))
    assert res.exit_code == 0, res.output
    assert "warning:" not in res.output
    (path,) = out.rglob("results.json")
    results = json.loads(path.read_text())
    assert results["metrics"]["notes"] == [] and results["dataset"]["check_warnings"] == 0
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()  # not the private 0600 of a temporary file
    assert (path.parent / "splits.json").stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_too_few_pairs_are_refused_with_the_minimum(tmp_path):
    for n in (4, 14):  # 14 pairs: a test split of one image
        data = disc_folder(tmp_path / f"n{n}", n=n)
        out = tmp_path / f"runs{n}"
        assert_refused(invoke(*run_args(data, out)), f"{n} pairs are too few", "at least 15 pairs", out=out)


def test_train_ratio_leaving_one_training_pair_is_refused(discs, tmp_path):
    out = tmp_path / "runs"
    assert_refused(invoke(*run_args(discs, out, "--train-ratio", "0.01")), "--train-ratio", "0.01", out=out)


def test_images_smaller_than_the_preset_are_named_by_the_check_and_by_run(discs, tmp_path):
    """A 1 x 1 image would be upscaled to the preset's size without a word: both commands name it and its size."""
    write_pair(discs, "p00", np.full((1, 1), 90, np.uint8), np.full((1, 1), 255, np.uint8))
    res = invoke("datasets", "check", discs, "--preset", "smoke")
    assert res.exit_code == 0, res.output
    assert "warning: images: 1 image(s) smaller than 32x32, the size they are read at, so upscaled: p00.png (1x1)" in (
        res.output
    )
    assert "16 image(s) smaller than 64x64" in invoke("datasets", "check", discs).output  # the cpu preset, as run's
    assert_refused(invoke("datasets", "check", discs, "--preset", "huge"), "unknown preset 'huge'")
    out = tmp_path / "runs"
    res = invoke(*run_args(discs, out, "--train-ratio", "0.01"))  # refused after the check: nothing is trained
    assert_refused(res, "--train-ratio", out=out)
    assert "warning: discs: images: 1 image(s) smaller than 32x32" in res.output and "p00.png (1x1)" in res.output


def test_multiclass_masks_are_refused_by_a_binary_only_method(tmp_path):
    data = disc_folder(tmp_path / "rings", labels=2)
    out = tmp_path / "runs"
    res = invoke(*run_args(data, out, method="joint"))
    assert_refused(res, str(data), "multi-class", "'joint'", "binary masks only", out=out)


def test_dangling_symlink_is_reported_as_a_broken_link(discs, tmp_path):
    (discs / "images" / "p03.png").unlink()
    os.symlink(tmp_path / "gone.png", discs / "images" / "p03.png")
    res = invoke("datasets", "check", discs)
    assert res.exit_code == 1
    assert "images/p03.png (to " in res.output
    assert "gone.png, which does not exist): broken symbolic link" in res.output
    assert "no image images" not in res.output
    out = tmp_path / "runs"
    res = invoke(*run_args(discs, out))
    assert res.exit_code == 2 and "broken symbolic link" in res.output and not out.exists()


def test_jpeg_data_in_a_png_mask_is_named_and_read_with_a_threshold(discs):
    from PIL import Image

    Image.open(discs / "masks" / "p01.png").convert("L").save(discs / "masks" / "p01.png", format="JPEG")
    res = invoke("datasets", "check", discs)
    assert res.exit_code == 1
    assert "error: masks/p01.png: lossy JPEG mask: its edges hold values between 0 and the foreground's; read such " \
        "masks as binary with --mask-threshold 127" in res.output, res.output
    assert "neither" not in res.output  # the one error says what to do
    res = invoke("datasets", "check", discs, "--mask-threshold", "127")
    assert res.exit_code == 0, res.output
    assert "note: masks: read as binary with --mask-threshold 127 (foreground: value > 127), 1 of them lossy (JPEG)" \
        in res.output


def test_check_of_a_missing_folder_claims_nothing_readable(tmp_path):
    res = invoke("datasets", "check", tmp_path / "nowhere")
    assert res.exit_code == 1
    assert "folder does not exist" in res.output
    assert "readable" not in res.output and "binary masks" not in res.output


def test_grey_alpha_images_load_without_their_alpha(tmp_path):
    from bench.data import load_pairs
    from bench.integrity import check

    data = disc_folder(tmp_path / "la")
    grey = np.full((32, 32), 100, np.uint8)
    alpha = np.zeros((32, 32), np.uint8)  # fully transparent: averaging would halve the intensity
    from PIL import Image

    Image.fromarray(np.stack([grey, alpha], axis=2), mode="LA").save(data / "images" / "p00.png")
    assert any("p00.png: grey + alpha image, the alpha channel is ignored" in w for w in check(data).warnings)
    pairs = load_pairs(data, 32)
    assert np.allclose(pairs.images[0].numpy(), 100 / 255, atol=1e-6)


def test_16_bit_images_share_one_scale_per_dataset(tmp_path):
    from bench.data import load_pairs
    from bench.images import read_image
    from bench.integrity import check

    data = disc_folder(tmp_path / "deep", n=2)
    for i, peak in enumerate((4000, 60000)):  # one image alone would be read as 12-bit data, the other as 16-bit
        write_pair(data, f"p{i:02d}", np.full((32, 32), peak, np.uint16), np.full((32, 32), 255, np.uint8))
    assert check(data).scale16 == 65535
    pairs = load_pairs(data, 32)
    assert np.allclose(pairs.images[0].numpy(), 4000 / 65535, atol=1e-5)
    assert np.allclose(pairs.images[1].numpy(), 60000 / 65535, atol=1e-5)
    alone = read_image(data / "images" / "p00.png", 32)  # a lone file keeps its own (12-bit) rule
    assert np.allclose(alone.numpy(), 4000 / 4095, atol=1e-5)


def test_mixed_bit_depths_are_a_warning(tmp_path):
    from bench.integrity import check

    data = disc_folder(tmp_path / "mixed", n=3)
    write_pair(data, "p00", np.full((32, 32), 3000, np.uint16), np.full((32, 32), 255, np.uint8))
    warnings = check(data).warnings
    assert any("8-bit image(s)" in w and "16-bit image(s) (e.g. p00.png)" in w and "4095" in w for w in warnings)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_metrics_names_a_file_that_is_not_an_image(discs, tmp_path):
    generated = tmp_path / "generated"
    generated.mkdir()
    (generated / "g00.png").write_bytes(b"not a png")
    res = invoke("metrics", "--real", discs, "--generated", generated, "--image-size", "32")
    assert_refused(res, str(generated / "g00.png"), "not a readable image")
