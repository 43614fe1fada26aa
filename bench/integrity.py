"""The integrity check of a pair-set folder (``bench datasets check``, and the first thing ``bench run`` does): every
problem that would make a run's numbers wrong, found before any work, named by file."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import UnidentifiedImageError

from bench.images import IMAGE_SUFFIXES, LOSSY_SUFFIXES, read_array, scale16
from bench.pairs import DatasetError

SHOWN_FILES = 5  # files named by a warning about many of them, before "and N more"


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
