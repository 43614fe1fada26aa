"""Tests for the pair-set files: integrity check (bench.integrity), readers (bench.images), save/load
(bench.data), splits (bench.splits), dataset cards and their resolution (bench.cards)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import bench.phantom
from bench import images, integrity
from bench.cards import load_cards, resolve_dataset
from bench.data import load_pairs, save_pairs
from bench.integrity import check
from bench.pairs import DatasetError, PairSet
from bench.splits import FULL_RATIO, make_split

SIZE = 32


def _gradient(seed: int = 0, size: int = SIZE) -> np.ndarray:
    """A distinct 8-bit image per seed."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(size, size), dtype=np.uint8)


def _square_mask(size: int = SIZE, value: int = 255) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    m[size // 4 : size // 2, size // 4 : 3 * size // 4] = value
    return m


def _put(root: Path, sub: str, name: str, arr: np.ndarray, mode: str | None = None) -> Path:
    (root / sub).mkdir(parents=True, exist_ok=True)
    path = root / sub / name
    Image.fromarray(arr, mode=mode).save(path) if mode else Image.fromarray(arr).save(path)
    return path


def _pair_folder(root: Path, ids: list[str]) -> Path:
    for i, k in enumerate(ids):
        _put(root, "images", f"{k}.png", _gradient(i))
        _put(root, "masks", f"{k}.png", _square_mask())
    return root


def _errors_about(rep: integrity.CheckReport, needle: str) -> list[str]:
    return [e for e in rep.errors if needle in e]


# ----------------------------------------------------------------------------------------------------------
# check()
# ----------------------------------------------------------------------------------------------------------


def test_check_accepts_a_clean_folder(tmp_path: Path) -> None:
    rep = check(_pair_folder(tmp_path, ["a", "b", "c"]))
    assert rep.ok and rep.errors == [] and rep.warnings == []
    assert rep.ids == ["a", "b", "c"]
    assert rep.mask_kind == "binary"


@pytest.fixture
def broken_folder(tmp_path: Path) -> Path:
    """Two good pairs plus a corrupt image, an image without mask and a mask with values 0/1/2/7."""
    _pair_folder(tmp_path, ["good1", "good2"])
    (tmp_path / "images" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not image data")
    _put(tmp_path, "masks", "corrupt.png", _square_mask())
    _put(tmp_path, "images", "lonely.png", _gradient(5))
    labels = np.zeros((SIZE, SIZE), np.uint8)
    labels[0:4], labels[4:8], labels[8:12] = 1, 2, 7
    _put(tmp_path, "images", "badvalues.png", _gradient(6))
    _put(tmp_path, "masks", "badvalues.png", labels)
    return tmp_path


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
    _pair_folder(tmp_path, ["a"])
    _put(tmp_path, "masks", "orphan.png", _square_mask())
    rep = check(tmp_path)
    assert rep.errors == ["masks/orphan.png: no matching image images/orphan.png"]


def test_check_size_mismatch(tmp_path: Path) -> None:
    _pair_folder(tmp_path, ["a"])
    _put(tmp_path, "images", "b.png", _gradient(1, 32))
    _put(tmp_path, "masks", "b.png", _square_mask(16))
    rep = check(tmp_path)
    assert len(rep.errors) == 1
    assert rep.errors[0].startswith("b: image size 32x32 != mask size 16x16")


def test_check_rgba_mask_is_an_error(tmp_path: Path) -> None:
    _pair_folder(tmp_path, ["a"])
    _put(tmp_path, "images", "b.png", _gradient(1))
    rgba = np.dstack([_square_mask()] * 3 + [np.full((SIZE, SIZE), 255, np.uint8)])
    _put(tmp_path, "masks", "b.png", rgba)
    rep = check(tmp_path)
    assert len(rep.errors) == 1 and "masks/b.png: RGBA mask" in rep.errors[0]


def test_check_rgba_image_is_a_warning(tmp_path: Path) -> None:
    _pair_folder(tmp_path, ["a"])
    rgba = np.dstack([_gradient(1)] * 3 + [np.full((SIZE, SIZE), 255, np.uint8)])
    _put(tmp_path, "images", "b.png", rgba)
    _put(tmp_path, "masks", "b.png", _square_mask())
    rep = check(tmp_path)
    assert rep.ok
    assert any("images/b.png: RGBA image" in w for w in rep.warnings)
    assert "b" in rep.ids


def test_check_empty_mask_is_a_warning(tmp_path: Path) -> None:
    _pair_folder(tmp_path, ["a"])
    _put(tmp_path, "images", "b.png", _gradient(1))
    _put(tmp_path, "masks", "b.png", np.zeros((SIZE, SIZE), np.uint8))
    rep = check(tmp_path)
    assert rep.ok
    assert rep.warnings == ["masks/b.png: empty mask (no foreground)"]


def test_check_duplicate_pair_is_a_warning(tmp_path: Path) -> None:
    _pair_folder(tmp_path, ["a"])
    _put(tmp_path, "images", "copy.png", _gradient(0))
    _put(tmp_path, "masks", "copy.png", _square_mask())
    rep = check(tmp_path)
    assert rep.ok
    assert rep.warnings == ["copy: duplicate of pair 'a' (identical image and mask)"]


def test_check_images_smaller_than_the_training_size_are_one_warning(tmp_path: Path) -> None:
    """A 1 x 1 image is upscaled to the preset's size without a word unless the check names it."""
    _pair_folder(tmp_path, [f"p{i}" for i in range(7)])
    _put(tmp_path, "images", "tiny.png", _gradient(8, size=1))
    _put(tmp_path, "masks", "tiny.png", np.full((1, 1), 255, np.uint8))
    _put(tmp_path, "images", "wide.png", _gradient(9)[:8])  # 32 wide, 8 high: small on one side is enough
    _put(tmp_path, "masks", "wide.png", _square_mask()[8:16])
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
    _pair_folder(tmp_path, ["a"])
    Image.fromarray(_gradient(1)).save(tmp_path / "images" / "photo.jpg", quality=90)
    _put(tmp_path, "masks", "photo.png", _square_mask())
    rep = check(tmp_path)
    assert rep.ok
    assert any("images/photo.jpg: lossy format .jpg" in w for w in rep.warnings)

    _put(tmp_path, "images", "b.png", _gradient(2))
    Image.fromarray(_square_mask()).save(tmp_path / "masks" / "b.jpg", quality=90)
    rep = check(tmp_path)
    assert any("masks/b.jpg: lossy format .jpg corrupts label values" in e for e in rep.errors)


def test_check_two_files_for_one_id(tmp_path: Path) -> None:
    _pair_folder(tmp_path, ["a"])
    _put(tmp_path, "images", "a.bmp", _gradient(3))
    rep = check(tmp_path)
    assert any("id 'a' has several files" in e for e in rep.errors)


def test_check_multiclass_folder(tmp_path: Path) -> None:
    for i in range(2):
        labels = np.zeros((SIZE, SIZE), np.uint8)
        labels[:8], labels[8:16], labels[16:24] = 1, 2, 3
        _put(tmp_path, "images", f"m{i}.png", _gradient(i))
        _put(tmp_path, "masks", f"m{i}.png", labels)
    rep = check(tmp_path)
    assert rep.ok and rep.mask_kind == "multiclass"


# ----------------------------------------------------------------------------------------------------------
# Readers
# ----------------------------------------------------------------------------------------------------------


def test_read_image_16bit_to_unit_range(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    path = _put(tmp_path, "images", "a.png", ramp)
    img = images.read_image(path, 24)
    assert img.shape == (1, 24, 24) and img.dtype == torch.float32
    assert 0.0 <= img.min() < 0.05 and 0.95 < img.max() <= 1.0
    rgb = images.read_image(path, 24, channels=3)
    assert rgb.shape == (3, 24, 24)
    assert torch.equal(rgb[0], rgb[1]) and torch.equal(rgb[1], rgb[2])


def test_read_image_rgb(tmp_path: Path) -> None:
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[..., 0] = 255
    path = _put(tmp_path, "images", "a.png", rgb)
    gray = images.read_image(path, 20)
    assert gray.shape == (1, 20, 20)
    assert torch.allclose(gray, torch.full_like(gray, 1 / 3), atol=1e-4)
    colour = images.read_image(path, 20, channels=3)
    assert colour.shape == (3, 20, 20)
    assert torch.allclose(colour[0], torch.ones(20, 20)) and colour[1:].abs().max() == 0


@pytest.mark.parametrize("value", [255, 1])
def test_read_binary_mask_is_0_1_after_resizing(tmp_path: Path, value: int) -> None:
    mask = _square_mask(64, value)
    mask[5, 5] = value  # a single pixel: smaller than one output pixel, must not leak as a fraction
    path = _put(tmp_path, "masks", "a.png", mask)
    for size in (64, 20, 128):
        out = images.read_mask(path, size)
        assert out.shape == (size, size) and out.dtype == torch.int64
        assert set(out.unique().tolist()) == {0, 1}
    exact = images.read_mask(path, 64)
    assert torch.equal(exact, torch.from_numpy((mask > 0).astype(np.int64)))
    frac = images.read_mask(path, 32).float().mean().item()
    assert abs(frac - (mask > 0).mean()) < 0.02


def test_read_multiclass_mask_keeps_labels(tmp_path: Path) -> None:
    labels = np.zeros((60, 60), np.uint8)
    labels[:20], labels[20:40], labels[40:] = 0, 1, 2
    labels[:, 50:] = 3
    path = _put(tmp_path, "masks", "a.png", labels)
    out = images.read_mask(path, 17)
    assert out.shape == (17, 17)
    assert set(out.unique().tolist()) == {0, 1, 2, 3}


# ----------------------------------------------------------------------------------------------------------
# save_pairs / load_pairs
# ----------------------------------------------------------------------------------------------------------


def _random_pairs(n: int, size: int, classes: int = 2, channels: int = 1) -> PairSet:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, channels, size, size), generator=g).float() / 255
    masks = torch.randint(0, classes, (n, size, size), generator=g)
    masks[:, 0, 0] = classes - 1  # every mask uses the top label
    return PairSet([f"p{i}" for i in range(n)], images, masks, name="rand")


@pytest.mark.parametrize(("classes", "channels"), [(2, 1), (4, 1), (2, 3)])
def test_save_load_round_trip(tmp_path: Path, classes: int, channels: int) -> None:
    pairs = _random_pairs(3, 16, classes, channels)
    root = save_pairs(pairs, tmp_path / "set")
    assert sorted(p.name for p in (root / "masks").iterdir()) == ["p0.png", "p1.png", "p2.png"]
    stored = np.asarray(Image.open(root / "masks" / "p0.png"))
    assert set(np.unique(stored).tolist()) == ({0, 255} if classes == 2 else set(range(classes)))
    loaded = load_pairs(root, 16, channels=channels)
    assert loaded.ids == pairs.ids and loaded.name == "set"
    assert torch.allclose(loaded.images, pairs.images, atol=1e-6)
    assert torch.equal(loaded.masks, pairs.masks)


def test_save_pairs_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    save_pairs(_random_pairs(3, 8), tmp_path / "set")
    save_pairs(_random_pairs(1, 8), tmp_path / "set")
    assert len(list((tmp_path / "set" / "images").iterdir())) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["set"]


def test_load_pairs_raises_listing_problems(broken_folder: Path) -> None:
    with pytest.raises(DatasetError, match="lonely.png"):
        load_pairs(broken_folder, 16)


# ----------------------------------------------------------------------------------------------------------
# make_split
# ----------------------------------------------------------------------------------------------------------

IDS = [f"case{i:03d}" for i in range(50)]


def test_split_ignores_input_order() -> None:
    a = make_split(IDS, seed=3, train_ratio=0.5)
    b = make_split(reversed(IDS), seed=3, train_ratio=0.5)
    c = make_split(sorted(IDS, key=lambda k: k[::-1]), seed=3, train_ratio=0.5)
    assert a == b == c
    assert list(a.train) == sorted(a.train) and list(a.test) == sorted(a.test)


def test_split_test_set_fixed_across_ratios_and_train_sets_nested() -> None:
    ratios = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    splits = [make_split(IDS, seed=7, train_ratio=r) for r in ratios]
    assert all(s.test == splits[0].test for s in splits)
    assert len(splits[0].test) == 5
    for small, big in zip(splits, splits[1:], strict=False):
        assert set(small.train) < set(big.train)
    for s, r in zip(splits, ratios, strict=True):
        assert len(s.train) == round(50 * r)
        assert not set(s.train) & set(s.test)
        assert set(s.train) | set(s.test) <= set(IDS)
    assert set(splits[-1].train) | set(splits[-1].test) == set(IDS)


def test_split_seeds_differ_and_repeat() -> None:
    assert make_split(IDS, seed=0).test != make_split(IDS, seed=1).test
    assert make_split(IDS, seed=0) == make_split(IDS, seed=0)
    assert make_split(IDS, seed=0).to_json()["test"] == list(make_split(IDS, seed=0).test)


@pytest.mark.parametrize(
    ("ratio", "test_fraction"), [(0.0, 0.1), (-0.2, 0.1), (0.95, 0.1), (1.0, 0.1), (0.5, 0.0), (0.5, 1.0)]
)
def test_split_invalid_ratio_raises(ratio: float, test_fraction: float) -> None:
    with pytest.raises(ValueError):
        make_split(IDS, seed=0, train_ratio=ratio, test_fraction=test_fraction)


@pytest.mark.parametrize("ratio", [0.0, 0.95, 0.9000001])
def test_the_harness_refuses_the_ratios_a_split_refuses_naming_the_option(ratio: float) -> None:
    from bench.config import ConfigError
    from bench.runner import check_ratio

    with pytest.raises(ValueError, match=r"^train_ratio must be in \(0, 0\.9\]") as split_error:
        make_split(IDS, seed=0, train_ratio=ratio)
    with pytest.raises(ConfigError, match=r"^--ratios must be in \(0, 0\.9\]") as option_error:
        check_ratio(ratio, "--ratios")
    assert str(option_error.value).removeprefix("--ratios") == str(split_error.value).removeprefix("train_ratio")
    make_split(IDS, seed=0, train_ratio=FULL_RATIO)
    check_ratio(FULL_RATIO)


def test_split_too_few_pairs_raises() -> None:
    with pytest.raises(ValueError, match="too few"):
        make_split(["only"], seed=0)


# ----------------------------------------------------------------------------------------------------------
# Dataset cards and resolve_dataset
# ----------------------------------------------------------------------------------------------------------


def test_load_cards_reads_all_cards() -> None:
    cards = load_cards()
    assert set(cards) == {"demo", "montgomery", "shenzhen", "covid19", "cgmh-pelvis"}
    assert cards["demo"].synthetic and cards["demo"].version == bench.phantom.PHANTOM_VERSION
    assert not any(c.synthetic for k, c in cards.items() if k != "demo")
    assert (cards["montgomery"].pairs, cards["shenzhen"].pairs, cards["cgmh-pelvis"].pairs) == (138, 566, 400)
    assert "CC BY-NC-SA 4.0" in cards["shenzhen"].licence
    assert "bench datasets prepare covid19 --images" in cards["covid19"].obtain
    assert "bench datasets prepare cgmh-pelvis --root" in cards["cgmh-pelvis"].obtain
    for card in cards.values():
        assert card.title and card.source and card.licence and card.citation and card.layout and card.obtain


def test_load_cards_rejects_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(
        "name: x\ntitle: t\nsource: s\nlicence: l\ncitation: c\nlayout: l\npairs: 1\nobtain: o\nhomepage: h\n"
    )
    with pytest.raises(DatasetError, match="homepage"):
        load_cards(tmp_path)


def test_default_path_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    assert load_cards()["covid19"].default_path == tmp_path / "covid19"
    monkeypatch.delenv("BENCH_DATA")
    assert load_cards()["covid19"].default_path == Path("data") / "covid19"


def test_resolve_dataset_generates_demo_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    calls = []
    small = functools.partial(bench.phantom.write_demo, n=6, size=32)

    def spy(path: Path) -> Path:
        calls.append(path)
        return small(path)

    monkeypatch.setattr(bench.phantom, "write_demo", spy)
    path, card = resolve_dataset("demo")
    assert path == tmp_path / "demo" and card is not None and card.synthetic
    assert check(path).ok and len(check(path).ids) == 6
    assert "SYNTHETIC" in (path / "SOURCE.md").read_text()
    resolve_dataset("demo")
    assert calls == [tmp_path / "demo"]


def test_resolve_dataset_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    with pytest.raises(DatasetError, match="neither a folder nor a known dataset") as err:
        resolve_dataset("no-such-set")
    assert "montgomery" in str(err.value) and "demo" in str(err.value)
    with pytest.raises(DatasetError, match="not found at") as err:
        resolve_dataset("montgomery")
    assert str(tmp_path / "montgomery") in str(err.value) and "NLM" in str(err.value)
    folder = _pair_folder(tmp_path / "mine", ["a"])
    assert resolve_dataset(str(folder)) == (folder, None)


def test_check_label_masks_may_miss_a_class_but_not_leave_a_folder_gap(tmp_path: Path) -> None:
    for i, values in enumerate(([0, 2], [0, 1])):
        m = np.zeros((SIZE, SIZE), np.uint8)
        m[:4, :4], m[-4:, -4:] = values
        _put(tmp_path / "ok", "images", f"p{i}.png", _gradient(i))
        _put(tmp_path / "ok", "masks", f"p{i}.png", m)
    rep = check(tmp_path / "ok")
    assert rep.ok, rep.errors
    assert rep.mask_kind == "multiclass"
    m = np.zeros((SIZE, SIZE), np.uint8)
    m[:4, :4] = 5
    _put(tmp_path / "ok", "images", "gap.png", _gradient(9))
    _put(tmp_path / "ok", "masks", "gap.png", m)
    rep = check(tmp_path / "ok")
    assert len(rep.errors) == 1 and "gap.png" in rep.errors[0] and "consecutive" in rep.errors[0]
    # a generated set need not draw every class: loaded as synthetic, the gap is no error
    assert check(tmp_path / "ok", label_gaps=True).ok
    assert int(load_pairs(tmp_path / "ok", SIZE, synthetic=True).masks.max()) == 5
    with pytest.raises(DatasetError, match="consecutive"):
        load_pairs(tmp_path / "ok", SIZE)


def test_check_mixed_0_1_and_0_255_binary_masks_are_fine(tmp_path: Path) -> None:
    _pair_folder(tmp_path, ["a"])
    _put(tmp_path, "images", "b.png", _gradient(5))
    _put(tmp_path, "masks", "b.png", _square_mask(value=1))
    rep = check(tmp_path)
    assert rep.ok and rep.mask_kind == "binary"


def test_read_image_12bit_in_16bit_container(tmp_path: Path) -> None:
    arr = np.full((SIZE, SIZE), 4095, np.uint16)
    arr[:, : SIZE // 2] = 0
    path = _put(tmp_path, "images", "x.png", arr)
    img = images.read_image(path, SIZE)
    assert img.max().item() == pytest.approx(1.0, abs=1e-3) and img.min().item() == pytest.approx(0.0, abs=1e-3)
