"""Stage II: the noise-aware segmenter and its Eq. 4 loss."""

import pytest
import torch
import torch.nn.functional as F

from bench.data import PairSet
from methods.diffuseexpand.denoiser import MODE_MASK, diffusion_samples, noise_scheduler
from methods.diffuseexpand.segmenter import (
    build_segmenter,
    fit_segmenter,
    load_segmenter,
    save_segmenter,
    segmenter_loss,
)

TINY = {"widths": (8, 16), "layers_per_block": 1, "head_dim": 8}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread avoids OpenMP overhead and contention on shared machines."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _discs(n: int = 6, size: int = 16) -> PairSet:
    g = torch.Generator().manual_seed(1)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    images, masks = [], []
    for _ in range(n):
        cy, cx = torch.randint(5, size - 5, (2,), generator=g).tolist()
        m = ((yy - cy) ** 2 + (xx - cx) ** 2 <= 12).long()
        images.append((0.2 + 0.6 * m + 0.05 * torch.rand(size, size, generator=g)).clamp(0, 1)[None])
        masks.append(m)
    return PairSet([f"d{i}" for i in range(n)], torch.stack(images), torch.stack(masks), "discs")


def test_outputs_and_hook_cleanup():
    segmenter = build_segmenter(16, 1, **TINY).eval()
    out = segmenter(torch.randn(3, 1, 16, 16), torch.tensor([0, 500, 999]))
    assert out.logits.shape == (3, 1, 16, 16) and out.mode_logits.shape == (3, 2)
    assert not segmenter.unet.conv_norm_out._forward_pre_hooks
    # The mode head reads the decoder features: it depends on the input, not only on t.
    other = segmenter(torch.randn(3, 1, 16, 16), torch.tensor([0, 500, 999]))
    assert not torch.allclose(out.mode_logits, other.mode_logits)


def test_loss_on_mask_samples_is_the_mode_cross_entropy():
    pairs = _discs(4)
    x0, mode, masks = diffusion_samples(pairs)
    only_masks = mode == MODE_MASK
    loss = segmenter_loss(
        x0[only_masks], mode[only_masks], masks[only_masks], batch_size=4, scheduler=noise_scheduler()
    )
    segmenter = build_segmenter(16, 1, **TINY).eval()
    with torch.no_grad():
        value = loss(segmenter, torch.Generator().manual_seed(0))
        g = torch.Generator().manual_seed(0)
        index = torch.randint(0, 4, (4,), generator=g)
        t = torch.randint(0, 1000, (4,), generator=g)
        noise = torch.randn((4, 1, 16, 16), generator=g)
        out = segmenter(noise_scheduler().add_noise(x0[only_masks][index], noise, t), t)
    assert torch.allclose(value, F.cross_entropy(out.mode_logits, torch.full((4,), MODE_MASK)))


def test_training_lowers_the_loss():
    pairs = _discs()
    x0, mode, masks = diffusion_samples(pairs)
    loss = segmenter_loss(x0, mode, masks, batch_size=32, scheduler=noise_scheduler())
    segmenter = build_segmenter(16, 1, **TINY)
    with torch.no_grad():
        before = float(loss(segmenter.eval(), torch.Generator().manual_seed(5)))
    log = fit_segmenter(segmenter, pairs, steps=40, batch_size=8, lr=3e-3, seed=0)
    assert log.steps == 40 and not segmenter.training
    with torch.no_grad():
        after = float(loss(segmenter, torch.Generator().manual_seed(5)))
    assert after < 0.8 * before


def test_save_and_load_round_trip(tmp_path):
    segmenter = build_segmenter(16, 1, **TINY).eval()
    save_segmenter(segmenter, tmp_path / "s")
    loaded = load_segmenter(tmp_path / "s")
    x, t = torch.randn(2, 1, 16, 16), torch.tensor([3, 300])
    with torch.no_grad():
        a, b = segmenter(x, t), loaded(x, t)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.mode_logits, b.mode_logits)
