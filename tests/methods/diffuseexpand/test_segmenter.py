"""Stage II: the noise-aware segmenter and its Eq. 4 loss."""

import dataclasses

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss
from synthetic_pairs import disc_pairs

from bench.pairs import PairSet
from methods.diffuseexpand.denoiser import diffusion_samples
from methods.diffuseexpand.networks import (
    MODE_IMAGE,
    MODE_MASK,
    NoisySegmenter,
    build_segmenter,
)
from methods.diffuseexpand.options import DiffuseExpandOptions
from methods.diffuseexpand.segmenter import fit_segmenter, segmenter_loss
from methods.diffusion.schedule import noise_scheduler
from methods.diffusion.unet import load_model

TINY = DiffuseExpandOptions(segmenter_widths=(8, 16), segmenter_layers=1)


def test_outputs_and_hook_cleanup():
    segmenter = build_segmenter(TINY, 16, 1, seed=0).eval()
    out = segmenter(torch.randn(3, 1, 16, 16), torch.tensor([0, 500, 999]))
    assert out.logits.shape == (3, 1, 16, 16) and out.mode_logits.shape == (3, 2)
    assert not segmenter.unet.conv_norm_out._forward_pre_hooks
    # The mode head reads the decoder features: it depends on the input, not only on t.
    other = segmenter(torch.randn(3, 1, 16, 16), torch.tensor([0, 500, 999]))
    assert not torch.allclose(out.mode_logits, other.mode_logits)


def test_loss_on_mask_samples_is_the_mode_cross_entropy():
    pairs = disc_pairs(4, size=16, seed=1)
    x0, mode, masks = diffusion_samples(pairs)
    only_masks = mode == MODE_MASK
    loss = segmenter_loss(
        x0[only_masks], mode[only_masks], masks[only_masks], batch_size=4, scheduler=noise_scheduler()
    )
    segmenter = build_segmenter(TINY, 16, 1, seed=0).eval()
    with torch.no_grad():
        value = loss(segmenter, torch.Generator().manual_seed(0))
        g = torch.Generator().manual_seed(0)
        index = torch.randint(0, 4, (4,), generator=g)
        t = torch.randint(0, 1000, (4,), generator=g)
        noise = torch.randn((4, 1, 16, 16), generator=g)
        out = segmenter(noise_scheduler().add_noise(x0[only_masks][index], noise, t), t)
    assert torch.allclose(value, F.cross_entropy(out.mode_logits, torch.full((4,), MODE_MASK)))


def test_training_lowers_the_loss():
    pairs = disc_pairs(6, size=16, seed=1)
    x0, mode, masks = diffusion_samples(pairs)
    loss = segmenter_loss(x0, mode, masks, batch_size=32, scheduler=noise_scheduler())
    segmenter = build_segmenter(TINY, 16, 1, seed=0)
    with torch.no_grad():
        before = float(loss(segmenter.eval(), torch.Generator().manual_seed(5)))
    o = dataclasses.replace(TINY, segmenter_steps=40, segmenter_batch=8, segmenter_lr=3e-3)
    log = fit_segmenter(segmenter, pairs, o, seed=0)
    assert log.steps == 40 and not segmenter.training
    with torch.no_grad():
        after = float(loss(segmenter, torch.Generator().manual_seed(5)))
    assert after < 0.8 * before


def test_save_and_load_round_trip(tmp_path):
    segmenter = build_segmenter(TINY, 16, 1, seed=0).eval()
    segmenter.save_pretrained(tmp_path / "s")
    loaded = load_model(NoisySegmenter, tmp_path / "s")
    x, t = torch.randn(2, 1, 16, 16), torch.tensor([3, 300])
    with torch.no_grad():
        a, b = segmenter(x, t), loaded(x, t)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.mode_logits, b.mode_logits)


def test_multiclass_outputs_and_loss():
    """K = 2: three softmax logits; the loss on image samples is the mode CE + foreground Dice + CE."""
    segmenter = build_segmenter(TINY, 16, 1, seed=0, num_classes=3).eval()
    assert segmenter.num_classes == 3 and build_segmenter(TINY, 16, 1, seed=0).num_classes == 2
    out = segmenter(torch.randn(2, 2, 16, 16), torch.tensor([0, 999]))
    assert out.logits.shape == (2, 3, 16, 16) and out.mode_logits.shape == (2, 2)

    pairs = disc_pairs(4, size=16, seed=1)
    labels = pairs.masks.clone()
    labels[:, :, 8:] *= 2
    x0, mode, masks = diffusion_samples(PairSet(pairs.ids, pairs.images, labels, "multi"), mask_channels=2)
    images = mode == MODE_IMAGE
    loss = segmenter_loss(x0[images], mode[images], masks[images], batch_size=4, scheduler=noise_scheduler())
    with torch.no_grad():
        value = loss(segmenter, torch.Generator().manual_seed(0))
        g = torch.Generator().manual_seed(0)
        index = torch.randint(0, 4, (4,), generator=g)
        t = torch.randint(0, 1000, (4,), generator=g)
        noise = torch.randn((4, 2, 16, 16), generator=g)
        out = segmenter(noise_scheduler().add_noise(x0[images][index], noise, t), t)
    target = labels[index]
    dice = DiceLoss(softmax=True, to_onehot_y=True, include_background=False)(out.logits, target[:, None])
    expected = F.cross_entropy(out.mode_logits, mode[images][index]) + dice + F.cross_entropy(out.logits, target)
    assert torch.allclose(value, expected)
