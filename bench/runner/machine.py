"""What a planned request needs from this machine (device, writable output, input sizes), checked before any
work, and running out of memory turned into an error that names the stage."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from bench import interrupts
from bench.config import MODEL_STRIDES, ConfigError
from bench.runner.planning import Plan
from bench.runner.request import Request, check_device_name, no_cuda


class RunError(RuntimeError):
    """A run that failed for a reason the request could not rule out (out of memory); names the stage."""


def preflight(req: Request, pl: Plan) -> torch.device:
    """Check what a planned request needs from this machine, before anything is loaded or written.

    Returns:
        The device to compute on.

    Raises:
        ConfigError: a downstream model that cannot take the image size, a device this machine lacks, or an
            output folder that cannot be written (checked without creating it).
    """
    for m in req.models:
        if pl.image_size % MODEL_STRIDES[m]:
            raise ConfigError(
                f"--image-size {pl.image_size}: model '{m}' needs a multiple of {MODEL_STRIDES[m]} "
                f"(e.g. {max(MODEL_STRIDES[m], pl.image_size // MODEL_STRIDES[m] * MODEL_STRIDES[m])})"
            )
    device = resolve_device(req.device)
    check_writable(Path(req.out))
    check_inception_weights(req.inception_weights)
    return device


def check_inception_weights(weights: Path | None) -> None:
    """Refuse, before any training, an Inception weights file that ``--inception-weights`` or ``$BENCH_FID_WEIGHTS``
    names and that is missing, torn or no FID network (a file found in the usual places is read when used).

    Raises:
        ConfigError: a missing file. bench.files.CorruptFileError: a file that cannot be read as the weights.
    """
    from bench.metrics.inception import WEIGHTS_ENV, resolve_weights

    if weights is not None and not Path(weights).is_file():
        raise ConfigError(f"--inception-weights: no such file {weights}")
    if weights is not None or os.environ.get(WEIGHTS_ENV):
        try:
            resolve_weights(weights)
        except FileNotFoundError as e:  # $BENCH_FID_WEIGHTS names no file
            raise ConfigError(str(e)) from None


def resolve_device(name: str | None) -> torch.device:
    """The device ``--device`` names (default: cuda if available); ConfigError for one this machine lacks."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    check_device_name(name)
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is built without CUDA" if torch.version.cuda is None else "no GPU is visible"
            raise no_cuda(name, why)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} GPU(s) are visible")
    return device


def check_writable(out: Path, flag: str = "--out") -> None:
    """Refuse an output folder that cannot be written, by a probe file in its nearest existing folder.

    Raises:
        ConfigError: naming ``flag``, when that folder is a file or cannot be written.
    """
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"{flag} {out}: {existing} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise ConfigError(f"{flag} {out}: cannot write in {existing} ({e.strerror or e})") from None


@contextmanager
def oom_as_run_error(what: str, device: torch.device) -> Iterator[None]:
    """Turn running out of memory during ``what`` into a RunError that names the stage and the device; ``what`` is
    also the step an interrupt names (:mod:`bench.interrupts`)."""
    try:
        with interrupts.step(what):
            yield
    except (torch.OutOfMemoryError, MemoryError) as e:
        cause = (str(e).strip().splitlines() or ["no details"])[0]
        raise RunError(
            f"out of memory while {what} on {device} ({cause}); try a smaller preset, batch size or --image-size"
        ) from e
