"""The sampling knobs: one default and one range check each, shared by the options, the sampler and the guidance."""

import dataclasses

import pytest

from bench.config import ConfigError
from methods.diffuseexpand.options import DiffuseExpandOptions
from methods.diffuseexpand.sampling_config import SamplingConfig
from methods.diffusion.options import DenoiserOptions


@pytest.mark.parametrize(
    "knob,value",
    [
        ("tau", 0.0),
        ("guidance_reduction", "max"),
        ("image_objective", "dice"),
        ("guidance_every", 0),
        ("guidance_until", 1.0),
        ("mask_median", 4),
        ("cf_weight", -1.0),
        ("solver_order", 4),
    ],
)
def test_a_knob_out_of_range_is_refused_by_the_config_and_named_by_the_options(knob, value):
    with pytest.raises(ValueError, match=knob):
        SamplingConfig(**{knob: value})
    with pytest.raises(ConfigError, match=f"diffuseexpand options: .*{knob}"):
        DiffuseExpandOptions(**{knob: value})


def test_the_options_sample_with_the_configs_defaults():
    assert SamplingConfig.from_options(DiffuseExpandOptions()) == SamplingConfig()
    shared = {f.name for f in dataclasses.fields(DenoiserOptions)} & {
        f.name for f in dataclasses.fields(DiffuseExpandOptions)
    }
    assert all(getattr(DiffuseExpandOptions(), k) == getattr(DenoiserOptions(), k) for k in shared)
    assert SamplingConfig().solver_order == DenoiserOptions().solver_order


def test_sampling_without_dynamic_thresholding_is_taken_from_the_options_and_named():
    config = SamplingConfig.from_options(DiffuseExpandOptions(dynamic_thresholding=False))
    assert config.dynamic_thresholding is False and config.name.endswith("-nodt")
    assert not SamplingConfig().name.endswith("-nodt")
