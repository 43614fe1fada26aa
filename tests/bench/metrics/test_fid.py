import numpy as np
import pytest
import torch
from pytorch_fid.fid_score import calculate_frechet_distance

from bench.metrics.fid import frechet_distance, inception_score, kernel_distance


def _stats(x):
    return x.mean(0).numpy(), np.cov(x.numpy(), rowvar=False)


@pytest.mark.parametrize("n,m,d", [(40, 30, 64), (100, 90, 16)])  # fewer and more samples than features
def test_frechet_distance_matches_pytorch_fid(n, m, d):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, d, generator=g, dtype=torch.float64)
    b = torch.randn(m, d, generator=g, dtype=torch.float64) * 1.3 + 0.2
    assert frechet_distance(a, b) == pytest.approx(calculate_frechet_distance(*_stats(a), *_stats(b)), rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-9)


def test_too_few_samples_are_refused():
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(torch.randn(1, 8), torch.randn(5, 8))
    with pytest.raises(ValueError, match="one size"):
        kernel_distance(torch.randn(4, 8), torch.randn(5, 9))


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(60, 32, generator=g), torch.randn(60, 32, generator=g)
    same, _ = kernel_distance(a, b, subset_size=30)
    other, _ = kernel_distance(a, b + 1, subset_size=30)
    assert abs(same) < 0.05 < other


def test_inception_score_range():
    uniform = torch.zeros(20, 10)
    assert inception_score(uniform, splits=2)[0] == pytest.approx(1.0)
    confident = torch.eye(10).repeat(2, 1) * 50  # every class once per split, with certainty
    assert inception_score(confident, splits=2)[0] == pytest.approx(10.0, rel=1e-3)
