"""Where a run's files live under an output root, and how a finished run is recognised there.

``<out>/<dataset>/<run name>/ratio_<r>/seed_<s>/`` holds a run (``bench.results.run_dir``); its ``results.json``
is written last, so a folder with a readable one whose key matches is a finished run. ``<out>/<dataset>/_cache/``
holds what runs share: each method's cached stages and the real images' metric features.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bench import results as store

logger = logging.getLogger(__package__)  # "bench.runner" in log lines, whichever module logs

CLOSEST_PNG = "closest_pairs.png"  # generated images beside their nearest real training images
WEIGHTS = "downstream.pt"  # the downstream network's state dict, kept by runs with external test sets


def method_cache(out: Path, dataset_name: str, method: str) -> Path:
    """Where a method's cached stages for a data set live under an output root: ``<out>/<dataset>/_cache/<method>``
    (``MethodContext.workdir``); every command that fits methods there shares them."""
    return Path(out) / dataset_name / "_cache" / method


def metrics_cache(out: Path, dataset_name: str) -> Path:
    """Where real-image features of a data set are cached under an output root: ``<out>/<dataset>/_cache/metrics``."""
    return Path(out) / dataset_name / "_cache" / "metrics"


def cached_stages(cache: Path) -> int:
    """How many finished stage folders (``<stage>/<hash>/done.json``) a method's cache holds."""
    return len(list(cache.glob("*/*/done.json"))) if cache.is_dir() else 0


def stored_result(rdir: Path, key: str) -> store.Results | None:
    """The finished results of the run with config ``key`` in ``rdir``, or None (missing, unreadable, other key)."""
    f = rdir / "results.json"
    if not f.is_file():
        return None
    try:
        res = store.load_results(f)
    except ValueError as e:
        logger.warning("ignoring %s", e)  # the message names the file
        return None
    return res if res["run"]["key"] == key else None
