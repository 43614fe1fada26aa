"""Export real + generated pairs as an nnU-Net v2 raw data set, with folds that never validate on generated cases.

nnU-Net v2 reads ``nnUNet_raw/DatasetXXX_Name/``: ``imagesTr/<case>_0000.png`` (one file per channel; an RGB PNG is
one file with three channels), ``labelsTr/<case>.png`` with labels 0..K, and ``dataset.json``. Its own five-fold
split would put generated cases into validation folds, so nnU-Net's validation Dice would partly measure how well
it segments generated images. ``splits_final.json`` fixes that: the real cases are split into folds, every
generated case joins the training part of every fold. nnU-Net reads that file from its *preprocessed* folder,
where it must be copied after ``nnUNetv2_plan_and_preprocess`` (the command prints how).
"""

from __future__ import annotations

import json
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from bench.files import storage_error, write_text
from bench.images import mask_labels, read_array
from bench.integrity import check
from bench.masks import MaskReading

SYNTHETIC_PREFIX = "syn_"
REAL_PREFIX = "real_"


@dataclass
class NnunetExport:
    """What :func:`export_nnunet` wrote: the data set folder, its case counts and the labels."""

    folder: Path
    real: int
    synthetic: int
    labels: dict[str, int]
    folds: int


def export_nnunet(
    real: Path,
    synthetic: Path | None,
    dataset_id: int,
    name: str,
    out: Path,
    label_names: tuple[str, ...] = (),
    folds: int = 5,
    seed: int = 0,
    channel_name: str = "image",
    reading: MaskReading | None = None,
) -> NnunetExport:
    """Write ``out/DatasetXXX_Name`` (nnU-Net v2 raw layout) from a real pair set and, optionally, a generated one.

    Cases are named ``real_<id>`` and ``syn_<id>``, images and masks kept at their own size (nnU-Net resamples);
    binary masks (0 and one value, or any mask under ``reading``'s threshold) become labels 0/1, label masks keep
    0..K. The folder is written under a temporary name and
    renamed, so an interrupted export leaves no half data set behind.

    Args:
        real: pair-set folder of real pairs; only these are ever in a validation fold.
        synthetic: pair-set folder of generated pairs (e.g. ``bench expand``'s output), or None.
        dataset_id: nnU-Net's data set number, 1..999.
        name: the data set name (letters, digits, ``_``, ``-``).
        out: the ``nnUNet_raw`` folder.
        label_names: names of labels 1..K (default ``label_1`` ...).
        folds: number of folds over the real cases.
        seed: seed of the fold assignment.
        channel_name: ``dataset.json``'s name of the image channel (grey images); RGB images are ``R``, ``G``, ``B``.
        reading: how the real set's mask files are read (``--mask-threshold``, ``--mask-suffix``); the generated
            set, written by this package, is read as stored.

    Raises:
        ValueError: a bad id or name, a folder that fails its integrity check, too few real cases for the folds,
            real and generated sets with different channel counts or label sets, or a data set folder that exists.
    """
    if not 1 <= dataset_id <= 999:
        raise ValueError(f"--dataset-id must be in 1..999, got {dataset_id}")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"--name {name!r}: use letters, digits, _ and - only")
    folder = Path(out) / f"Dataset{dataset_id:03d}_{name}"
    if folder.exists():
        raise ValueError(f"{folder} exists; remove it or choose another --dataset-id / --name")
    taken = sorted(p.name for p in Path(out).glob(f"Dataset{dataset_id:03d}_*")) if Path(out).is_dir() else []
    if taken:
        raise ValueError(f"nnU-Net data set id {dataset_id} is already used by {Path(out) / taken[0]}")
    sets = [(REAL_PREFIX, real)] + ([(SYNTHETIC_PREFIX, synthetic)] if synthetic is not None else [])
    reports = []
    for prefix, root in sets:
        rep = check(root, reading=reading if prefix == REAL_PREFIX else None)
        rep.raise_for_errors()
        reports.append(rep)
    if len(reports[0].ids) < folds:
        raise ValueError(f"{real}: {len(reports[0].ids)} real pairs cannot make {folds} folds")

    tmp = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "imagesTr").mkdir(parents=True)
    (tmp / "labelsTr").mkdir()
    cases: dict[str, list[str]] = {REAL_PREFIX: [], SYNTHETIC_PREFIX: []}
    channels: dict[str, int] = {}
    labels_seen: set[int] = set()
    try:
        for (prefix, root), rep in zip(sets, reports):
            for k in rep.ids:
                case = prefix + (k[len(SYNTHETIC_PREFIX) :] if k.startswith(SYNTHETIC_PREFIX) else k)
                image = _image_array(Path(root) / "images" / rep.image_files[k])
                mask = Path(root) / "masks" / rep.mask_files[k]
                label = mask_labels(mask, rep.mask_kind == "binary", rep.reading.threshold).astype(np.uint8)
                channels.setdefault(prefix, image.shape[2] if image.ndim == 3 else 1)
                if (image.shape[2] if image.ndim == 3 else 1) != channels[prefix]:
                    raise ValueError(f"{root}/images/{rep.image_files[k]}: channel count differs from the set's")
                Image.fromarray(image).save(tmp / "imagesTr" / f"{case}_0000.png")
                Image.fromarray(label).save(tmp / "labelsTr" / f"{case}.png")
                labels_seen |= set(np.unique(label).tolist())
                cases[prefix].append(case)
        if len(set(channels.values())) > 1:
            raise ValueError(f"{real} and {synthetic}: images have {channels[REAL_PREFIX]} and "
                             f"{channels[SYNTHETIC_PREFIX]} channels; nnU-Net needs one channel layout")  # fmt: skip
        k_max = max(labels_seen)
        names = list(label_names) or [f"label_{i}" for i in range(1, k_max + 1)]
        if len(names) != k_max:
            raise ValueError(f"--labels names {len(names)} label(s), but the masks hold labels 1..{k_max}")
        labels = {"background": 0, **{n: i for i, n in enumerate(names, start=1)}}
        rgb = channels[REAL_PREFIX] == 3
        dataset = {
            "channel_names": {"0": "R", "1": "G", "2": "B"} if rgb else {"0": channel_name},
            "labels": labels,
            "numTraining": len(cases[REAL_PREFIX]) + len(cases[SYNTHETIC_PREFIX]),
            "file_ending": ".png",
            "name": name,
            "description": f"{len(cases[REAL_PREFIX])} real pairs from {Path(real).resolve()}"
            + (
                f" and {len(cases[SYNTHETIC_PREFIX])} generated pairs from {Path(synthetic).resolve()}"
                if synthetic
                else ""
            ),
            "synthetic_cases": cases[SYNTHETIC_PREFIX],
        }
        write_text(tmp / "dataset.json", json.dumps(dataset, indent=2) + "\n")
        splits = synthetic_safe_folds(cases[REAL_PREFIX], cases[SYNTHETIC_PREFIX], folds, seed)
        write_text(tmp / "splits_final.json", json.dumps(splits, indent=2) + "\n")
        tmp.rename(folder)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        full = storage_error(e, folder, in_writer=False)  # PIL names no file: name the export
        if full is not None:
            raise full from e
        raise
    return NnunetExport(folder, len(cases[REAL_PREFIX]), len(cases[SYNTHETIC_PREFIX]), labels, folds)


def synthetic_safe_folds(real: list[str], synthetic: list[str], folds: int, seed: int) -> list[dict[str, list[str]]]:
    """``folds`` train/val splits in nnU-Net's ``splits_final.json`` format: the real cases shuffled (seeded) into
    folds of near-equal size, each fold validating on its real cases only; every generated case trains in every
    fold."""
    order = sorted(real)
    random.Random(seed).shuffle(order)
    parts = [sorted(order[i::folds]) for i in range(folds)]
    return [
        {"train": sorted(c for j, p in enumerate(parts) if j != i for c in p) + sorted(synthetic), "val": part}
        for i, part in enumerate(parts)
    ]


def _image_array(path: Path) -> np.ndarray:
    """The image as nnU-Net reads a PNG: grey (8 or 16 bit) or RGB; alpha dropped."""
    arr = read_array(path)
    if arr.ndim == 3:
        arr = arr[..., 0] if arr.shape[2] == 2 else arr[..., :3]
    return np.ascontiguousarray(arr)
