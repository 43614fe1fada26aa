import math

import pytest
import torch
from torch import nn

from bench.metrics.unet_features import unet_features, unet_inception_score


class Constant(nn.Module):
    """Logits equal to the input's first channel times a factor, with ``out`` channels."""

    def __init__(self, out: int = 1) -> None:
        super().__init__()
        self.out = out

    def forward(self, x):
        return x[:, :1].repeat(1, self.out, 1, 1) * 4 - 2


def test_features_are_the_pooled_sigmoid_map():
    images = torch.rand(3, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    f = unet_features(Constant(), images)
    assert f.shape == (3, 1024) and f.dtype == torch.float64
    expected = torch.sigmoid(images[:, 0] * 4 - 2).reshape(3, 32, 2, 32, 2).mean((2, 4)).flatten(1)
    torch.testing.assert_close(f, expected.double())


def test_multi_class_network_is_refused():
    with pytest.raises(ValueError, match="binary"):
        unet_features(Constant(3), torch.rand(1, 1, 32, 32))


def test_is_unet_follows_the_released_formula():
    f = torch.tensor([[0.0, 1.0], [0.5, 0.25]], dtype=torch.float64)
    a = torch.sigmoid(f).flatten()
    p = torch.stack([a, 1 - a], 1)
    py = p.mean(0)
    kl = (p * (p / py).log()).sum(1).mean()
    assert unet_inception_score(f) == pytest.approx(math.exp(float(kl)))
    assert unet_inception_score(torch.full((4, 1024), 0.3, dtype=torch.float64)) == pytest.approx(1.0)
