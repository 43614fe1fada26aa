"""Converters from public dataset layouts to the pair-set layout (``images/<id>.png`` + ``masks/<id>.png``).

Each converter reads the dataset where the user downloaded it, keeps the native resolution, writes 8-bit
grayscale images and 0/255 masks plus a ``SOURCE.md`` with the counts, and returns a :class:`PrepareReport`.
The output folder is assembled under a temporary name and renamed at the end. ``bench datasets prepare`` calls
these functions; the dataset cards in ``bench/datasets/`` say where to get the inputs.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import importlib.util
import io
import logging
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.files import atomic_dir
from bench.images import IMAGE_SUFFIXES
from bench.pairs import DatasetError

logger = logging.getLogger(__name__)

COVID_MASKS_ZIP = "semantic_masks_v7labs_lungs.zip"
COVID_MASKS_PREFIX = "semantic_masks_v7labs_lungs/"
COVID_VIEWS = ("PA", "AP")
COVID_SUPINE_VIEW = "AP Supine"
COVID_EXCLUDED_FINDINGS = ("todo", "unknown")
_MARKER = "Prepared by bench.prepare"
_READ_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError)


@dataclass
class PrepareReport:
    """What a converter did.

    Attributes:
        kept: number of pairs written.
        skipped_by_reason: skipped inputs per reason (e.g. ``{"view": 120, "empty_mask": 60}``).
        out: the folder written.
        masks_resized: kept pairs whose mask had another size than the image and was resized to it.
    """

    kept: int
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    out: Path | None = None
    masks_resized: int = 0


# ----------------------------------------------------------------------------------------------------------
# Shared utilities
# ----------------------------------------------------------------------------------------------------------


def _to_gray8(im: Image.Image) -> np.ndarray:
    """An 8-bit grayscale H x W array from any PIL image (16/32-bit integers scaled by their bit depth)."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(im).astype(np.float64)
        bits = max(8, int(arr.max(initial=0)).bit_length())
        return np.clip(np.round(arr * 255.0 / (2**bits - 1)), 0, 255).astype(np.uint8)
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        hi = float(arr.max(initial=0))
        scale = 255.0 if hi <= 1.0 else 255.0 / hi
        return np.clip(np.round(arr * scale), 0, 255).astype(np.uint8)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA").convert("RGB")
    return np.asarray(im.convert("L"), dtype=np.uint8)


def _fit_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a boolean H x W mask to ``shape`` by area averaging and a 0.5 threshold (as the loader does)."""
    fg = Image.fromarray(mask.astype(np.float32)).resize((shape[1], shape[0]), Image.BOX)
    return np.asarray(fg) >= 0.5


def _make_layout(tmp: Path) -> None:
    (tmp / "images").mkdir()
    (tmp / "masks").mkdir()


def _check_replaceable(out: Path) -> None:
    """Refuse to overwrite anything but an empty folder or an earlier output of this module."""
    if not out.exists():
        return
    if not out.is_dir():
        raise DatasetError(f"{out}: exists and is not a folder")
    source = out / "SOURCE.md"
    if any(out.iterdir()) and not (source.is_file() and _MARKER in source.read_text(errors="replace")):
        raise DatasetError(
            f"{out}: folder exists and was not written by 'bench datasets prepare'; choose another --out or remove it"
        )


def _source_md(title: str, lines: list[str], report: PrepareReport) -> str:
    skipped = "".join(f"  - {k}: {v}\n" for k, v in sorted(report.skipped_by_reason.items())) or "  - none\n"
    body = "".join(f"- {line}\n" for line in lines)
    return (
        f"# {title}\n\n{_MARKER}. Images: 8-bit grayscale PNG at native size; masks: 0/255 PNG.\n\n{body}"
        f"- Pairs written: {report.kept}\n- Masks resized to their image: {report.masks_resized}\n"
        f"- Skipped, by reason:\n{skipped}"
    )


def _write_pair(tmp: Path, stem: str, image: np.ndarray, mask: np.ndarray) -> None:
    Image.fromarray(image).save(tmp / "images" / f"{stem}.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp / "masks" / f"{stem}.png")


# ----------------------------------------------------------------------------------------------------------
# COVID-19 (ieee8023/covid-chestxray-dataset + v7labs lung masks from torchxrayvision)
# ----------------------------------------------------------------------------------------------------------


def default_covid_masks_zip() -> Path:
    """The v7labs lung-mask zip shipped inside the installed ``torchxrayvision`` package.

    The package is located with ``importlib.util.find_spec`` and never imported (importing it is slow and pulls
    in its own dependencies).

    Raises:
        DatasetError: if torchxrayvision is not installed or the zip is not in its ``data/`` folder.
    """
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "the COVID-19 lung masks come with the torchxrayvision package: run "
            f"'pip install torchxrayvision', or pass --masks-zip PATH/{COVID_MASKS_ZIP}"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / COVID_MASKS_ZIP
        if candidate.is_file():
            return candidate
    raise DatasetError(
        f"torchxrayvision is installed but has no data/{COVID_MASKS_ZIP}; upgrade it "
        f"('pip install -U torchxrayvision') or pass --masks-zip PATH/{COVID_MASKS_ZIP}"
    )


def _read_metadata(csv_path: Path) -> list[dict[str, str]]:
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:
            raise DatasetError(f"{csv_path}: empty file")
        names = {(n or "").strip().lower() for n in reader.fieldnames}
        missing = [c for c in ("filename", "view", "finding") if c not in names]
        if missing:
            raise DatasetError(
                f"{csv_path}: missing column(s) {missing}; is this the covid-chestxray-dataset metadata.csv?"
            )
        return [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in reader]


def prepare_covid19(
    images_repo: Path, out: Path, masks_zip: Path | None = None, keep_supine: bool = False
) -> PrepareReport:
    """Build the COVID-19 lung pair set used in the paper (Sec. 4.1) from its two public sources.

    Inputs: a clone of ieee8023/covid-chestxray-dataset (``metadata.csv`` + ``images/<filename>``) and the
    v7labs lung masks bundled in torchxrayvision (``semantic_masks_v7labs_lungs.zip``, member
    ``semantic_masks_v7labs_lungs/<filename>``, matched exactly and case-sensitively).

    Filter (the one torchxrayvision's ``COVID19_Dataset`` applies and the paper's loader inherits): view ``PA``
    or ``AP`` (plus ``AP Supine`` with ``keep_supine``); finding not ``todo`` / ``Unknown`` (case-insensitive);
    image file and mask member both present; each filename once. Masks whose lung label is empty are skipped
    (82 of the 517 masks are empty: CT slices and lateral views).

    Output: ``out/images/<stem>.png`` (8-bit grayscale, native size), ``out/masks/<stem>.png`` (lung = 255;
    the v7labs "ignore" value 127 and background become 0), and ``out/SOURCE.md``.

    Args:
        images_repo: root of the covid-chestxray-dataset clone.
        out: destination folder; replaced if it holds an earlier output of this module.
        masks_zip: the v7labs zip; default: the one inside the installed torchxrayvision (not imported).
        keep_supine: also keep ``AP Supine`` views.

    Returns:
        The report; skip reasons are ``duplicate_row``, ``view``, ``finding``, ``no_image``, ``no_mask``,
        ``empty_mask``, ``unreadable`` and ``duplicate_id`` (two filenames with one stem).

    Raises:
        DatasetError: missing ``metadata.csv``, ``images/`` or zip; torchxrayvision absent and no ``masks_zip``;
            no pair left after filtering; ``out`` is an unrelated non-empty folder.

    Notes:
        Masks are thresholded at >= 192, which separates 255 from 127 and 0 and equals ``== 255`` on clean
        masks. The released code keeps empty masks and thresholds resized masks with ``== 1.0``; both are
        corrected here (see ``released_code.md``, Sec. 7).
    """
    images_repo, out = Path(images_repo), Path(out)
    csv_path, image_dir = images_repo / "metadata.csv", images_repo / "images"
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path}: not found; --images must be a clone of ieee8023/covid-chestxray-dataset")
    if not image_dir.is_dir():
        raise DatasetError(
            f"{image_dir}: missing folder; --images must be a clone of ieee8023/covid-chestxray-dataset"
        )
    masks_zip = Path(masks_zip) if masks_zip is not None else default_covid_masks_zip()
    if not masks_zip.is_file():
        raise DatasetError(f"{masks_zip}: mask zip not found")
    _check_replaceable(out)

    views = {v.lower() for v in COVID_VIEWS} | ({COVID_SUPINE_VIEW.lower()} if keep_supine else set())
    rows = _read_metadata(csv_path)
    skipped: Counter[str] = Counter()
    report = PrepareReport(kept=0, out=out)
    seen_files: set[str] = set()
    seen_stems: set[str] = set()
    with atomic_dir(out) as tmp:
        _make_layout(tmp)
        with zipfile.ZipFile(masks_zip) as zf:
            members = {n[len(COVID_MASKS_PREFIX) :]: n for n in zf.namelist() if n.startswith(COVID_MASKS_PREFIX)}
            for row in rows:
                filename = row.get("filename", "")
                if filename in seen_files:
                    skipped["duplicate_row"] += 1
                    continue
                seen_files.add(filename)
                if " ".join(row.get("view", "").split()).lower() not in views:
                    skipped["view"] += 1
                    continue
                if row.get("finding", "").lower() in COVID_EXCLUDED_FINDINGS:
                    skipped["finding"] += 1
                    continue
                image_path = image_dir / filename
                if not filename or not image_path.is_file():
                    skipped["no_image"] += 1
                    continue
                if filename not in members:
                    skipped["no_mask"] += 1
                    continue
                try:
                    with Image.open(io.BytesIO(zf.read(members[filename]))) as im:
                        lung = np.asarray(im.convert("L")) >= 192
                    with Image.open(image_path) as im:
                        image = _to_gray8(im)
                except _READ_ERRORS as e:
                    logger.warning("skipping %s: unreadable (%s: %s)", filename, type(e).__name__, e)
                    skipped["unreadable"] += 1
                    continue
                if not lung.any():
                    skipped["empty_mask"] += 1
                    continue
                stem = Path(filename).stem
                if stem in seen_stems:
                    skipped["duplicate_id"] += 1
                    continue
                seen_stems.add(stem)
                if lung.shape != image.shape:
                    lung = _fit_mask(lung, image.shape)
                    report.masks_resized += 1
                _write_pair(tmp, stem, image, lung)
                report.kept += 1
        report.skipped_by_reason = dict(sorted(skipped.items()))
        if report.kept == 0:
            raise DatasetError(
                f"no COVID-19 pair left after filtering {len(rows)} metadata rows "
                f"(skipped: {report.skipped_by_reason})"
            )
        try:
            xrv_version = importlib.metadata.version("torchxrayvision")
        except importlib.metadata.PackageNotFoundError:
            xrv_version = "not installed (zip passed explicitly)"
        csv_sha1 = hashlib.sha1(csv_path.read_bytes()).hexdigest()
        views_text = ", ".join(COVID_VIEWS + ((COVID_SUPINE_VIEW,) if keep_supine else ()))
        lines = [
            "Images: ieee8023/covid-chestxray-dataset (Cohen et al. 2020, arXiv:2003.11597); per-image licences "
            "in its metadata.csv (column `license`)",
            f"metadata.csv sha1: {csv_sha1} ({len(rows)} rows)",
            "Lung masks: V7 Labs COVID-19 X-ray lung annotations (CC BY 4.0) from torchxrayvision's "
            f"{COVID_MASKS_ZIP} (zip sha1 {hashlib.sha1(masks_zip.read_bytes()).hexdigest()}, "
            f"torchxrayvision {xrv_version}); lung = 255, 'ignore' (127) and background = 0",
            f"Filter: view in {{{views_text}}}, finding not todo/Unknown, image and mask present, "
            "non-empty lung mask, each filename once",
        ]
        (tmp / "SOURCE.md").write_text(_source_md("covid19: COVID-19 chest X-rays with lung masks", lines, report))
    logger.info("covid19: kept %d pairs, skipped %s -> %s", report.kept, report.skipped_by_reason, out)
    return report


# ----------------------------------------------------------------------------------------------------------
# CGMH Pelvis (Kaggle tommyngx/cgmh-pelvisseg)
# ----------------------------------------------------------------------------------------------------------


def prepare_cgmh_pelvis(root: Path, out: Path) -> PrepareReport:
    """Build the CGMH Pelvis pair set (paper Sec. 4.1) from the Kaggle layout ``ROOT/Image`` + ``ROOT/Label``.

    Images and labels share file names. Foreground is stored bright; every label value > 0 becomes 255 (so 0/1
    and 0/255 labels both work). Files are processed in sorted order (the released code used unsorted
    ``os.listdir``, which made its split depend on the file system).

    Args:
        root: folder holding ``Image/`` and ``Label/``.
        out: destination folder; replaced if it holds an earlier output of this module.

    Returns:
        The report; skip reasons are ``no_label`` (image without label), ``no_image`` (label without image),
        ``unreadable``, ``empty_mask`` and ``duplicate_id`` (two files with one stem).

    Raises:
        DatasetError: ``Image/`` or ``Label/`` missing (the message names it), no pair found, or ``out`` is an
            unrelated non-empty folder.
    """
    root, out = Path(root), Path(out)
    image_dir, label_dir = root / "Image", root / "Label"
    for folder in (image_dir, label_dir):
        if not folder.is_dir():
            raise DatasetError(
                f"{folder}: missing folder; --root must hold Image/ and Label/ with the same "
                "file names (Kaggle tommyngx/cgmh-pelvisseg)"
            )
    _check_replaceable(out)

    def listing(folder: Path) -> dict[str, Path]:
        return {
            p.name: p
            for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
        }

    images, labels = listing(image_dir), listing(label_dir)
    skipped: Counter[str] = Counter()
    skipped["no_label"] = len(set(images) - set(labels))
    skipped["no_image"] = len(set(labels) - set(images))
    report = PrepareReport(kept=0, out=out)
    nonbinary = 0
    seen_stems: set[str] = set()
    with atomic_dir(out) as tmp:
        _make_layout(tmp)
        for name in sorted(set(images) & set(labels)):
            try:
                with Image.open(images[name]) as im:
                    image = _to_gray8(im)
                with Image.open(labels[name]) as im:
                    label = np.asarray(im.convert("L") if im.mode not in ("L", "I", "I;16", "1") else im)
            except _READ_ERRORS as e:
                logger.warning("skipping %s: unreadable (%s: %s)", name, type(e).__name__, e)
                skipped["unreadable"] += 1
                continue
            if not set(np.unique(label).tolist()) <= {0, 1, 255}:
                nonbinary += 1
            fg = label > 0
            if not fg.any():
                skipped["empty_mask"] += 1
                continue
            stem = Path(name).stem
            if stem in seen_stems:
                skipped["duplicate_id"] += 1
                continue
            seen_stems.add(stem)
            if fg.shape != image.shape:
                fg = _fit_mask(fg, image.shape)
                report.masks_resized += 1
            _write_pair(tmp, stem, image, fg)
            report.kept += 1
        report.skipped_by_reason = {k: v for k, v in sorted(skipped.items()) if v}
        if report.kept == 0:
            raise DatasetError(f"{root}: no image-label pair found (skipped: {report.skipped_by_reason})")
        if nonbinary:
            logger.warning(
                "cgmh-pelvis: %d labels have values other than 0/1/255; every value > 0 was taken as foreground",
                nonbinary,
            )
        lines = [
            "Source: Kaggle dataset tommyngx/cgmh-pelvisseg (Tommy NgX, 2021, 'CGMH Pelvis datasets for research "
            "and education purposes only')",
            f"Input layout: Image/*.png + Label/*.png, {len(images)} images, {len(labels)} labels",
            f"Labels: value > 0 -> 255; {nonbinary} label(s) had values other than 0/1/255",
        ]
        (tmp / "SOURCE.md").write_text(_source_md("cgmh-pelvis: CGMH pelvis X-rays with pelvis masks", lines, report))
    logger.info("cgmh-pelvis: kept %d pairs, skipped %s -> %s", report.kept, report.skipped_by_reason, out)
    return report
