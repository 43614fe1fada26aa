"""Synthmed options and the sizes its GANs can take."""

import pytest
from synthmed_cases import TINY

from bench.config import ConfigError
from methods.synthmed.method import Synthmed
from methods.synthmed.options import SynthmedOptions


def test_options_refuse_bad_values_and_sizes():
    with pytest.raises(ConfigError, match="label_smoothing"):
        SynthmedOptions(label_smoothing=0.6)
    with pytest.raises(ConfigError, match="batch must be >= 2"):
        SynthmedOptions(batch=1)
    with pytest.raises(ConfigError, match="power of two"):
        Synthmed.check_request("dual", TINY, 48, 1)
    Synthmed.check_request("dual", TINY, 64, 1)
