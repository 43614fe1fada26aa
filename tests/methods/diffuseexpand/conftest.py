import pytest
import torch

from methods.diffuseexpand.networks import build_denoiser, build_segmenter
from methods.diffuseexpand.options import DiffuseExpandOptions


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread avoids OpenMP overhead and contention on shared machines."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY = DiffuseExpandOptions(
    denoiser_widths=(8, 16),
    denoiser_layers=1,
    denoiser_attention=(),
    denoiser_head_dim=8,
    segmenter_widths=(8, 16),
    segmenter_layers=1,
)


@pytest.fixture(scope="module")
def nets():
    """A tiny stage-I denoiser and stage-II segmenter at 16 x 16, in eval mode, for sampling tests."""
    return build_denoiser(TINY, 16, 1, seed=1).eval(), build_segmenter(TINY, 16, 1, seed=2).eval()


@pytest.fixture(scope="module")
def multiclass_nets():
    """:func:`nets` for masks with labels 0, 1, 2 (two foreground classes)."""
    return (
        build_denoiser(TINY, 16, 1, seed=1, num_classes=3).eval(),
        build_segmenter(TINY, 16, 1, seed=2, num_classes=3).eval(),
    )
