"""Stage I: the conditional denoiser, its training loop, checkpoints and pretrained loading."""

import dataclasses

import pytest
import torch
from diffusers import UNet2DModel
from synthetic_pairs import disc_pairs

from bench.pairs import PairSet
from methods.diffuseexpand.denoiser import denoiser_loss, diffusion_samples, fit_denoiser
from methods.diffuseexpand.networks import MODE_IMAGE, MODE_MASK, Denoiser, build_denoiser
from methods.diffuseexpand.options import DiffuseExpandOptions
from methods.diffusion.schedule import noise_scheduler
from methods.diffusion.unet import load_model

TINY = DiffuseExpandOptions(denoiser_widths=(8, 16), denoiser_layers=1, denoiser_attention=(), denoiser_head_dim=8)


def _tiny(**overrides) -> DiffuseExpandOptions:
    return dataclasses.replace(TINY, **overrides)


def _fixed_loss(denoiser, pairs: PairSet) -> float:
    x0, mode, cond = diffusion_samples(pairs)
    loss = denoiser_loss(x0, mode, cond, batch_size=32, cfg_dropout=0.0, scheduler=noise_scheduler(), snr_gamma=0)
    with torch.no_grad():
        return float(loss(denoiser.eval(), torch.Generator().manual_seed(123)))


def test_training_lowers_the_loss():
    pairs = disc_pairs(6, size=16)
    denoiser = build_denoiser(TINY, 16, 1, seed=0)
    before = _fixed_loss(denoiser, pairs)
    log = fit_denoiser(
        denoiser, pairs, _tiny(denoiser_steps=40, denoiser_batch=8, denoiser_lr=2e-3, ema_decay=0.0), seed=0
    )
    assert log.steps == 40 and len(log.losses) == 40
    assert not denoiser.training
    assert _fixed_loss(denoiser, pairs) < 0.8 * before


@pytest.mark.parametrize("conditioning", ["embedding", "concat"])
def test_mask_condition_changes_image_output_only(conditioning):
    denoiser = build_denoiser(_tiny(conditioning=conditioning), 16, 1, seed=0).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 16, 16, generator=g)
    t = torch.tensor([500, 500])
    a = torch.zeros(2, 1, 16, 16)
    a[:, :, 2:8, 2:8] = 1
    b = torch.zeros(2, 1, 16, 16)
    b[:, :, 8:14, 6:14] = 1
    image = torch.full((2,), MODE_IMAGE)
    mask = torch.full((2,), MODE_MASK)
    with torch.no_grad():
        assert not torch.allclose(denoiser(x, t, image, a), denoiser(x, t, image, b))
        assert torch.equal(denoiser(x, t, mask, a), denoiser(x, t, mask, b))
        assert not torch.allclose(denoiser(x, t, image, a), denoiser(x, t, mask, a))
        # None is the null condition: the zero mask.
        assert torch.equal(denoiser(x, t, image, None), denoiser(x, t, image, torch.zeros_like(a)))


def test_embedding_null_condition_is_the_linear_bias():
    denoiser = build_denoiser(TINY, 16, 1, seed=0)
    emb = denoiser.mask_encoder(torch.zeros(1, 1, 16, 16))
    assert torch.allclose(emb[0], denoiser.mask_encoder.proj.bias)
    assert denoiser.mask_encoder.proj.in_features == 256


def test_diffusion_samples_pair_masks_and_images():
    pairs = disc_pairs(3, size=16)
    x0, mode, cond = diffusion_samples(pairs)
    assert x0.shape == (6, 1, 16, 16) and x0.min() >= -1 and x0.max() <= 1
    assert mode.tolist() == [MODE_MASK] * 3 + [MODE_IMAGE] * 3
    assert torch.equal(x0[:3, 0], pairs.masks.float() * 2 - 1)
    assert torch.equal(cond[3:, 0], pairs.masks.float())
    multi = PairSet(pairs.ids, pairs.images, pairs.masks * 2, "multi")
    with pytest.raises(ValueError, match="binary"):
        diffusion_samples(multi)


def test_interrupted_training_resumes_from_checkpoint(tmp_path):
    pairs = disc_pairs(6, size=16)
    o = _tiny(denoiser_steps=10, denoiser_batch=4, denoiser_lr=1e-3, ema_decay=0.9, checkpoint_every=3)
    full = build_denoiser(o, 16, 1, seed=0)
    fit_denoiser(full, pairs, o, seed=3, checkpoint_dir=tmp_path / "a")

    def crash(step, loss):
        if step == 7:
            raise KeyboardInterrupt

    part = build_denoiser(o, 16, 1, seed=0)
    with pytest.raises(KeyboardInterrupt):
        fit_denoiser(part, pairs, o, seed=3, checkpoint_dir=tmp_path / "b", callback=crash)
    seen = []
    resumed = build_denoiser(o, 16, 1, seed=0)
    log = fit_denoiser(resumed, pairs, o, seed=3, checkpoint_dir=tmp_path / "b", callback=lambda s, v: seen.append(s))
    assert log.resumed_from == 6 and seen == [7, 8, 9, 10] and len(log.losses) == 10
    for key, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_save_and_load_round_trip(tmp_path):
    denoiser = build_denoiser(_tiny(conditioning="concat"), 16, 1, seed=0).eval()
    denoiser.save_pretrained(tmp_path / "d")
    noise_scheduler().save_config(tmp_path / "d")
    loaded = load_model(Denoiser, tmp_path / "d")
    schedule = noise_scheduler().load_config(tmp_path / "d")
    assert schedule["num_train_timesteps"] == 1000 and schedule["beta_schedule"] == "linear"
    assert not loaded.training and loaded.config.conditioning == "concat"
    x, t, mode = torch.randn(1, 1, 16, 16), torch.tensor([10]), torch.tensor([MODE_IMAGE])
    with torch.no_grad():
        assert torch.equal(denoiser(x, t, mode), loaded(x, t, mode))


def test_pretrained_unet_is_adapted(tmp_path):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        source = UNet2DModel(
            sample_size=32,
            in_channels=3,
            out_channels=6,
            block_out_channels=(8, 16),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "UpBlock2D"),
            norm_num_groups=4,
            num_class_embeds=10,
        )
    source.save_pretrained(tmp_path / "unet")
    denoiser = build_denoiser(_tiny(pretrained=str(tmp_path / "unet")), 16, 1, seed=0)
    unet = denoiser.unet
    assert unet.config.in_channels == 1 and unet.config.out_channels == 1 and unet.config.sample_size == 16
    assert torch.allclose(unet.conv_in.weight, source.conv_in.weight.sum(1, keepdim=True))
    assert torch.equal(unet.conv_out.weight, source.conv_out.weight[:1])
    assert torch.equal(unet.down_blocks[1].resnets[0].conv1.weight, source.down_blocks[1].resnets[0].conv1.weight)
    with pytest.raises(FileNotFoundError):
        build_denoiser(_tiny(pretrained=str(tmp_path / "missing")), 16, 1, seed=0)


def test_paper_denoiser_has_553m_parameters():
    with torch.device("meta"):
        denoiser = build_denoiser(DiffuseExpandOptions(), 256, 1, seed=0)
    count = sum(p.numel() for p in denoiser.parameters())
    assert abs(count - 553e6) / 553e6 < 0.10
    assert denoiser.unet.config.block_out_channels == (256, 256, 512, 512, 1024, 1024)
    assert denoiser.unet.config.resnet_time_scale_shift == "scale_shift"
    assert sum(type(b).__name__.startswith("Attn") for b in denoiser.unet.down_blocks) == 3


def test_min_snr_weighting_only_lowers_the_loss():
    pairs = disc_pairs(4, size=16)
    x0, mode, cond = diffusion_samples(pairs)
    denoiser = build_denoiser(TINY, 16, 1, seed=0).eval()
    values = []
    for gamma in (0.0, 5.0):
        loss = denoiser_loss(
            x0, mode, cond, batch_size=16, cfg_dropout=0.5, scheduler=noise_scheduler(), snr_gamma=gamma
        )
        with torch.no_grad():
            values.append(float(loss(denoiser, torch.Generator().manual_seed(0))))
    assert values[1] < values[0]


@pytest.mark.parametrize("conditioning", ["embedding", "concat"])
def test_multiclass_denoiser_takes_one_hot_conditions(conditioning, tmp_path):
    denoiser = build_denoiser(_tiny(conditioning=conditioning), 16, 1, seed=0, num_classes=3).eval()
    assert (denoiser.channels, denoiser.image_channels, denoiser.mask_channels) == (2, 1, 2)
    assert denoiser.unet.config.in_channels == (4 if conditioning == "concat" else 2)
    x, t = torch.randn(2, 2, 16, 16, generator=torch.Generator().manual_seed(0)), torch.tensor([500, 500])
    left, right = torch.zeros(2, 2, 16, 16), torch.zeros(2, 2, 16, 16)
    left[:, 0, 4:12, 2:8] = 1
    right[:, 1, 4:12, 2:8] = 1  # the same region, the other class
    image = torch.full((2,), MODE_IMAGE)
    with torch.no_grad():
        out = denoiser(x, t, image, left)
        assert out.shape == (2, 2, 16, 16)
        assert not torch.allclose(out, denoiser(x, t, image, right))
        assert torch.equal(denoiser(x, t, image, None), denoiser(x, t, image, torch.zeros_like(left)))
    denoiser.save_pretrained(tmp_path / "d")
    loaded = load_model(Denoiser, tmp_path / "d")
    assert (loaded.mask_channels, loaded.image_channels) == (2, 1)
    with torch.no_grad():
        assert torch.equal(loaded(x, t, image, left), out)


def test_binary_denoiser_config_has_no_class_entries():
    """Binary configs are the ones written before multi-class masks, so their stage folders stay valid."""
    config = build_denoiser(TINY, 16, 1, seed=0).config
    assert set(config) - {"_use_default_values"} == {"unet_config", "conditioning", "mask_pool"}
    multi = build_denoiser(TINY, 16, 1, seed=0, num_classes=3).config
    assert (multi["mask_channels"], multi["image_channels"]) == (2, 1)


def test_multiclass_diffusion_samples():
    pairs = disc_pairs(3, size=16)
    labels = pairs.masks.clone()
    labels[:, :, 8:] *= 2  # the right half of each disc is class 2
    multi = PairSet(pairs.ids, pairs.images, labels, "multi")
    x0, mode, cond = diffusion_samples(multi, mask_channels=2)
    assert x0.shape == (6, 2, 16, 16) and cond.shape == (6, 2, 16, 16)
    assert torch.equal(x0[:3], cond[:3] * 2 - 1)
    assert torch.equal(x0[3:, 0], pairs.images[:, 0] * 2 - 1) and torch.all(x0[3:, 1] == -1)
    assert torch.equal(cond[3:, 1], (labels == 2).float())
    with pytest.raises(ValueError, match="labels up to 2"):
        diffusion_samples(multi, mask_channels=1)
