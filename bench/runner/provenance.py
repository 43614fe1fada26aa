"""What a result records about the code and the machine that made it: package versions, git commit, date,
device and platform, so that two results.json files can be told apart when their numbers differ."""

from __future__ import annotations

import importlib.metadata as md
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

import bench

PACKAGES = ("torch", "torchvision", "diffusers", "segmentation-models-pytorch", "timm", "monai", "wandb")


def package_version(package: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return md.version(package)
    except md.PackageNotFoundError:
        return None


def git_hash() -> str | None:
    """The commit of the checkout this code runs from, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def cpu_model() -> str | None:
    """The CPU's model name (Linux's ``/proc/cpuinfo``, else what ``platform`` knows), or None."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def now() -> str:
    """The current UTC time, to the second, as results record it."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def provenance(method_version: str, device: torch.device) -> dict[str, Any]:
    """A run's ``versions``, ``git_hash``, ``date`` and ``environment`` entries, in results.json's order."""
    return {
        "versions": {
            "package": bench.__version__,  # the code that runs, which an editable install's metadata may not be
            "method": method_version,
            **{p: package_version(p) for p in PACKAGES},
        },
        "git_hash": git_hash(),
        "date": now(),
        "environment": {
            "device": str(device),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            # Another CPU's kernels may round differently and so train another network from the same seed.
            "cpu": cpu_model(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "python": platform.python_version(),
            "cuda": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        },
    }
