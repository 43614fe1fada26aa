"""Pair sets on disk and in memory: loading, integrity checks, deterministic splits and dataset cards.

On disk a *pair set* is a folder ``images/<id>.png`` + ``masks/<id>.png`` with identical ids. Masks are
either binary (0/255, or 0/1) or multi-class with consecutive labels 0..K. In memory images are float
tensors ``N x C x H x W`` in [0, 1] and masks integer tensors ``N x H x W`` (0/1 for binary sets).

Intensities are scaled by one rule per data set, never per image, so that every image of a set shares one scale:
8-bit images are divided by 255; 16-bit images by 4095 when every 16-bit image of the set stays within 0..4095
(12-bit X-ray data in a 16-bit container), else by 65535.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml
from PIL import Image, UnidentifiedImageError

from bench.files import atomic_dir, locked
from bench.pairs import PairSet  # defined apart so that bench.phantom needs no bench.data

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")
LOSSY_SUFFIXES = (".jpg", ".jpeg", ".webp")
CARDS_DIR = Path(__file__).resolve().parent / "datasets"
SHOWN_FILES = 5  # files named by a warning about many of them, before "and N more"
DATA_ROOT_ENV = "BENCH_DATA"


class DatasetError(ValueError):
    """A pair set that cannot be used; the message lists every problem, one per line."""


# ----------------------------------------------------------------------------------------------------------
# Reading and writing
# ----------------------------------------------------------------------------------------------------------


def read_array(path: Path) -> np.ndarray:
    """Raw pixel array (H x W or H x W x C) of an image file, in its native dtype."""
    with Image.open(path) as im:
        im.load()
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        if im.mode == "I;16" or im.mode.startswith("I;16"):
            return np.asarray(im, dtype=np.uint16)
        return np.asarray(im)


def scale16(peak: int) -> float:
    """The divisor of 16-bit images whose largest value is ``peak``: 4095 (12-bit data) up to 4095, else 65535."""
    return 4095.0 if peak <= 4095 else 65535.0


def read_image(path: Path, size: int, channels: int = 1, scale: float | None = None) -> torch.Tensor:
    """Read an image as a float ``channels x size x size`` tensor in [0, 1].

    Grayscale, grey + alpha, RGB and RGBA inputs in 8 or 16 bit are accepted; alpha is dropped, never mixed into
    the intensities. 8-bit files are divided by 255, 16-bit ones by ``scale``: the data set's divisor
    (:attr:`CheckReport.scale16`), so that all images of a set share one scale. Without it (a lone file) the
    file's own peak decides (:func:`scale16`). The image is resized with an antialiased bilinear filter; the
    aspect ratio is not kept (as in the paper's loaders).
    """
    import torch

    arr = read_array(path)
    if arr.dtype == np.uint8:
        divisor = 255.0
    else:
        divisor = scale if scale is not None else scale16(int(arr.max(initial=0)))
    arr = arr.astype(np.float32) / divisor
    if arr.ndim == 3 and arr.shape[2] == 2:  # grey + alpha
        arr = arr[..., 0]
    if arr.ndim == 3:
        arr = arr[..., :3]
        arr = arr.mean(axis=2, keepdims=True) if channels == 1 else arr
    else:
        arr = arr[..., None]
        arr = np.repeat(arr, channels, axis=2) if channels == 3 else arr
    planes = [np.asarray(Image.fromarray(arr[..., c]).resize((size, size), Image.BILINEAR)) for c in range(channels)]
    return torch.from_numpy(np.stack(planes)).clamp_(0, 1)


def read_mask(path: Path, size: int) -> torch.Tensor:
    """Read a mask as an int64 ``size x size`` tensor: 0/1 for binary masks, 0..K for multi-class ones.

    Binary masks (values within {0, 255} or {0, 1}) are resized by area averaging and thresholded at 0.5;
    multi-class masks use nearest-neighbour resizing so no label is invented.
    """
    import torch

    arr = read_array(path)
    if arr.ndim == 3:
        arr = arr[..., 0]
    values = np.unique(arr)
    if set(values.tolist()) <= {0, 255} or set(values.tolist()) <= {0, 1}:
        fg = (arr > 0).astype(np.float32)
        fg = np.asarray(Image.fromarray(fg).resize((size, size), Image.BOX))
        return torch.from_numpy((fg >= 0.5).astype(np.int64))
    lab = Image.fromarray(arr.astype(np.int32)).resize((size, size), Image.NEAREST)
    return torch.from_numpy(np.asarray(lab).astype(np.int64))


def load_pairs(
    root: str | Path, size: int, channels: int = 1, name: str | None = None, synthetic: bool = False
) -> PairSet:
    """Check a pair-set folder and load it at ``size x size``.

    A ``synthetic`` (generated) set may leave a label unused: a generator of masks 0..K need not draw every class.

    Raises:
        DatasetError: if :func:`check` finds any error (all of them are listed in the message).
    """
    report = check(root, label_gaps=synthetic)
    report.raise_for_errors()
    return read_pairs(report, size, channels, name, synthetic)


def read_pairs(
    report: CheckReport, size: int, channels: int = 1, name: str | None = None, synthetic: bool = False
) -> PairSet:
    """Load the pairs a clean :func:`check` report lists, at ``size x size``, 16-bit images on the set's scale."""
    import torch

    root = report.root
    ids = report.ids
    images = torch.stack(
        [read_image(root / "images" / report.image_files[k], size, channels, report.scale16) for k in ids]
    )
    masks = torch.stack([read_mask(root / "masks" / report.mask_files[k], size) for k in ids])
    return PairSet(ids, images, masks, name or root.name, synthetic)


def save_pairs(pairs: PairSet, root: str | Path) -> Path:
    """Write a pair set as ``images/<id>.png`` (8-bit) + ``masks/<id>.png`` (0/255, or 0..K labels).

    The folder is written under a temporary name and renamed at the end, so an interrupted write never
    leaves a folder that looks complete. An existing folder at ``root`` is replaced.

    Raises:
        bench.files.StorageError: the disk is full or the folder cannot be written.
    """
    root = Path(root)
    with atomic_dir(root) as tmp:
        write_pairs(pairs, tmp)
    return root


def write_pairs(pairs: PairSet, folder: str | Path, binary: bool | None = None) -> None:
    """Write ``images/<id>.png`` + ``masks/<id>.png`` into an existing folder (no staging; see :func:`save_pairs`).

    Images are 8-bit grey or RGB; masks 0/255 when ``binary`` (default: the set has two labels), else labels 0..K
    (pass ``binary=False`` for a subset of a multi-class set that happens to hold label 1 only).
    """
    import torch

    folder = Path(folder)
    binary = pairs.num_classes == 2 if binary is None else binary
    (folder / "images").mkdir(exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    for i, k in enumerate(pairs.ids):
        img = (pairs.images[i].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        img = img[0] if img.shape[0] == 1 else np.moveaxis(img, 0, -1)
        Image.fromarray(img).save(folder / "images" / f"{k}.png")
        m = pairs.masks[i].numpy().astype(np.uint8)
        Image.fromarray(m * 255 if binary else m).save(folder / "masks" / f"{k}.png")


# ----------------------------------------------------------------------------------------------------------
# Integrity check
# ----------------------------------------------------------------------------------------------------------


@dataclass
class CheckReport:
    """What :func:`check` found. ``errors`` make the folder unusable; ``warnings`` do not."""

    root: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    image_files: dict[str, str] = field(default_factory=dict)
    mask_files: dict[str, str] = field(default_factory=dict)
    mask_kind: str = "binary"
    peak16: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def scale16(self) -> float | None:
        """The divisor of this set's 16-bit images (one for the whole set; None when it has none)."""
        return None if self.peak16 is None else scale16(self.peak16)

    def raise_for_errors(self) -> None:
        if self.errors:
            lines = "\n".join(f"  - {e}" for e in self.errors)
            raise DatasetError(f"{self.root}: {len(self.errors)} problem(s) found by the integrity check:\n{lines}")


def _check_labels(rep: CheckReport, binary255: list[str], labels: dict[str, set[int]], gaps: bool) -> None:
    """Folder-level mask rules: 0/1 and 0/255 masks are binary; labels > 1 must be consecutive 0..K folder-wide
    (one mask may miss a class; with ``gaps`` the folder may too) and cannot be mixed with 0/255 masks."""
    multi = {name: v for name, v in labels.items() if not v <= {0, 1}}
    if not multi:
        return
    rep.mask_kind = "multiclass"
    if binary255:
        for name, v in multi.items():
            rep.errors.append(
                f"masks/{name}: values {sorted(v)[:8]} are not binary 0/255 like {len(binary255)} other mask(s) "
                f"in this folder (e.g. {binary255[0]})"
            )
        return
    union = set().union(*labels.values())
    missing = sorted(set(range(max(union) + 1)) - union)
    if missing and not gaps:
        for name, v in multi.items():
            above = sorted(x for x in v if x > missing[0])
            if above:
                rep.errors.append(
                    f"masks/{name}: labels {above} leave a gap (no mask in the folder uses {missing[:8]}); "
                    "labels must be consecutive 0..K"
                )


def check(root: str | Path, label_gaps: bool = False, image_size: int | None = None) -> CheckReport:
    """Validate a pair-set folder and collect every problem at once (``label_gaps``: labels 0..K need not all be
    used, as in a generated set; see :func:`load_pairs`; ``image_size``: the size the pairs will be read at).

    Errors: missing ``images/`` or ``masks/``; images without masks and masks without images; broken symbolic
    links; unreadable or corrupt files; image/mask size mismatch; mask values that are neither binary (0/255 or
    0/1) nor consecutive labels 0..K; masks with an alpha channel; ids used by two files (``a.png`` and ``a.tif``).
    Warnings: empty masks, images with an alpha channel (ignored), lossy formats or lossy data under a lossless
    name (JPEG in a ``.png``), 8-bit and 16-bit images mixed in one set, byte-identical duplicate pairs, images
    smaller than ``image_size`` on a side (upscaled when read: they train at a detail they do not hold).
    """
    root = Path(root)
    rep = CheckReport(root)
    if not root.is_dir():
        rep.errors.append(f"{root}: folder does not exist")
        return rep
    for sub in ("images", "masks"):
        if not (root / sub).is_dir():
            rep.errors.append(f"{root / sub}: missing folder (expected images/<id>.png and masks/<id>.png)")
    if rep.errors:
        return rep

    files: dict[str, dict[str, list[Path]]] = {"images": {}, "masks": {}}
    broken: dict[str, set[str]] = {"images": set(), "masks": set()}
    for sub in files:
        for p in sorted((root / sub).iterdir()):
            if p.name.startswith("."):
                continue
            if p.is_symlink() and not p.exists():
                rep.errors.append(f"{sub}/{p.name}: broken symbolic link (its target {os.readlink(p)} does not exist)")
                broken[sub].add(p.stem)
                continue
            if not p.is_file():
                continue
            suffix = p.suffix.lower()
            if suffix in LOSSY_SUFFIXES:
                (rep.errors if sub == "masks" else rep.warnings).append(
                    f"{sub}/{p.name}: lossy format {suffix}" + (" corrupts label values" if sub == "masks" else "")
                )
            elif suffix not in IMAGE_SUFFIXES:
                rep.warnings.append(f"{sub}/{p.name}: not an image file, ignored")
                continue
            elif lossy := _lossy_content(p):
                rep.warnings.append(
                    f"{sub}/{p.name}: holds {lossy} data (lossy compression) under a {suffix} name"
                    + ("; lossy masks are the usual cause of non-binary mask values" if sub == "masks" else "")
                )
            files[sub].setdefault(p.stem, []).append(p)
    for sub, by_id in files.items():
        for k, paths in by_id.items():
            if len(paths) > 1:
                rep.errors.append(f"{sub}: id '{k}' has several files: {', '.join(p.name for p in paths)}")
    images, masks = files["images"], files["masks"]
    for k in sorted(set(images) - set(masks) - broken["masks"]):
        rep.errors.append(f"images/{images[k][0].name}: no matching mask masks/{k}.png")
    for k in sorted(set(masks) - set(images) - broken["images"]):
        rep.errors.append(f"masks/{masks[k][0].name}: no matching image images/{k}.png")

    binary255: list[str] = []
    labels: dict[str, set[int]] = {}
    digests: dict[str, str] = {}
    depths: dict[str, list[str]] = {"8-bit": [], "16-bit": []}
    small: list[str] = []
    for k in sorted(set(images) & set(masks)):
        ip, mp = images[k][0], masks[k][0]
        try:
            img = read_array(ip)
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
            rep.errors.append(f"images/{ip.name}: unreadable or corrupt image ({type(e).__name__}: {e})")
            img = None
        try:
            msk = read_array(mp)
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
            rep.errors.append(f"masks/{mp.name}: unreadable or corrupt mask ({type(e).__name__}: {e})")
            msk = None
        if img is not None and img.ndim == 3 and img.shape[2] in (2, 4):
            kind = "RGBA" if img.shape[2] == 4 else "grey + alpha"
            rep.warnings.append(f"images/{ip.name}: {kind} image, the alpha channel is ignored")
        if img is not None:
            if image_size is not None and min(img.shape[:2]) < image_size:
                small.append(f"{ip.name} ({img.shape[1]}x{img.shape[0]})")
            depths["8-bit" if img.dtype == np.uint8 else "16-bit"].append(ip.name)
            if img.dtype != np.uint8:
                rep.peak16 = max(rep.peak16 or 0, int(img.max(initial=0)))
        if msk is not None and msk.ndim == 3:
            if msk.shape[2] in (2, 4):
                kind = "RGBA" if msk.shape[2] == 4 else "grey + alpha"
                rep.errors.append(f"masks/{mp.name}: {kind} mask; save masks as single-channel PNG")
                msk = None
            elif not all(np.array_equal(msk[..., 0], msk[..., c]) for c in range(1, msk.shape[2])):
                rep.errors.append(f"masks/{mp.name}: colour mask; save labels as single-channel values")
                msk = None
            else:
                msk = msk[..., 0]
        if img is not None and msk is not None and img.shape[:2] != msk.shape[:2]:
            rep.errors.append(
                f"{k}: image size {img.shape[1]}x{img.shape[0]} != mask size "
                f"{msk.shape[1]}x{msk.shape[0]} (images/{ip.name}, masks/{mp.name})"
            )
        if msk is not None:
            values = set(np.unique(msk).tolist())
            if values <= {0}:
                rep.warnings.append(f"masks/{mp.name}: empty mask (no foreground)")
            if values <= {0, 255}:
                binary255.append(mp.name)
            elif max(values) < 255:
                labels[mp.name] = values
            else:
                rep.errors.append(
                    f"masks/{mp.name}: values {sorted(values)[:8]} are neither binary 0/255 nor labels 0..K"
                )
        if img is not None and msk is not None:
            digest = hashlib.sha1(img.tobytes() + msk.tobytes()).hexdigest()
            if digest in digests:
                rep.warnings.append(f"{k}: duplicate of pair '{digests[digest]}' (identical image and mask)")
            else:
                digests[digest] = k
            rep.ids.append(k)
            rep.image_files[k] = ip.name
            rep.mask_files[k] = mp.name
    _check_labels(rep, binary255, labels, label_gaps)
    if depths["8-bit"] and depths["16-bit"]:
        rep.warnings.append(
            f"images: {len(depths['8-bit'])} 8-bit image(s) (e.g. {depths['8-bit'][0]}) and {len(depths['16-bit'])} "
            f"16-bit image(s) (e.g. {depths['16-bit'][0]}) in one set: 8-bit ones are divided by 255, 16-bit ones "
            f"by {rep.scale16:g}; convert them to one bit depth if they share one intensity scale"
        )
    if small:
        more = f" and {len(small) - SHOWN_FILES} more" if len(small) > SHOWN_FILES else ""
        rep.warnings.append(
            f"images: {len(small)} image(s) smaller than {image_size}x{image_size}, the size they are read at, so "
            f"upscaled: {', '.join(small[:SHOWN_FILES])}{more}"
        )
    if not rep.errors and not rep.ids:
        rep.errors.append(f"{root}: no image-mask pairs found")
    return rep


def _lossy_content(path: Path) -> str | None:
    """``"JPEG"`` or ``"WebP"`` when the file's bytes are in that format whatever its name says, else None."""
    with path.open("rb") as fh:
        head = fh.read(12)
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return None


# ----------------------------------------------------------------------------------------------------------
# Splits
# ----------------------------------------------------------------------------------------------------------


MIN_SPLIT_PAIRS = 2
TEST_FRACTION = 0.1


def _split_sizes(n: int, train_ratio: float, test_fraction: float) -> tuple[int, int]:
    """(training pairs, test pairs) that :func:`make_split` takes from ``n`` pairs."""
    n_test = max(1, round(n * test_fraction))
    return min(max(0, n - n_test), max(1, round(n * train_ratio))), n_test


@dataclass(frozen=True)
class Split:
    """Ids of one train/test split. ``test`` depends only on the seed, never on ``train_ratio``."""

    seed: int
    train_ratio: float
    test_fraction: float
    train: tuple[str, ...]
    test: tuple[str, ...]

    def to_json(self) -> dict:
        return {
            "seed": self.seed,
            "train_ratio": self.train_ratio,
            "test_fraction": self.test_fraction,
            "train": list(self.train),
            "test": list(self.test),
        }


def make_split(
    ids: Iterable[str], seed: int, train_ratio: float = 1 - TEST_FRACTION, test_fraction: float = TEST_FRACTION
) -> Split:
    """Sorted, seeded split; few-shot ratios subsample the training part only.

    The ids are sorted, shuffled with ``seed``, and the first ``round(N * test_fraction)`` form the test set.
    The training set is the first ``round(N * train_ratio)`` of the rest, so for one seed the test set is the
    same at every ratio and smaller training sets are nested in larger ones.

    Both parts need at least ``MIN_SPLIT_PAIRS`` pairs: a Dice measured on one test image is no result, and a
    single training pair makes a batch of one, which BatchNorm cannot train on.

    Raises:
        DatasetError: too few pairs for a test split of ``MIN_SPLIT_PAIRS`` (the message gives the minimum).
        ValueError: a ratio outside (0, 1 - test_fraction], or one that leaves too few training pairs.
    """
    ordered = sorted(ids)
    n = len(ordered)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if not 0 < train_ratio <= 1 - test_fraction + 1e-9:
        raise ValueError(
            f"train_ratio must be in (0, {1 - test_fraction:g}] (the rest is the test set), got {train_ratio}"
        )
    sizes = _split_sizes(n, train_ratio, test_fraction)
    if sizes[1] < MIN_SPLIT_PAIRS or n - sizes[1] < MIN_SPLIT_PAIRS:
        least = next(
            m for m in range(n + 1, 10**6) if min(_split_sizes(m, 1 - test_fraction, test_fraction)) >= MIN_SPLIT_PAIRS
        )
        raise DatasetError(
            f"{n} pairs are too few to split: the test split ({test_fraction:.0%} of the pairs) would hold "
            f"{sizes[1]} image(s) and at least {MIN_SPLIT_PAIRS} are needed; the set needs at least {least} pairs"
        )
    n_train, n_test = sizes
    if n_train < MIN_SPLIT_PAIRS:
        raise ValueError(
            f"train_ratio {train_ratio:g} leaves {n_train} training pair(s) of {n}; at least {MIN_SPLIT_PAIRS} are "
            f"needed (train_ratio >= {MIN_SPLIT_PAIRS / n:.3g})"
        )
    perm = ordered[:]
    random.Random(seed).shuffle(perm)
    test, pool = perm[:n_test], perm[n_test:]
    return Split(seed, train_ratio, test_fraction, tuple(sorted(pool[:n_train])), tuple(sorted(test)))


# ----------------------------------------------------------------------------------------------------------
# Dataset cards
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetCard:
    """A dataset's description, read from ``datasets/<name>.yaml``."""

    name: str
    title: str
    source: str
    licence: str
    citation: str
    layout: str
    pairs: int | None
    obtain: str
    synthetic: bool = False
    version: int = 1

    @property
    def default_path(self) -> Path:
        """Where ``bench run --dataset <name>`` looks: ``$BENCH_DATA/<name>`` (default ``./data/<name>``)."""
        return Path(os.environ.get(DATA_ROOT_ENV, "data")) / self.name


def load_cards(folder: Path = CARDS_DIR) -> dict[str, DatasetCard]:
    """All dataset cards, by name. Unknown keys in a card are an error."""
    cards = {}
    known = set(DatasetCard.__dataclass_fields__)
    for path in sorted(folder.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        if not isinstance(raw, dict):
            raise DatasetError(f"{path}: a dataset card must be a YAML mapping")
        unknown = set(raw) - known
        if unknown:
            raise DatasetError(f"{path}: unknown keys {sorted(unknown)}")
        try:
            card = DatasetCard(**raw)
        except TypeError as e:
            raise DatasetError(f"{path}: {e}") from None
        cards[card.name] = card
    return cards


def resolve_dataset(name_or_path: str) -> tuple[Path, DatasetCard | None]:
    """Turn ``--dataset`` into a folder: a card name (looked up under ``$BENCH_DATA``) or a path.

    The embedded ``demo`` set is generated on first use. Raises DatasetError naming what was expected.
    """
    cards = load_cards()
    if name_or_path in cards:
        card = cards[name_or_path]
        path = card.default_path
        if card.name == "demo" and not path.is_dir():
            from bench import phantom  # torch: only when the demo set is first generated

            with locked(path):  # two runs starting at once generate it once
                if not path.is_dir():
                    phantom.write_demo(path)
        if not path.is_dir():
            raise DatasetError(
                f"dataset '{card.name}' not found at {path.resolve()} (set ${DATA_ROOT_ENV} or pass "
                f"a folder). How to obtain it: {card.obtain}"
            )
        return path, card
    path = Path(name_or_path)
    if not path.is_dir():
        raise DatasetError(
            f"--dataset {name_or_path!r}: neither a folder nor a known dataset (known: {', '.join(sorted(cards))})"
        )
    return path, None


def fingerprint(pairs: PairSet) -> str:
    """A short content hash of a pair set, for cache keys."""
    h = hashlib.sha1()
    h.update(json.dumps(pairs.ids).encode())
    h.update(pairs.images.numpy().tobytes())
    h.update(pairs.masks.numpy().tobytes())
    return h.hexdigest()[:16]
