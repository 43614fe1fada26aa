"""The presets of DiffuseExpand's options."""

import dataclasses

from bench.config import PRESETS as RUN_PRESETS
from bench.config import merge_options
from methods.diffuseexpand.options import PRESETS, DiffuseExpandOptions
from methods.diffuseexpand.sampling_config import SamplingConfig


def test_the_gpu_preset_differs_from_the_cpu_one_in_its_networks_only():
    cpu, gpu = (merge_options(DiffuseExpandOptions, {}, PRESETS[p]) for p in ("cpu", "gpu"))
    changed = {f.name for f in dataclasses.fields(cpu) if getattr(cpu, f.name) != getattr(gpu, f.name)}
    assert changed and all(
        n.startswith(("denoiser_", "segmenter_")) or n in {"ema_decay", "sample_batch", "checkpoint_every"}
        for n in changed
    ), changed
    assert SamplingConfig.from_options(cpu) == SamplingConfig.from_options(gpu)
    assert RUN_PRESETS["gpu"] == RUN_PRESETS["cpu"]  # the same size, pair count and downstream training
