"""Non-leaking augmentation: the warps, their condition vector, and that sampling never sees one."""

import math

import pytest
import torch
from synthetic_pairs import disc_pairs

from methods.diffuseexpand.denoiser import denoiser_loss, diffusion_samples
from methods.diffuseexpand.networks import build_denoiser
from methods.diffuseexpand.options import DiffuseExpandOptions
from methods.diffuseexpand.sampler import PairSampler
from methods.diffuseexpand.sampling_config import SamplingConfig
from methods.diffusion import augment
from methods.diffusion.options import JointOptions
from methods.diffusion.schedule import noise_scheduler
from methods.joint.denoiser import build_joint_denoiser, joint_loss, joint_samples

TINY = {"denoiser_widths": (8, 16), "denoiser_layers": 1, "denoiser_attention": (), "denoiser_head_dim": 8}


def test_a_transform_not_drawn_is_zero_and_p_sets_how_often_each_is_drawn():
    g = torch.Generator().manual_seed(0)
    assert torch.equal(augment.draw(64, 0.0, g), torch.zeros(64, augment.AUGMENT_DIM))
    always = augment.draw(64, 1.0, g)
    assert (always != 0).all()
    assert always[:, 0].abs().max() <= math.radians(10)
    sometimes = augment.draw(4000, 0.25, g)
    share = (sometimes[:, :4] != 0).float().mean(0)  # rotation, scale, stretch, shift (x)
    assert torch.allclose(share, torch.full((4,), 0.25), atol=0.03)
    assert torch.equal(sometimes[:, 3] != 0, sometimes[:, 4] != 0)  # the shift is drawn for both axes at once


def test_the_zero_warp_is_the_identity_and_a_shift_moves_the_pixels_it_says():
    x = torch.rand(2, 3, 16, 16)
    zero = augment.sampling_grid(torch.zeros(2, augment.AUGMENT_DIM), 16)
    assert torch.allclose(augment.warp(x, zero, nearest=False), x, atol=1e-5)
    assert torch.equal(augment.warp(x, zero, nearest=True), x)
    dot = torch.zeros(1, 1, 16, 16)
    dot[0, 0, 4, 5] = 1
    params = torch.zeros(1, augment.AUGMENT_DIM)
    params[0, 3], params[0, 4] = 2 / 16, 1 / 16  # 2 pixels right, 1 down
    moved = augment.warp(dot, augment.sampling_grid(params, 16), nearest=True)
    assert moved[0, 0].nonzero().tolist() == [[5, 7]]


def test_image_and_mask_are_warped_together_and_the_mask_stays_binary():
    pairs = disc_pairs(4)
    g = torch.Generator().manual_seed(3)
    params = augment.draw(4, 1.0, g)
    grid = augment.sampling_grid(params, 32)
    masks = augment.warp(pairs.masks[:, None].float(), grid, nearest=True)
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    as_image = augment.warp(pairs.masks[:, None].float(), grid, nearest=False) > 0.5  # the mask seen as an image
    iou = (as_image & masks.bool()).sum() / (as_image | masks.bool()).sum()
    assert iou > 0.9
    assert not torch.equal(masks[:, 0], pairs.masks.float())


def test_the_denoiser_trains_with_the_warp_as_a_condition_and_samples_without_it():
    o = DiffuseExpandOptions(**TINY, augment_p=0.5)
    plain = build_denoiser(DiffuseExpandOptions(**TINY), 16, 1, seed=1)
    model = build_denoiser(o, 16, 1, seed=1)
    assert model.config["augment_dim"] == augment.AUGMENT_DIM and "augment_dim" not in plain.config
    own = {k: v for k, v in model.state_dict().items() if not k.startswith("augment_embedding")}
    assert all(torch.equal(v, plain.state_dict()[k]) for k, v in own.items())  # the other weights draw as before
    x, t, mode = torch.randn(3, 1, 16, 16), torch.tensor([10, 500, 900]), torch.tensor([0, 1, 0])
    model.eval()
    none = model(x, t, mode)
    assert torch.equal(model(x, t, mode, augment=torch.zeros(3, augment.AUGMENT_DIM)), none)
    assert not torch.allclose(model(x, t, mode, augment=torch.ones(3, augment.AUGMENT_DIM)), none)

    seen = []
    forward = model.forward
    model.forward = lambda *a, **k: seen.append(k.get("augment")) or forward(*a, **k)
    sampler = PairSampler(model, mixed_precision=False)
    config = SamplingConfig(solver_order=2, steps=3, guidance_scale=0.0)
    first = sampler(seeds=[4, 5], config=config, batch_size=2)
    assert seen and all(a is None for a in seen)
    again = sampler(seeds=[4, 5], config=config, batch_size=2)
    assert torch.equal(first.images, again.images) and torch.equal(first.masks, again.masks)


def test_the_augmented_loss_gives_the_network_each_samples_warp():
    pairs = disc_pairs(4)
    x0, mode, cond = diffusion_samples(pairs)
    model = build_denoiser(DiffuseExpandOptions(**TINY, augment_p=1.0), 32, 1, seed=1)
    got = []
    forward = model.forward
    model.forward = lambda *a, **k: got.append(k["augment"]) or forward(*a, **k)
    loss = denoiser_loss(
        x0, mode, cond, batch_size=6, cfg_dropout=0.0, scheduler=noise_scheduler(), snr_gamma=0, augment_p=1.0
    )
    value = loss(model, torch.Generator().manual_seed(0))
    assert torch.isfinite(value) and got[0].shape == (6, augment.AUGMENT_DIM) and (got[0] != 0).all()


def test_joint_trains_an_augmented_unet_that_samples_at_the_zero_condition():
    o = JointOptions(**TINY, augment_p=0.5)
    model = build_joint_denoiser(o, 32, 1, seed=0)
    assert type(model).__name__ == "AugmentedUNet"
    assert type(build_joint_denoiser(JointOptions(**TINY), 32, 1, seed=0)).__name__ == "UNet2DModel"
    loss = joint_loss(
        joint_samples(disc_pairs(3)), batch_size=4, scheduler=noise_scheduler(), snr_gamma=0, augment_p=0.5
    )
    assert torch.isfinite(loss(model, torch.Generator().manual_seed(0)))
    x, t = torch.randn(2, 2, 32, 32), torch.tensor([3, 700])
    model.eval()
    assert torch.equal(model(x, t).sample, model(x, t, augment=torch.zeros(2, augment.AUGMENT_DIM)).sample)


@pytest.mark.parametrize(
    ("options", "needle"), [({"augment_p": 1.5}, "augment_p"), ({"augment_p": -0.1}, "augment_p")]
)
def test_bad_augmentation_probabilities_are_refused(options, needle):
    with pytest.raises(ValueError, match=needle):
        DiffuseExpandOptions(**options)
    with pytest.raises(ValueError, match=needle):
        JointOptions(**options)
