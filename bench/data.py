"""Pair sets on disk and in memory: loading, integrity checks, deterministic splits and dataset cards.

On disk a *pair set* is a folder ``images/<id>.png`` + ``masks/<id>.png`` with identical ids. Masks are
either binary (0/255, or 0/1) or multi-class with consecutive labels 0..K. In memory images are float
tensors ``N x C x H x W`` in [0, 1] and masks integer tensors ``N x H x W`` (0/1 for binary sets).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image, UnidentifiedImageError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")
LOSSY_SUFFIXES = (".jpg", ".jpeg", ".webp")
CARDS_DIR = Path(__file__).resolve().parents[1] / "datasets"
DATA_ROOT_ENV = "BENCH_DATA"


class DatasetError(ValueError):
    """A pair set that cannot be used; the message lists every problem, one per line."""


@dataclass
class PairSet:
    """Image-mask pairs held in memory.

    Attributes:
        ids: one identifier per pair (the file stem on disk).
        images: float32 tensor ``N x C x H x W`` in [0, 1].
        masks: int64 tensor ``N x H x W``; 0/1 for binary sets, 0..K for multi-class ones.
        name: a label for logs and tables (dataset name or folder name).
        synthetic: True when the pairs were generated (by a method, or by the demo phantom).
    """

    ids: list[str]
    images: torch.Tensor
    masks: torch.Tensor
    name: str = "pairs"
    synthetic: bool = False

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.images.ndim != 4 or self.masks.ndim != 3:
            raise ValueError(
                f"images must be NxCxHxW and masks NxHxW, got {tuple(self.images.shape)} / {tuple(self.masks.shape)}"
            )
        if self.images.shape[0] != n or self.masks.shape[0] != n:
            raise ValueError(f"{n} ids but {self.images.shape[0]} images and {self.masks.shape[0]} masks")
        if self.images.shape[-2:] != self.masks.shape[-2:]:
            raise ValueError(f"image size {tuple(self.images.shape[-2:])} != mask size {tuple(self.masks.shape[-2:])}")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def num_classes(self) -> int:
        """Number of labels including background (2 for a binary set)."""
        return max(2, int(self.masks.max().item()) + 1) if len(self) else 2

    def subset(self, ids: Sequence[str]) -> PairSet:
        """The pairs with the given ids, in that order."""
        index = {k: i for i, k in enumerate(self.ids)}
        missing = [k for k in ids if k not in index]
        if missing:
            raise KeyError(f"ids not in {self.name}: {missing[:5]}")
        rows = torch.tensor([index[k] for k in ids], dtype=torch.long)
        return PairSet(list(ids), self.images[rows], self.masks[rows], self.name, self.synthetic)

    @staticmethod
    def concat(sets: Sequence[PairSet], name: str) -> PairSet:
        """Concatenate pair sets; ids must stay unique."""
        ids = [k for s in sets for k in s.ids]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate ids when concatenating pair sets")
        return PairSet(
            ids,
            torch.cat([s.images for s in sets]),
            torch.cat([s.masks for s in sets]),
            name,
            any(s.synthetic for s in sets),
        )


# ----------------------------------------------------------------------------------------------------------
# Reading and writing
# ----------------------------------------------------------------------------------------------------------


def _image_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}


def _read_array(path: Path) -> np.ndarray:
    """Raw pixel array (H x W or H x W x C) of an image file, in its native dtype."""
    with Image.open(path) as im:
        im.load()
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        if im.mode == "I;16" or im.mode.startswith("I;16"):
            return np.asarray(im, dtype=np.uint16)
        return np.asarray(im)


def read_image(path: Path, size: int, channels: int = 1) -> torch.Tensor:
    """Read an image as a float ``channels x size x size`` tensor in [0, 1].

    Grayscale, RGB and RGBA (alpha dropped) inputs in 8 or 16 bit are accepted. 16-bit files whose values
    stay within 0..4095 are taken as 12-bit X-ray data (scaled by 4095), others by 65535. The image is resized
    with an antialiased bilinear filter; the aspect ratio is not kept (as in the paper's loaders).
    """
    arr = _read_array(path)
    peak = int(arr.max(initial=0))
    scale = 255.0 if arr.dtype == np.uint8 and peak <= 255 else (4095.0 if peak <= 4095 else 65535.0)
    arr = arr.astype(np.float32) / scale
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
    arr = _read_array(path)
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

    Raises:
        DatasetError: if :func:`check` finds any error (all of them are listed in the message).
    """
    root = Path(root)
    report = check(root)
    report.raise_for_errors()
    ids = report.ids
    images = torch.stack([read_image(root / "images" / report.image_files[k], size, channels) for k in ids])
    masks = torch.stack([read_mask(root / "masks" / report.mask_files[k], size) for k in ids])
    return PairSet(ids, images, masks, name or root.name, synthetic)


def save_pairs(pairs: PairSet, root: str | Path) -> Path:
    """Write a pair set as ``images/<id>.png`` (8-bit) + ``masks/<id>.png`` (0/255, or 0..K labels).

    The folder is written under a temporary name and renamed at the end, so an interrupted write never
    leaves a folder that looks complete. An existing folder at ``root`` is replaced.
    """
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    os.chmod(tmp, 0o755)
    binary = pairs.num_classes == 2
    try:
        (tmp / "images").mkdir()
        (tmp / "masks").mkdir()
        for i, k in enumerate(pairs.ids):
            img = (pairs.images[i].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
            img = img[0] if img.shape[0] == 1 else np.moveaxis(img, 0, -1)
            Image.fromarray(img).save(tmp / "images" / f"{k}.png")
            m = pairs.masks[i].numpy().astype(np.uint8)
            Image.fromarray(m * 255 if binary else m).save(tmp / "masks" / f"{k}.png")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if root.exists():
        shutil.rmtree(root)
    os.replace(tmp, root)
    return root


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

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        if self.errors:
            lines = "\n".join(f"  - {e}" for e in self.errors)
            raise DatasetError(f"{self.root}: {len(self.errors)} problem(s) found by the integrity check:\n{lines}")


def _check_labels(rep: CheckReport, binary255: list[str], labels: dict[str, set[int]]) -> None:
    """Folder-level mask rules: 0/1 and 0/255 masks are binary; labels > 1 must be consecutive 0..K folder-wide
    (one mask may miss a class) and cannot be mixed with 0/255 masks."""
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
    if missing:
        for name, v in multi.items():
            above = sorted(x for x in v if x > missing[0])
            if above:
                rep.errors.append(
                    f"masks/{name}: labels {above} leave a gap (no mask in the folder uses {missing[:8]}); "
                    "labels must be consecutive 0..K"
                )


def check(root: str | Path) -> CheckReport:
    """Validate a pair-set folder and collect every problem at once.

    Errors: missing ``images/`` or ``masks/``; images without masks and masks without images; unreadable or
    corrupt files; image/mask size mismatch; mask values that are neither binary (0/255 or 0/1) nor
    consecutive labels 0..K; RGBA masks; ids used by two files (``a.png`` and ``a.tif``).
    Warnings: empty masks, RGBA images (alpha ignored), lossy formats, byte-identical duplicate pairs.
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
    for sub in files:
        for p in sorted((root / sub).iterdir()):
            if not p.is_file() or p.name.startswith("."):
                continue
            suffix = p.suffix.lower()
            if suffix in LOSSY_SUFFIXES:
                (rep.errors if sub == "masks" else rep.warnings).append(
                    f"{sub}/{p.name}: lossy format {suffix}" + (" corrupts label values" if sub == "masks" else "")
                )
            elif suffix not in IMAGE_SUFFIXES:
                rep.warnings.append(f"{sub}/{p.name}: not an image file, ignored")
                continue
            files[sub].setdefault(p.stem, []).append(p)
    for sub, by_id in files.items():
        for k, paths in by_id.items():
            if len(paths) > 1:
                rep.errors.append(f"{sub}: id '{k}' has several files: {', '.join(p.name for p in paths)}")
    images, masks = files["images"], files["masks"]
    for k in sorted(set(images) - set(masks)):
        rep.errors.append(f"images/{images[k][0].name}: no matching mask masks/{k}.png")
    for k in sorted(set(masks) - set(images)):
        rep.errors.append(f"masks/{masks[k][0].name}: no matching image images/{k}.png")

    binary255: list[str] = []
    labels: dict[str, set[int]] = {}
    digests: dict[str, str] = {}
    for k in sorted(set(images) & set(masks)):
        ip, mp = images[k][0], masks[k][0]
        try:
            img = _read_array(ip)
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
            rep.errors.append(f"images/{ip.name}: unreadable or corrupt image ({type(e).__name__}: {e})")
            img = None
        try:
            msk = _read_array(mp)
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
            rep.errors.append(f"masks/{mp.name}: unreadable or corrupt mask ({type(e).__name__}: {e})")
            msk = None
        if img is not None and img.ndim == 3 and img.shape[2] == 4:
            rep.warnings.append(f"images/{ip.name}: RGBA image, the alpha channel is ignored")
        if msk is not None and msk.ndim == 3:
            if msk.shape[2] == 4:
                rep.errors.append(f"masks/{mp.name}: RGBA mask; save masks as single-channel PNG")
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
    _check_labels(rep, binary255, labels)
    if not rep.errors and not rep.ids:
        rep.errors.append(f"{root}: no image-mask pairs found")
    return rep


# ----------------------------------------------------------------------------------------------------------
# Splits
# ----------------------------------------------------------------------------------------------------------


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


def make_split(ids: Iterable[str], seed: int, train_ratio: float = 0.9, test_fraction: float = 0.1) -> Split:
    """Sorted, seeded split; few-shot ratios subsample the training part only.

    The ids are sorted, shuffled with ``seed``, and the first ``round(N * test_fraction)`` form the test set.
    The training set is the first ``round(N * train_ratio)`` of the rest, so for one seed the test set is the
    same at every ratio and smaller training sets are nested in larger ones.

    Raises:
        ValueError: if the ratio leaves no training pairs or exceeds what the test set leaves over.
    """
    ordered = sorted(ids)
    n = len(ordered)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if not 0 < train_ratio <= 1 - test_fraction + 1e-9:
        raise ValueError(
            f"train_ratio must be in (0, {1 - test_fraction:g}] (the rest is the test set), got {train_ratio}"
        )
    perm = ordered[:]
    random.Random(seed).shuffle(perm)
    n_test = max(1, round(n * test_fraction))
    test, pool = perm[:n_test], perm[n_test:]
    n_train = min(len(pool), max(1, round(n * train_ratio)))
    if not pool:
        raise ValueError(f"{n} pairs are too few to split")
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
            from bench.phantom import write_demo

            write_demo(path)
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
