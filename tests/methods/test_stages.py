"""Cached stages in a ``cached_only`` context: load what is complete, refuse the rest, write nothing."""

import pytest
import torch

from bench.config import TrainConfig
from methods.base import MethodContext
from methods.stages import StageNotCached, cached_stage


def _ctx(workdir, cached_only: bool = False) -> MethodContext:
    return MethodContext(workdir, seed=0, device=torch.device("cpu"), train=TrainConfig(), cached_only=cached_only)


def _never(folder):
    raise AssertionError("a cached_only context computed a stage")


def test_cached_only_loads_complete_stages_and_refuses_missing_ones(tmp_path):
    workdir = tmp_path / "cache"
    key = {"role": "denoiser", "seed": 0}
    with pytest.raises(StageNotCached, match=f"denoiser is not in the cache {workdir}"):
        cached_stage(_ctx(workdir, cached_only=True), key, _never)
    assert not workdir.exists()  # no folder, key file or lock

    done = cached_stage(_ctx(workdir), key, lambda folder: {"seconds": 1.5})
    files = {p: p.stat().st_mtime_ns for p in workdir.rglob("*")}
    again = cached_stage(_ctx(workdir, cached_only=True), key, _never)
    assert (again.folder, again.digest, again.done, again.reused) == (done.folder, done.digest, {"seconds": 1.5}, True)
    assert {p: p.stat().st_mtime_ns for p in workdir.rglob("*")} == files
