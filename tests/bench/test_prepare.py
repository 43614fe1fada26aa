"""Tests for bench/prepare.py on tiny fake copies of the COVID-19 and CGMH Pelvis inputs."""

from __future__ import annotations

import csv
import importlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench import prepare
from bench.integrity import check
from bench.pairs import DatasetError
from bench.prepare import PrepareReport, prepare_cgmh_pelvis, prepare_covid19

H, W = 24, 32


def _img(seed: int, shape: tuple[int, int] = (H, W)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _v7_mask(shape: tuple[int, int] = (H, W), lung: bool = True) -> np.ndarray:
    """0 background, 127 'ignore', 255 lung (both lungs as two blocks)."""
    m = np.zeros(shape, np.uint8)
    m[: shape[0] // 4, :] = 127
    if lung:
        m[shape[0] // 3 :, 2:8] = 255
        m[shape[0] // 3 :, -8:-2] = 255
    return m


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


# (filename, view, finding, image kind, mask kind); image/mask kinds drive what is written.
COVID_ROWS = [
    ("a.png", "PA", "Pneumonia/Viral/COVID-19", "gray", "lung"),
    ("b.jpg", "AP", "No Finding", "rgb", "lung"),
    ("c.png", "L", "Pneumonia/Viral/COVID-19", "gray", "lung"),
    ("d.png", "PA", "todo", "gray", "lung"),
    ("e.png", "AP", "Unknown", "gray", "lung"),
    ("e2.png", "AP", "UNKNOWN", "gray", "lung"),
    ("f.png", "AP Supine", "Pneumonia/Viral/COVID-19", "gray", "lung"),
    ("g.png", "PA", "Pneumonia", "gray", "empty"),
    ("Case.png", "PA", "Pneumonia", "gray", "lowercase-member"),
    ("missing.png", "PA", "Pneumonia", "none", "lung"),
    ("a.png", "PA", "Pneumonia/Viral/COVID-19", "gray", "lung"),
    ("k.png", "PA", "Pneumonia/Bacterial", "16bit", "lung"),
    ("m.png", "AP", "Pneumonia/Viral/COVID-19", "gray", "bigger"),
    ("n.png", "PA", "Pneumonia", "corrupt", "lung"),
    ("ct.png", "Axial", "Pneumonia/Viral/COVID-19", "gray", "none"),
]


@pytest.fixture
def covid_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """A fake covid-chestxray-dataset clone and a fake v7labs mask zip."""
    repo = tmp_path / "covid-chestxray-dataset"
    (repo / "images").mkdir(parents=True)
    with open(repo / "metadata.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["patientid", "offset", "finding", "view", "modality", "folder", "filename", "license", ""])
        for i, (name, view, finding, *_) in enumerate(COVID_ROWS):
            writer.writerow([i, "", finding, view, "X-ray", "images", name, "CC BY", ""])
    zip_path = tmp_path / "semantic_masks_v7labs_lungs.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("semantic_masks_v7labs_lungs/", b"")
        written = set()
        for i, (name, _, _, image_kind, mask_kind) in enumerate(COVID_ROWS):
            if name in written:  # a duplicate metadata row: one file only
                continue
            written.add(name)
            path = repo / "images" / name
            if image_kind == "gray":
                Image.fromarray(_img(i)).save(path, format="PNG")
            elif image_kind == "rgb":
                Image.fromarray(np.dstack([_img(i)] * 3)).save(path, format="JPEG")
            elif image_kind == "16bit":
                Image.fromarray(np.linspace(0, 65535, H * W).reshape(H, W).astype(np.uint16)).save(path)
            elif image_kind == "corrupt":
                path.write_bytes(b"not an image")
            member = f"semantic_masks_v7labs_lungs/{name}"
            if mask_kind == "lung":
                zf.writestr(member, _png_bytes(_v7_mask()))
            elif mask_kind == "empty":
                zf.writestr(member, _png_bytes(_v7_mask(lung=False)))
            elif mask_kind == "lowercase-member":
                zf.writestr(member.lower(), _png_bytes(_v7_mask()))
            elif mask_kind == "bigger":
                zf.writestr(member, _png_bytes(_v7_mask((2 * H, 2 * W))))
    return repo, zip_path


EXPECTED_SKIPS = {
    "duplicate_row": 1,
    "view": 3,
    "finding": 3,
    "empty_mask": 1,
    "no_mask": 1,
    "no_image": 1,
    "unreadable": 1,
}


def test_prepare_covid19_filters_and_converts(covid_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    repo, zip_path = covid_inputs
    out = tmp_path / "data" / "covid19"
    rep = prepare_covid19(repo, out, masks_zip=zip_path)
    assert isinstance(rep, PrepareReport)
    assert rep.kept == 4 and rep.out == out and rep.masks_resized == 1
    assert rep.skipped_by_reason == EXPECTED_SKIPS

    result = check(out)
    assert result.ok and result.warnings == []
    assert result.ids == ["a", "b", "k", "m"]
    for k in result.ids:
        with Image.open(out / "images" / f"{k}.png") as im:
            assert im.mode == "L" and im.size == (W, H)  # native size kept
        with Image.open(out / "masks" / f"{k}.png") as im:
            assert im.mode == "L" and im.size == (W, H)
    mask = np.asarray(Image.open(out / "masks" / "a.png"))
    assert np.array_equal(mask, np.where(_v7_mask() == 255, 255, 0))  # 127 ('ignore') became background
    assert np.array_equal(np.asarray(Image.open(out / "images" / "a.png")), _img(0))
    k16 = np.asarray(Image.open(out / "images" / "k.png"))
    assert k16.dtype == np.uint8 and k16.min() == 0 and k16.max() == 255
    resized = np.asarray(Image.open(out / "masks" / "m.png"))
    assert set(np.unique(resized).tolist()) == {0, 255}
    assert abs((resized > 0).mean() - (_v7_mask((2 * H, 2 * W)) == 255).mean()) < 0.02

    source = (out / "SOURCE.md").read_text()
    assert "Pairs written: 4" in source and "empty_mask: 1" in source and "ieee8023" in source
    assert sorted(p.name for p in out.parent.iterdir()) == ["covid19"]  # no temporary folder left


def test_prepare_covid19_keep_supine(covid_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    repo, zip_path = covid_inputs
    rep = prepare_covid19(repo, tmp_path / "out", masks_zip=zip_path, keep_supine=True)
    assert rep.kept == 5 and rep.skipped_by_reason["view"] == 2
    assert (tmp_path / "out" / "images" / "f.png").is_file()


def test_prepare_covid19_finds_zip_without_importing_torchxrayvision(
    covid_inputs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, zip_path = covid_inputs
    package = tmp_path / "site" / "torchxrayvision"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('torchxrayvision must not be imported')\n")
    (package / "data" / zip_path.name).write_bytes(zip_path.read_bytes())
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    assert prepare.default_covid_masks_zip() == package / "data" / zip_path.name
    rep = prepare_covid19(repo, tmp_path / "out")
    assert rep.kept == 4
    assert "torchxrayvision" not in sys.modules


def test_prepare_covid19_without_torchxrayvision(
    covid_inputs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        prepare.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torchxrayvision" else real_find_spec(name, *a),
    )
    with pytest.raises(DatasetError, match="pip install torchxrayvision") as err:
        prepare_covid19(covid_inputs[0], tmp_path / "out")
    assert "--masks-zip" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_prepare_covid19_bad_inputs(covid_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    repo, zip_path = covid_inputs
    with pytest.raises(DatasetError, match="metadata.csv"):
        prepare_covid19(tmp_path / "nope", tmp_path / "out", masks_zip=zip_path)
    with pytest.raises(DatasetError, match="mask zip not found"):
        prepare_covid19(repo, tmp_path / "out", masks_zip=tmp_path / "missing.zip")
    (repo / "metadata.csv").write_text("patientid,name\n1,x.png\n")
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['filename', 'view', 'finding'\]"):
        prepare_covid19(repo, tmp_path / "out", masks_zip=zip_path)
    (repo / "metadata.csv").write_text("filename,view,finding\nc.png,L,COVID-19\n")
    with pytest.raises(DatasetError, match="no COVID-19 pair left"):
        prepare_covid19(repo, tmp_path / "out", masks_zip=zip_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["covid-chestxray-dataset", zip_path.name]


def test_prepare_refuses_unrelated_output_but_reruns(covid_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    repo, zip_path = covid_inputs
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="was not written by"):
        prepare_covid19(repo, precious, masks_zip=zip_path)
    assert (precious / "notes.txt").read_text() == "keep me"
    out = tmp_path / "out"
    prepare_covid19(repo, out, masks_zip=zip_path)
    (out / "images" / "stale.png").write_bytes(b"x")
    assert prepare_covid19(repo, out, masks_zip=zip_path).kept == 4
    assert not (out / "images" / "stale.png").exists()


# ----------------------------------------------------------------------------------------------------------
# CGMH Pelvis
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def cgmh_root(tmp_path: Path) -> Path:
    root = tmp_path / "CGMH_PelvisSegment"
    (root / "Image").mkdir(parents=True)
    (root / "Label").mkdir()
    label = np.zeros((H, W), np.uint8)
    label[8:20, 4:28] = 1
    Image.fromarray(np.dstack([_img(1)] * 3)).save(root / "Image" / "p02.png")  # RGB image
    Image.fromarray(label * 255).save(root / "Label" / "p02.png")  # 0/255 label
    Image.fromarray(_img(0)).save(root / "Image" / "p01.png")
    Image.fromarray(label).save(root / "Label" / "p01.png")  # 0/1 label
    Image.fromarray(_img(2)).save(root / "Image" / "p03.png")
    Image.fromarray(np.zeros((H, W), np.uint8)).save(root / "Label" / "p03.png")  # empty
    Image.fromarray(_img(3)).save(root / "Image" / "only_image.png")
    Image.fromarray(label).save(root / "Label" / "only_label.png")
    Image.fromarray(_img(4)).save(root / "Image" / "p04.png")
    Image.fromarray(np.kron(label, np.ones((2, 2), np.uint8)) * 255).save(root / "Label" / "p04.png")  # 2x size
    (root / "Image" / ".DS_Store").write_bytes(b"")
    return root


def test_prepare_cgmh_pelvis(cgmh_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "cgmh-pelvis"
    rep = prepare_cgmh_pelvis(cgmh_root, out)
    assert rep.kept == 3 and rep.masks_resized == 1
    assert rep.skipped_by_reason == {"empty_mask": 1, "no_image": 1, "no_label": 1}
    result = check(out)
    assert result.ok and result.ids == ["p01", "p02", "p04"]
    expected = np.zeros((H, W), np.uint8)
    expected[8:20, 4:28] = 255
    for k in result.ids:
        assert np.array_equal(np.asarray(Image.open(out / "masks" / f"{k}.png")), expected)
        with Image.open(out / "images" / f"{k}.png") as im:
            assert im.mode == "L" and im.size == (W, H)
    assert np.array_equal(np.asarray(Image.open(out / "images" / "p02.png")), _img(1))
    assert "Pairs written: 3" in (out / "SOURCE.md").read_text()


@pytest.mark.parametrize("missing", ["Image", "Label"])
def test_prepare_cgmh_pelvis_names_missing_folder(cgmh_root: Path, tmp_path: Path, missing: str) -> None:
    for p in (cgmh_root / missing).iterdir():
        p.unlink()
    (cgmh_root / missing).rmdir()
    with pytest.raises(DatasetError, match=f"{missing}: missing folder"):
        prepare_cgmh_pelvis(cgmh_root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_prepare_cgmh_pelvis_without_pairs(tmp_path: Path) -> None:
    (tmp_path / "root" / "Image").mkdir(parents=True)
    (tmp_path / "root" / "Label").mkdir()
    with pytest.raises(DatasetError, match="no image-label pair"):
        prepare_cgmh_pelvis(tmp_path / "root", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]
