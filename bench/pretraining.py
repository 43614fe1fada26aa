"""``bench pretrain``: a method's generator trained once per modality on a larger pair set, for runs to fine-tune
from (``--option pretrained=FOLDER``), as the paper starts DiffuseExpand's stage I from an ImageNet model.

The folder's layout is :mod:`methods.diffusion.pretrained`'s; ``pretrain.json`` is written last, so a folder without
it is unfinished (a killed pretraining resumes from its checkpoints). Its cost is reported apart from any run's:
it is paid once per modality, not per run.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench
from bench.cards import resolve_dataset
from bench.config import ConfigError, check_type, merge_options, preset
from bench.files import write_json
from bench.masks import MaskReading
from bench.runner.request import check_device_name
from methods import method_entry, method_options
from methods.diffusion.recipe import RECORD, recipe_of

OWN = (RECORD, "checkpoints", "config.json")  # what a pretraining folder holds, finished or not (--force clears it)


@dataclass
class PretrainRequest:
    """What a user asks ``bench pretrain`` for; ``steps`` None means the preset's stage-I steps."""

    method: str
    dataset: str
    out: Path
    preset: str = "cpu"
    steps: int | None = None
    seed: int = 0
    method_options: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    force: bool = False
    masks: MaskReading = MaskReading()  # how mask files are read (--mask-threshold, --mask-suffix)


def check_pretrain(req: PretrainRequest) -> Any:
    """Every check that needs neither torch nor the data's pixels; the method's resolved options.

    Raises:
        ConfigError: naming the option.
    """
    try:
        entry = method_entry(req.method)
    except KeyError as e:
        raise ConfigError(e.args[0]) from None
    preset(req.preset)
    options_cls, presets = method_options(req.method) if entry.options else (None, {})
    if options_cls is None or "pretrained" not in {f.name for f in dataclasses.fields(options_cls)}:
        raise ConfigError(
            f"--method: '{req.method}' cannot start from a pretrained generator, so it has no pretraining"
        )
    check_device_name(req.device)
    check_type(req.seed, int, "--seed")
    if req.seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {req.seed}")
    layers = [presets.get(req.preset, {}), req.method_options]
    if req.steps is not None:
        if check_type(req.steps, int, "--steps") < 1:
            raise ConfigError(f"--steps must be >= 1, got {req.steps}")
        layers.append({"denoiser_steps": req.steps})
    options = merge_options(options_cls, {}, *layers, where=f"{req.method} method", flag="--option")
    out = Path(req.out)
    if (out / RECORD).is_file() and not req.force:
        raise ConfigError(f"--out: {out} holds a finished pretraining; --force trains it again")
    if out.is_dir() and any(out.iterdir()) and not any((out / f).exists() for f in OWN):
        raise ConfigError(f"--out: {out} is a folder of other files, not a pretraining; choose an empty or new one")
    return options


def pretrain(req: PretrainRequest, progress: Any = None) -> dict[str, Any]:
    """Train ``req.method``'s generator on every pair of ``req.dataset`` at the preset's size into ``req.out``.

    Returns:
        The ``pretrain.json`` record.
    Raises:
        ConfigError: a bad option. bench.pairs.DatasetError: a missing data set or one that fails its check.
    """
    from bench.data import fingerprint, image_hashes, read_pairs
    from bench.integrity import check
    from bench.pairs import DatasetError
    from bench.runner.machine import resolve_device
    from methods import get_method

    options = check_pretrain(req)
    size = preset(req.preset)["image_size"]
    path, card = resolve_dataset(req.dataset)
    name = card.name if card else path.name
    report = check(path, image_size=size, reading=req.masks)
    report.raise_for_errors()
    pairs = read_pairs(report, size, 1, name)
    method = get_method(req.method)
    if method.binary_masks_only and pairs.num_classes > 2:
        raise DatasetError(
            f"{path}: masks hold labels 0..{pairs.num_classes - 1}, but '{req.method}' takes binary masks only"
        )
    device = resolve_device(req.device)
    out = Path(req.out)
    if req.force and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    from methods.base import options_dict  # torch: only once the work starts

    start = time.perf_counter()
    cost = method.pretrain(pairs, options, out, req.seed, device, progress)
    record = {
        "method": req.method,
        "dataset": name,
        "pairs": len(pairs),
        "fingerprint": fingerprint(pairs),
        "size": size,
        "channels": int(pairs.images.shape[1]),
        "num_classes": pairs.num_classes,
        "preset": req.preset,
        "seed": req.seed,
        "options": options_dict(options),  # all of them: cfg_dropout, prediction, ... shape the weights too
        "recipe": recipe_of(type(options), dataclasses.asdict(options)),  # what a run fine-tunes it with
        "steps": cost["steps"],
        "seconds": round(cost["seconds"], 1),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "device": str(device),
        "versions": {"package": bench.__version__, "method": method_entry(req.method).version},
        "image_hashes": image_hashes(pairs),
    }
    write_json(out / RECORD, record)
    return record
