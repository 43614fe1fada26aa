"""Shared fixtures: the real Montgomery set from ../shared and tiny hand-made pair sets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic_pairs import disc_folder, write_pair

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"

# Each xdist worker takes its share of the cores (two workers with every core each make OpenMP spin against each
# other, several times slower than one), passed on to the subprocesses tests start; and the CLI console's width
# follows the COLUMNS a test sets, not the 80 that xdist gives its workers (the console is not imported yet).
if os.environ.get("PYTEST_XDIST_WORKER"):
    if not os.environ.get("OMP_NUM_THREADS"):
        threads = max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest test files first (``pytest.mark.heavy(seconds)``), the rest in collection order: pytest-xdist
    hands whole files to its workers in this order, so both finish together instead of one running a long file
    alone at the end."""

    def seconds(item: pytest.Item) -> float:
        mark = item.get_closest_marker("heavy")
        return mark.args[0] if mark else 0.0

    items.sort(key=seconds, reverse=True)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Every test writes data and W&B files under its own tmp folder."""
    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


@pytest.fixture
def montgomery() -> Path:
    path = SHARED / "montgomery_lung"
    if not path.is_dir():
        pytest.fail(f"the shared Montgomery data is expected at {path}")
    return path


@pytest.fixture
def broken_pairs(tmp_path) -> Path:
    """A folder with a corrupt PNG, an unpaired image and a 0/1/2/7-valued mask, plus two good pairs."""
    root = tmp_path / "broken"
    rng = np.random.default_rng(0)
    for k in ("good_a", "good_b"):
        m = np.zeros((16, 16), np.uint8)
        m[4:12, 4:12] = 255
        write_pair(root, k, rng.integers(0, 255, (16, 16), dtype=np.uint8), m)
    write_pair(
        root,
        "badvalues",
        rng.integers(0, 255, (16, 16), dtype=np.uint8),
        np.array([0, 1, 2, 7] * 64, np.uint8).reshape(16, 16),
    )
    write_pair(root, "corrupt", rng.integers(0, 255, (16, 16), dtype=np.uint8), np.zeros((16, 16), np.uint8))
    (root / "images" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(root / "images" / "lonely.png")
    return root


@pytest.fixture
def discs(tmp_path) -> Path:
    """A valid 16-pair binary set at 32 x 32: big enough to split (2 test images), fast to train on."""
    return disc_folder(tmp_path / "discs")


@pytest.fixture
def resolutions(monkeypatch) -> list[str]:
    """The method of every request whose options are resolved, in order (tests that options resolve once)."""
    import bench.runner.planning
    import bench.runner.request

    calls: list[str] = []
    resolve = bench.runner.request.resolve_options

    def counted(req):
        calls.append(req.method)
        return resolve(req)

    for module in (bench.runner.request, bench.runner.planning):
        monkeypatch.setattr(module, "resolve_options", counted)
    return calls
