"""`bench speed --method diffuseexpand`: a row per stage and per sampling configuration, and rows that ran out of
memory say so instead of ending the benchmark."""

import pytest
import torch

from methods.diffuseexpand.cost import RELEASED
from methods.diffuseexpand.method import DiffuseExpand
from methods.diffuseexpand.speed import benchmark, measured, sampling_configs

pytestmark = pytest.mark.heavy(17)


def test_every_sampling_configuration_is_timed():
    rows = benchmark("smoke", "cpu", steps=1)
    configs = sampling_configs(DiffuseExpand.Options(**DiffuseExpand.presets["smoke"]))
    assert "cpu preset's sampler" in configs and configs["released"] == RELEASED
    sampler = [r for r in rows if r["stage"] == "sampler"]
    assert [r["what"].split(", batch")[0] for r in sampler] == [
        f"pair (mask + image), {label}: {c.name}" for label, c in configs.items()
    ]
    assert [r["stage"] for r in rows] == ["denoiser", "segmenter", *["sampler"] * len(configs), "filter"]
    assert all(r["seconds"] > 0 and r["peak_gib"] is None for r in rows)  # on the CPU: no GPU memory figure


def test_a_measurement_that_runs_out_of_memory_is_a_row_saying_so():
    def too_big() -> float:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    row = measured("denoiser", "train step", "s/step", too_big, torch.device("cpu"))
    assert row == {"stage": "denoiser", "what": "train step", "seconds": None, "unit": "s/step", "peak_gib": None}
    with pytest.raises(ValueError):
        measured("x", "y", "s", lambda: float("x"), torch.device("cpu"))
