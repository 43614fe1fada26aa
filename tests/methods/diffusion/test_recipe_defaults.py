"""At their defaults the recipe knobs change nothing: networks, stage keys, run keys and the loss are as before."""

import dataclasses

import torch
from synthetic_pairs import disc_pairs

from bench.config import PRESETS as RUN_PRESETS
from bench.config import merge_options
from methods.base import options_dict
from methods.diffuseexpand.denoiser import denoiser_loss, diffusion_samples
from methods.diffuseexpand.networks import build_denoiser
from methods.diffuseexpand.options import PRESETS, DiffuseExpandOptions
from methods.diffusion.options import RECIPE, JointOptions
from methods.diffusion.schedule import noise_scheduler
from methods.diffusion.training import epsilon_loss, noised_batch
from methods.diffusion.unet import unet_config
from methods.joint import Joint
from methods.stages import stage_options

NEW = ("augment_p", "prediction", "denoiser_dropout")


def test_the_new_knobs_stay_out_of_keys_and_configs_at_their_defaults():
    for cls, presets in ((DiffuseExpandOptions, PRESETS), (JointOptions, Joint.presets)):
        for preset in RUN_PRESETS:
            o = merge_options(cls, {}, presets.get(preset, {}))
            chosen = set(NEW) & set(presets.get(preset, {}))  # the cpu preset predicts v
            assert set(NEW) & set(options_dict(o)) == chosen
            assert set(NEW) & set(stage_options(o, "ema_decay", *RECIPE, prefix="denoiser_")) == chosen
            changed = dataclasses.replace(o, augment_p=0.2, prediction="v_prediction", denoiser_dropout=0.1)
            assert set(NEW) <= set(options_dict(changed))
            assert set(NEW) <= set(stage_options(changed, "ema_decay", *RECIPE, prefix="denoiser_"))
    assert (
        "dropout" not in unet_config(16, 1, 1, (8, 16), 1)
        and unet_config(16, 1, 1, (8, 16), 1, dropout=0.1)["dropout"] == 0.1
    )
    tiny = {"denoiser_widths": (8, 16), "denoiser_layers": 1, "denoiser_attention": (), "denoiser_head_dim": 8}
    plain = build_denoiser(DiffuseExpandOptions(**tiny), 32, 1, seed=0).config
    assert "augment_dim" not in plain and "dropout" not in plain["unet_config"]


def test_the_default_loss_is_the_papers_epsilon_loss_draw_for_draw():
    x0, mode, cond = diffusion_samples(disc_pairs(4))
    scheduler = noise_scheduler()
    o = DiffuseExpandOptions(denoiser_widths=(8, 16), denoiser_layers=1, denoiser_attention=(), denoiser_head_dim=8)
    model = build_denoiser(o, 32, 1, seed=1)

    def before(model, generator):  # the stage-I loss as written before the recipe knobs
        index, t, noise, x_t = noised_batch(x0, 6, scheduler, generator)
        keep = (torch.rand(6, generator=generator) >= 0.5).float()
        return epsilon_loss(
            model(x_t, t, mode[index], cond[index] * keep[:, None, None, None]), noise, t, scheduler, 5
        )

    now = denoiser_loss(x0, mode, cond, batch_size=6, cfg_dropout=0.5, scheduler=scheduler, snr_gamma=5)
    a, b = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    for _ in range(3):
        assert torch.equal(now(model, a), before(model, b))
    assert torch.equal(torch.rand(4, generator=a), torch.rand(4, generator=b))  # nothing else was drawn
