"""The integrity check of a pair-set folder (``bench datasets check``, and the first thing ``bench run`` does): every
problem that would make a run's numbers wrong, found before any work: one line per kind of problem and folder, with
its count and the first files it names."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import UnidentifiedImageError

from bench.images import IMAGE_SUFFIXES, LOSSY_SUFFIXES, read_array, scale16
from bench.masks import SUFFIX_FLAG, SUGGESTED_THRESHOLD, THRESHOLD_FLAG, MaskReading
from bench.pairs import DatasetError

SHOWN_FILES = 5  # files named by a line about many of them, before "and N more"
READ_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError)


@dataclass
class CheckReport:
    """What :func:`check` found. ``errors`` make the folder unusable; ``warnings`` do not; ``notes`` say how the
    masks are read where that is not as stored (two-valued 0/v masks, a threshold)."""

    root: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    image_files: dict[str, str] = field(default_factory=dict)
    mask_files: dict[str, str] = field(default_factory=dict)
    mask_kind: str = "binary"
    peak16: int | None = None
    reading: MaskReading = field(default_factory=MaskReading)

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


class _Found:
    """Problems gathered by kind, so that each is one line per folder: its count and the first files it names."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str, str, str], list[str]] = {}

    def add(self, level: str, where: str, what: str, name: str, hint: str = "") -> None:
        self.groups.setdefault((level, where, what, hint), []).append(name)

    def report(self, rep: CheckReport) -> None:
        for (level, where, what, hint), names in self.groups.items():
            getattr(rep, level).append(named(where, what, names) + (f"; {hint}" if hint else ""))


def named(where: str, what: str, names: list[str]) -> str:
    """``masks/a.png: what`` for one file; ``masks: what in N files: a.png, ... and M more`` for several."""
    if len(names) == 1:
        return f"{where}/{names[0]}: {what}"
    more = f" and {len(names) - SHOWN_FILES} more" if len(names) > SHOWN_FILES else ""
    return f"{where}: {what} in {len(names)} files: {', '.join(names[:SHOWN_FILES])}{more}"


def _check_labels(rep: CheckReport, found: _Found, values: dict[str, set[int]], gaps: bool) -> None:
    """Folder-level mask rules. Binary: masks of at most one value besides 0, the same value in every mask (0/1
    and 0/255 masks may mix). Otherwise labels: consecutive 0..K folder-wide (one mask may miss a class; with
    ``gaps`` the folder may too), never 255, never mixed with 0/255 masks."""
    nonzero = {name: v - {0} for name, v in values.items()}
    union = set().union(*nonzero.values()) if nonzero else set()
    if all(len(v) <= 1 for v in nonzero.values()) and (union <= {1, 255} or len(union) == 1):
        if union and not union <= {1, 255}:
            (v,) = union
            rep.notes.append(f"masks: every mask holds 0 and {v} only: read as binary masks, {v} = foreground")
        return
    rep.mask_kind = "multiclass"
    binary255 = [name for name, v in values.items() if v <= {0, 255} and 255 in v]
    labels = {name: v for name, v in values.items() if 255 not in v}
    for name, v in values.items():
        if 255 in v and not v <= {0, 255}:
            found.add(
                "errors",
                "masks",
                "values are neither two-valued 0/v nor labels 0..K",
                f"{name} ({_shown(v)})",
                f"if they are binary masks blurred by resizing or compression, read them with {THRESHOLD_FLAG} "
                f"{SUGGESTED_THRESHOLD}",
            )
    if binary255:
        for name, v in labels.items():
            if not v <= {0, 1}:
                found.add(
                    "errors", "masks", f"labels are not binary 0/255 like {len(binary255)} other mask(s) in this "
                    f"folder (e.g. {binary255[0]})", f"{name} ({_shown(v)})",
                )  # fmt: skip
        return
    union = set().union(*labels.values()) if labels else set()
    missing = sorted(set(range(max(union, default=0) + 1)) - union)
    if missing and not gaps:
        for name, v in labels.items():
            above = sorted(x for x in v if x > missing[0])
            if above:
                found.add(
                    "errors",
                    "masks",
                    f"labels leave a gap (no mask in the folder uses {_shown(set(missing))}); labels must be "
                    "consecutive 0..K",
                    f"{name} ({_shown(set(above))})",
                )


def _shown(values: set[int]) -> str:
    """At most eight values of a mask, as a line shows them."""
    ordered = sorted(values)
    return "values " + ", ".join(map(str, ordered[:8])) + (", ..." if len(ordered) > 8 else "")


def _suffix_hint(image_ids: set[str], mask_stems: list[str]) -> str:
    """The ``--mask-suffix`` that pairs the most unmatched masks with images (``a_segmentation`` with ``a``), as a
    hint; empty when none pairs any."""
    counts: dict[str, int] = {}
    for stem in mask_stems:
        for cut in range(1, len(stem)):
            if stem[:cut] in image_ids:
                counts[stem[cut:]] = counts.get(stem[cut:], 0) + 1
    if not counts:
        return ""
    suffix = max(counts, key=lambda k: (counts[k], len(k)))
    return f"{counts[suffix]} mask name(s) add {suffix!r} to an image's: pass {SUFFIX_FLAG} {suffix}"


def check(
    root: str | Path, label_gaps: bool = False, image_size: int | None = None, reading: MaskReading | None = None
) -> CheckReport:
    """Validate a pair-set folder and collect every problem at once, one line per kind of problem (``label_gaps``:
    labels 0..K need not all be used, as in a generated set; see :func:`load_pairs`; ``image_size``: the size the
    pairs will be read at; ``reading``: how masks are read, ``--mask-threshold`` and ``--mask-suffix``).

    Errors: missing ``images/`` or ``masks/``; images without masks and masks without images; broken symbolic
    links; unreadable or corrupt files; image/mask size mismatch; mask values that are neither binary (0 and one
    value) nor consecutive labels 0..K; lossy (JPEG) masks without a threshold; masks with an alpha channel; ids
    used by two files (``a.png`` and ``a.tif``). Warnings: empty masks, images with an alpha channel (ignored),
    lossy images or lossy data under a lossless name, 8-bit and 16-bit images mixed in one set, byte-identical
    duplicate pairs, images smaller than ``image_size`` on a side (upscaled when read: they train at a detail they
    do not hold).
    """
    root = Path(root)
    reading = reading or MaskReading()
    rep = CheckReport(root, reading=reading)
    if not root.is_dir():
        rep.errors.append(f"{root}: folder does not exist")
        return rep
    for sub in ("images", "masks"):
        if not (root / sub).is_dir():
            rep.errors.append(f"{root / sub}: missing folder (expected images/<id>.png and masks/<id>.png)")
    if rep.errors:
        return rep

    found = _Found()
    files: dict[str, dict[str, list[Path]]] = {"images": {}, "masks": {}}
    broken: dict[str, set[str]] = {"images": set(), "masks": set()}
    lossy: dict[str, str] = {}  # mask file -> what lossy data it holds
    astray: list[Path] = []  # masks whose names lack the suffix
    for sub in files:
        for p in sorted((root / sub).iterdir()):
            if p.name.startswith("."):
                continue
            key = p.stem if sub == "images" else reading.mask_id(p.stem)
            if p.is_symlink() and not p.exists():
                found.add(
                    "errors", sub, "broken symbolic link", f"{p.name} (to {os.readlink(p)}, which does not exist)"
                )
                broken[sub].add(p.stem if key is None else key)
                continue
            if not p.is_file():
                continue
            suffix = p.suffix.lower()
            if suffix in LOSSY_SUFFIXES:
                content = "WebP" if suffix == ".webp" else "JPEG"
            elif suffix not in IMAGE_SUFFIXES:
                found.add("warnings", sub, "not an image file, ignored", p.name)
                continue
            else:
                content = _lossy_content(p)
            if content and sub == "masks":
                lossy[p.name] = content
            elif content:
                where = "" if suffix in LOSSY_SUFFIXES else f" under a {suffix} name"
                found.add("warnings", sub, f"lossy {content} format{where}", p.name)
            if key is None:
                astray.append(p)
                continue
            files[sub].setdefault(key, []).append(p)
    for sub, by_id in files.items():
        for k, paths in by_id.items():
            if len(paths) > 1:
                found.add("errors", sub, "one id, several files", f"{k} ({', '.join(p.name for p in paths)})")
    images, masks = files["images"], files["masks"]
    unmatched_masks = sorted(set(masks) - set(images) - broken["images"])
    stems = [masks[k][0].stem for k in unmatched_masks] + [p.stem for p in astray]
    hint = _suffix_hint(set(images) - set(masks), stems)  # said on the masks' line: their names show the suffix
    for k in sorted(set(images) - set(masks) - broken["masks"]):
        found.add("errors", "images", f"no mask masks/<id>{reading.suffix}.*", images[k][0].name)
    for k in unmatched_masks:
        found.add("errors", "masks", "no image images/<id>.*", masks[k][0].name, hint)
    for p in astray:
        found.add("errors", "masks", f"name does not end in {SUFFIX_FLAG} {reading.suffix!r}", p.name, hint)

    values: dict[str, set[int]] = {}
    digests: dict[str, str] = {}
    depths: dict[str, list[str]] = {"8-bit": [], "16-bit": []}
    small: list[str] = []
    for k in sorted(set(images) & set(masks)):
        ip, mp = images[k][0], masks[k][0]
        img, msk = _read(found, "images", ip), _read(found, "masks", mp)
        if img is not None and img.ndim == 3 and img.shape[2] in (2, 4):
            kind = "RGBA" if img.shape[2] == 4 else "grey + alpha"
            found.add("warnings", "images", f"{kind} image, the alpha channel is ignored", ip.name)
        if img is not None:
            if image_size is not None and min(img.shape[:2]) < image_size:
                small.append(f"{ip.name} ({img.shape[1]}x{img.shape[0]})")
            depths["8-bit" if img.dtype == np.uint8 else "16-bit"].append(ip.name)
            if img.dtype != np.uint8:
                rep.peak16 = max(rep.peak16 or 0, int(img.max(initial=0)))
        if msk is not None and msk.ndim == 3:
            if msk.shape[2] in (2, 4):
                kind = "RGBA" if msk.shape[2] == 4 else "grey + alpha"
                found.add("errors", "masks", f"{kind} mask; save masks as single-channel PNG", mp.name)
                msk = None
            elif not all(np.array_equal(msk[..., 0], msk[..., c]) for c in range(1, msk.shape[2])):
                found.add("errors", "masks", "colour mask; save labels as single-channel values", mp.name)
                msk = None
            else:
                msk = msk[..., 0]
        if img is not None and msk is not None and img.shape[:2] != msk.shape[:2]:
            found.add(
                "errors", "images", "image and mask sizes differ",
                f"{ip.name} ({img.shape[1]}x{img.shape[0]}, masks/{mp.name} {msk.shape[1]}x{msk.shape[0]})",
            )  # fmt: skip
        if msk is not None:
            v = set(np.unique(msk).tolist())
            if max(v) <= (reading.threshold or 0):
                found.add("warnings", "masks", "empty mask (no foreground)", mp.name)
            if reading.threshold is None and mp.name in lossy and len(v - {0}) > 1:
                found.add(
                    "errors", "masks", f"lossy {lossy[mp.name]} mask: its edges hold values between 0 and the "
                    "foreground's", mp.name, f"read such masks as binary with {THRESHOLD_FLAG} {SUGGESTED_THRESHOLD} "
                    f"(foreground: value > {SUGGESTED_THRESHOLD})",
                )  # fmt: skip
            elif reading.threshold is None:
                if mp.name in lossy:
                    found.add("warnings", "masks", f"lossy {lossy[mp.name]} mask", mp.name)
                values[mp.name] = v
        if img is not None and msk is not None:
            digest = hashlib.sha1(img.tobytes() + msk.tobytes()).hexdigest()
            if digest in digests:
                found.add(
                    "warnings", "images", "duplicate pairs (identical image and mask)", f"{k} (= {digests[digest]})"
                )
            else:
                digests[digest] = k
            rep.ids.append(k)
            rep.image_files[k] = ip.name
            rep.mask_files[k] = mp.name
    if reading.threshold is None:
        _check_labels(rep, found, values, label_gaps)
    else:
        rep.notes.append(
            f"masks: read as binary with {THRESHOLD_FLAG} {reading.threshold} (foreground: value > "
            f"{reading.threshold})"
            + (f", {len(lossy)} of them lossy ({'/'.join(sorted(set(lossy.values())))})" if lossy else "")
        )
    if reading.suffix:
        rep.notes.append(f"masks: masks/<id>{reading.suffix}.* paired with images/<id>.* ({SUFFIX_FLAG})")
    found.report(rep)
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


def _read(found: _Found, sub: str, path: Path) -> np.ndarray | None:
    """A file's pixels, or None with the reason recorded."""
    try:
        return read_array(path)
    except READ_ERRORS as e:
        what = "image" if sub == "images" else "mask"
        found.add("errors", sub, f"unreadable or corrupt {what}", f"{path.name} ({type(e).__name__}: {e})")
        return None


def _lossy_content(path: Path) -> str | None:
    """``"JPEG"`` or ``"WebP"`` when the file's bytes are in that format whatever its name says, else None."""
    with path.open("rb") as fh:
        head = fh.read(12)
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return None
