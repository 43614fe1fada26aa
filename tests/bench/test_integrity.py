"""The folder check (bench/integrity.py): every problem at once, named by file; warnings that are not errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pair_files import SIZE, gradient, pair_folder, put, square_mask
from PIL import Image

from bench import integrity
from bench.data import load_pairs
from bench.integrity import check
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
    assert "no matching mask" in _errors_about(rep, "images/lonely.png")[0]
    bad = _errors_about(rep, "masks/badvalues.png")
    assert len(bad) == 1 and "[0, 1, 2, 7]" in bad[0]
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
    assert rep.errors == ["masks/orphan.png: no matching image images/orphan.png"]


def test_check_size_mismatch(tmp_path: Path) -> None:
    pair_folder(tmp_path, ["a"])
    put(tmp_path, "images", "b.png", gradient(1, 32))
    put(tmp_path, "masks", "b.png", square_mask(16))
    rep = check(tmp_path)
    assert len(rep.errors) == 1
    assert rep.errors[0].startswith("b: image size 32x32 != mask size 16x16")


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
    assert rep.warnings == ["copy: duplicate of pair 'a' (identical image and mask)"]


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
    assert any("images/photo.jpg: lossy format .jpg" in w for w in rep.warnings)

    put(tmp_path, "images", "b.png", gradient(2))
    Image.fromarray(square_mask()).save(tmp_path / "masks" / "b.jpg", quality=90)
    rep = check(tmp_path)
    assert any("masks/b.jpg: lossy format .jpg corrupts label values" in e for e in rep.errors)


def test_check_two_files_for_one_id(tmp_path: Path) -> None:
    pair_folder(tmp_path, ["a"])
    put(tmp_path, "images", "a.bmp", gradient(3))
    rep = check(tmp_path)
    assert any("id 'a' has several files" in e for e in rep.errors)


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
