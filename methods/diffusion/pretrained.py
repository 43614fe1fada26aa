"""A stage-I denoiser pretrained on a larger pair set of the same modality (``bench pretrain``), as the paper starts
from an ImageNet model: the folder's record, its fingerprint for stage keys, and the refusal of a test split that
the pretraining saw.

A pretraining folder is a diffusers model folder (``config.json``, ``diffusion_pytorch_model.safetensors``,
``scheduler_config.json``) plus ``pretrain.json``, written last: what made it (method, data set name, pair count and
fingerprint, size, options, seed, steps, seconds, versions) and ``image_hashes``, the content hash of every image
it trained on (:func:`bench.data.image_hashes`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from bench.config import ConfigError
from bench.data import image_hashes
from bench.pairs import PairSet

RECORD = "pretrain.json"
WEIGHTS = "diffusion_pytorch_model.safetensors"


def made_by_bench(folder: str | Path | None) -> bool:
    """Whether ``folder`` is a ``bench pretrain`` folder (not a plain diffusers UNet, which is adapted instead)."""
    return folder is not None and (Path(folder) / RECORD).is_file()


def fingerprints(folder: str | Path | None) -> dict[str, str]:
    """``{"pretrained": fingerprint}`` for a ``bench pretrain`` folder, for run and stage keys; else empty."""
    return {"pretrained": fingerprint(folder)} if made_by_bench(folder) else {}


def read_record(folder: str | Path, flag: str = "--option pretrained") -> dict[str, Any]:
    """The ``pretrain.json`` of a folder ``bench pretrain`` wrote.

    Raises:
        ConfigError: naming ``flag`` and the folder, when it is no finished pretraining.
    """
    path = Path(folder) / RECORD
    if not path.is_file() or not (Path(folder) / WEIGHTS).is_file():
        raise ConfigError(f"{flag}: {folder} is no finished `bench pretrain` folder (no {RECORD} or {WEIGHTS})")
    return json.loads(path.read_text())


def fingerprint(folder: str | Path) -> str:
    """A content hash of the record and the weights: what a fine-tuned stage's key holds instead of a path."""
    h = hashlib.sha1((Path(folder) / RECORD).read_bytes())
    h.update((Path(folder) / WEIGHTS).read_bytes())
    return h.hexdigest()[:16]


def refuse_overlap(folder: str | Path, test: PairSet, flag: str = "--option pretrained") -> None:
    """Refuse a test split that holds an image the pretraining trained on (same pixels at the loaded size, under
    any name): a generator that has seen the test images would make the benchmark's gain a leak.

    Raises:
        ConfigError: naming the folder and up to five of the test images.
    """
    record = read_record(folder, flag)
    if record["size"] != int(test.images.shape[-1]):
        raise ConfigError(
            f"{flag}: {folder} was pretrained at {record['size']} x {record['size']}, this run loads "
            f"{test.images.shape[-1]} x {test.images.shape[-1]}"
        )
    seen = set(record["image_hashes"])
    shared = [i for i, h in zip(test.ids, image_hashes(test)) if h in seen]
    if shared:
        raise ConfigError(
            f"{flag}: {folder} was pretrained on {len(shared)} of this run's {len(test)} test images "
            f"({', '.join(shared[:5])}{', ...' if len(shared) > 5 else ''}); pretrain on a set without them"
        )


class PretrainedStart:
    """What a method whose options have ``pretrained`` adds to a run (mixed in before ``ExpansionMethod``): the
    refusal of a test split the pretraining saw, and the folder's fingerprint in the run key."""

    @classmethod
    def check_split(cls, options: Any, test: PairSet) -> None:
        if made_by_bench(options.pretrained):
            refuse_overlap(options.pretrained, test)

    @classmethod
    def input_fingerprints(cls, options: Any) -> dict[str, str]:
        return fingerprints(options.pretrained)
