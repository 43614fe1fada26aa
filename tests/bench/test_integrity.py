"""The folder check (bench/integrity.py): every problem at once, named by file; warnings that are not errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pair_files import SIZE, gradient, pair_folder, put, shipped_folder, square_mask
from PIL import Image

from bench import integrity
from bench.data import load_pairs
from bench.integrity import check
from bench.masks import MaskReading
from bench.pairs import DatasetError


def _errors_about(rep: integrity.CheckReport, needle: str) -> list[str]:
    return [e for e in rep.errors if needle in e]


def test_check_accepts_a_clean_folder(tmp_path: Path) -> None:
    rep = check(pair_folder(tmp_path, ["a", "b", "c"]))
    assert rep.ok and rep.errors == [] and rep.warnings == []
    assert rep.ids == ["a", "b", "c"]
    assert rep.mask_kind == "binary"


def test_check_reports_every_problem_by_file_name(broken_folder: Path) -> None:
    rep = check(broken_folder)
    assert not rep.ok
    assert len(_errors_about(rep, "images/corrupt.png")) == 1
    assert "corrupt" in _errors_about(rep, "images/corrupt.png")[0]
    assert len(_errors_about(rep, "images/lonely.png")) == 1
    assert "no mask masks/<id>.*" in _errors_about(rep, "images/lonely.png")[0]
    bad = _errors_about(rep, "masks/badvalues.png")
    assert len(bad) == 1 and "(values 0, 1, 2, 7)" in bad[0]
    assert not any("good1" in e or "good2" in e for e in rep.errors)
    assert "good1" in rep.ids and "good2" in rep.ids and "corrupt" not in rep.ids and "lonely" not in rep.ids
    with pytest.raises(DatasetError) as err:
        rep.raise_for_errors()
    for name in ("corrupt.png", "lonely.png", "badvalues.png"):
        assert name in str(err.value)


def test_check_reports_no_spurious_errors(broken_folder: Path) -> None:
    rep = check(broken_folder)
    assert len(rep.errors) == 3, rep.errors


def test_check_unmatched_mask(tmp_path: Path) -> None:
    pair_folder(tmp_path, ["a"])
    put(tmp_path, "masks", "orphan.png", square_mask())
    rep = check(tmp_path)
    assert rep.errors == ["masks/orphan.png: no image images/<id>.*"]


def test_check_size_mismatch(tmp_path: Path) -> None:
    pair_folder(tmp_path, ["a"])
    put(tmp_path, "images", "b.png", gradient(1, 32))
    put(tmp_path, "masks", "b.png", square_mask(16))
    rep = check(tmp_path)
    assert rep.errors == ["images/b.png (32x32, masks/b.png 16x16): image and mask sizes differ"]


def test_check_rgba_mask_is_an_error(tmp_path: Path) -> None:
    pair_folder(tmp_path, ["a"])
    put(tmp_path, "images", "b.png", gradient(1))
    rgba = np.dstack([square_mask()] * 3 + [np.full((SIZE, SIZE), 255, np.uint8)])
    put(tmp_path, "masks", "b.png", rgba)
    rep = check(tmp_path)
    assert len(rep.errors) == 1 and "masks/b.png: RGBA mask" in rep.errors[0]


def test_check_rgba_image_is_a_warning(tmp_path: Path) -> None:
    pair_folder(tmp_path, ["a"])
    rgba = np.dstack([gradient(1)] * 3 + [np.full((SIZE, SIZE), 255, np.uint8)])
    put(tmp_path, "images", "b.png", rgba)
    put(tmp_path, "masks", "b.png", square_mask())
    rep = check(tmp_path)
    assert rep.ok
    assert any("images/b.png: RGBA image" in w for w in rep.warnings)
    assert "b" in rep.ids


def test_check_empty_mask_is_a_warning(tmp_path: Path) -> None:
    pair_folder(tmp_path, ["a"])
    put(tmp_path, "images", "b.png", gradient(1))
    put(tmp_path, "masks", "b.png", np.zeros((SIZE, SIZE), np.uint8))
    rep = check(tmp_path)
    assert rep.ok
    assert rep.warnings == ["masks/b.png: empty mask (no foreground)"]


def test_check_duplicate_pair_is_a_warning(tmp_path: Path) -> None:
    pair_folder(tmp_path, ["a"])
    put(tmp_path, "images", "copy.png", gradient(0))
    put(tmp_path, "masks", "copy.png", square_mask())
    rep = check(tmp_path)
    assert rep.ok
    assert rep.warnings == ["images/copy (= a): duplicate pairs (identical image and mask)"]


def test_check_images_smaller_than_the_training_size_are_one_warning(tmp_path: Path) -> None:
    """A 1 x 1 image is upscaled to the preset's size without a word unless the check names it."""
    pair_folder(tmp_path, [f"p{i}" for i in range(7)])
    put(tmp_path, "images", "tiny.png", gradient(8, size=1))
    put(tmp_path, "masks", "tiny.png", np.full((1, 1), 255, np.uint8))
    put(tmp_path, "images", "wide.png", gradient(9)[:8])  # 32 wide, 8 high: small on one side is enough
    put(tmp_path, "masks", "wide.png", square_mask()[8:16])
    assert check(tmp_path).warnings == [] and check(tmp_path, image_size=1).warnings == []  # 1 x 1 is not smaller
    rep = check(tmp_path, image_size=SIZE)
    assert rep.ok and "tiny" in rep.ids
    assert rep.warnings == [
        "images: 2 image(s) smaller than 32x32, the size they are read at, so upscaled: tiny.png (1x1), "
        "wide.png (32x8)"
    ]
    (warning,) = check(tmp_path, image_size=2 * SIZE).warnings  # all nine: the first five named, then a count
    assert warning.startswith("images: 9 image(s) smaller than 64x64")
    assert warning.endswith(": " + ", ".join(f"p{i}.png (32x32)" for i in range(5)) + " and 4 more")


def test_check_missing_folders(tmp_path: Path) -> None:
    rep = check(tmp_path / "nowhere")
    assert len(rep.errors) == 1 and "folder does not exist" in rep.errors[0]
    rep = check(tmp_path)
    assert len(rep.errors) == 2
    assert any("images: missing folder" in e for e in rep.errors)
    assert any("masks: missing folder" in e for e in rep.errors)
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rep = check(tmp_path)
    assert len(rep.errors) == 1 and "no image-mask pairs found" in rep.errors[0]


def test_check_lossy_mask_is_an_error_and_lossy_image_a_warning(tmp_path: Path) -> None:
    pair_folder(tmp_path, ["a"])
    Image.fromarray(gradient(1)).save(tmp_path / "images" / "photo.jpg", quality=90)
    put(tmp_path, "masks", "photo.png", square_mask())
    rep = check(tmp_path)
    assert rep.ok
    assert rep.warnings == ["images/photo.jpg: lossy JPEG format"]

    put(tmp_path, "images", "b.png", gradient(2))
    Image.fromarray(np.roll(square_mask(), 3, axis=1)).save(tmp_path / "masks" / "b.jpg", quality=90)
    rep = check(tmp_path)
    (error,) = rep.errors  # edges off JPEG's 8 x 8 blocks blur
    assert error.startswith("masks/b.jpg: lossy JPEG mask")
    assert error.endswith("--mask-threshold 127 (foreground: value > 127)")


def test_check_two_files_for_one_id(tmp_path: Path) -> None:
    pair_folder(tmp_path, ["a"])
    put(tmp_path, "images", "a.bmp", gradient(3))
    rep = check(tmp_path)
    assert rep.errors == ["images/a (a.bmp, a.png): one id, several files"]


def test_check_multiclass_folder(tmp_path: Path) -> None:
    for i in range(2):
        labels = np.zeros((SIZE, SIZE), np.uint8)
        labels[:8], labels[8:16], labels[16:24] = 1, 2, 3
        put(tmp_path, "images", f"m{i}.png", gradient(i))
        put(tmp_path, "masks", f"m{i}.png", labels)
    rep = check(tmp_path)
    assert rep.ok and rep.mask_kind == "multiclass"


def test_check_label_masks_may_miss_a_class_but_not_leave_a_folder_gap(tmp_path: Path) -> None:
    for i, values in enumerate(([0, 2], [0, 1])):
        m = np.zeros((SIZE, SIZE), np.uint8)
        m[:4, :4], m[-4:, -4:] = values
        put(tmp_path / "ok", "images", f"p{i}.png", gradient(i))
        put(tmp_path / "ok", "masks", f"p{i}.png", m)
    rep = check(tmp_path / "ok")
    assert rep.ok, rep.errors
    assert rep.mask_kind == "multiclass"
    m = np.zeros((SIZE, SIZE), np.uint8)
    m[:4, :4] = 5
    put(tmp_path / "ok", "images", "gap.png", gradient(9))
    put(tmp_path / "ok", "masks", "gap.png", m)
    rep = check(tmp_path / "ok")
    assert len(rep.errors) == 1 and "gap.png" in rep.errors[0] and "consecutive" in rep.errors[0]
    # a generated set need not draw every class: loaded as synthetic, the gap is no error
    assert check(tmp_path / "ok", label_gaps=True).ok
    assert int(load_pairs(tmp_path / "ok", SIZE, synthetic=True).masks.max()) == 5
    with pytest.raises(DatasetError, match="consecutive"):
        load_pairs(tmp_path / "ok", SIZE)


def test_check_mixed_0_1_and_0_255_binary_masks_are_fine(tmp_path: Path) -> None:
    pair_folder(tmp_path, ["a"])
    put(tmp_path, "images", "b.png", gradient(5))
    put(tmp_path, "masks", "b.png", square_mask(value=1))
    rep = check(tmp_path)
    assert rep.ok and rep.mask_kind == "binary"


def test_check_two_valued_masks_are_binary_for_any_value_with_one_note(tmp_path: Path) -> None:
    rep = check(shipped_folder(tmp_path, 7, value=128))
    assert rep.ok and rep.errors == [] and rep.warnings == [] and rep.mask_kind == "binary"
    assert rep.notes == ["masks: every mask holds 0 and 128 only: read as binary masks, 128 = foreground"]
    assert check(shipped_folder(tmp_path / "plain", 3)).notes == []  # 0/255 masks need no word


def test_check_each_problem_is_one_line_with_its_count_and_five_names(tmp_path: Path) -> None:
    pair_folder(tmp_path, [f"p{i}" for i in range(8)])
    for i in range(7):
        put(tmp_path, "masks", f"p{i}.png", np.zeros((SIZE, SIZE), np.uint8))
    rep = check(tmp_path)
    assert rep.ok
    assert rep.warnings == [
        "masks: empty mask (no foreground) in 7 files: p0.png, p1.png, p2.png, p3.png, p4.png and 2 more"
    ]


def test_check_lossy_jpeg_masks_are_one_error_that_says_what_to_do(tmp_path: Path) -> None:
    rep = check(shipped_folder(tmp_path, 7, mask_ext=".jpg"))
    assert rep.errors == [
        "masks: lossy JPEG mask: its edges hold values between 0 and the foreground's in 7 files: c00.jpg, c01.jpg, "
        "c02.jpg, c03.jpg, c04.jpg and 2 more; read such masks as binary with --mask-threshold 127 (foreground: "
        "value > 127)"
    ]
    rep = check(tmp_path, reading=MaskReading(threshold=127))
    assert rep.ok and rep.warnings == [] and rep.mask_kind == "binary"
    assert rep.notes == [
        "masks: read as binary with --mask-threshold 127 (foreground: value > 127), 7 of them lossy (JPEG)"
    ]


def test_check_masks_named_with_a_suffix_are_paired_by_it_and_the_error_suggests_it(tmp_path: Path) -> None:
    shipped_folder(tmp_path, 6, suffix="_segmentation")
    rep = check(tmp_path)
    unpaired = [e for e in rep.errors if e.startswith("masks:")]
    assert unpaired == [
        "masks: no image images/<id>.* in 6 files: c00_segmentation.png, c01_segmentation.png, c02_segmentation.png, "
        "c03_segmentation.png, c04_segmentation.png and 1 more; 6 mask name(s) add '_segmentation' to an image's: "
        "pass --mask-suffix _segmentation"
    ]
    assert len(rep.errors) == 2 and rep.errors[0].startswith("images: no mask masks/<id>.* in 6 files: c00.png")
    rep = check(tmp_path, reading=MaskReading(suffix="_segmentation"))
    assert rep.ok and rep.ids == [f"c{i:02d}" for i in range(6)]
    assert rep.mask_files["c03"] == "c03_segmentation.png"
    rep = check(tmp_path, reading=MaskReading(suffix="_seg"))  # a wrong suffix: the names say the right one
    assert rep.errors[-1] == (
        "masks: name does not end in --mask-suffix '_seg' in 6 files: c00_segmentation.png, c01_segmentation.png, "
        "c02_segmentation.png, c03_segmentation.png, c04_segmentation.png and 1 more; 6 mask name(s) add "
        "'_segmentation' to an image's: pass --mask-suffix _segmentation"
    )


def test_check_blurred_png_masks_are_one_error_suggesting_the_threshold(tmp_path: Path) -> None:
    pair_folder(tmp_path, [f"p{i}" for i in range(3)])
    for i in range(3):
        blurred = square_mask()
        blurred[SIZE // 4 - 1] = 100  # a resized mask's soft edge
        put(tmp_path, "masks", f"p{i}.png", blurred)
    assert check(tmp_path).errors == [
        "masks: values are neither two-valued 0/v nor labels 0..K in 3 files: p0.png (values 0, 100, 255), p1.png "
        "(values 0, 100, 255), p2.png (values 0, 100, 255); if they are binary masks blurred by resizing or "
        "compression, read them with --mask-threshold 127"
    ]
    assert check(tmp_path, reading=MaskReading(threshold=127)).ok
