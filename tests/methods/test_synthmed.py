import dataclasses
import json

import numpy as np
import pytest
import torch
from cli_checks import assert_refused, invoke, run_args
from processes import run_processes
from synthetic_pairs import disc_folder, disc_pairs

from bench.config import PRESETS, ConfigError, TrainConfig, merge_options
from bench.results import find_results, load_results
from methods.base import MethodContext
from methods.synthmed import (
    ImageGAN,
    MaskGAN,
    Synthmed,
    SynthmedOptions,
    fit_gan,
    image_gan_losses,
    jitter_mask,
    mask_gan_losses,
)

TINY = merge_options(SynthmedOptions, {}, Synthmed.presets["smoke"], {"checkpoint_every": 2, "mask_gan_steps": 6})


def _ctx(workdir, seed=0) -> MethodContext:
    train = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"])
    return MethodContext(workdir=workdir, seed=seed, device=torch.device("cpu"), train=train, preset="smoke")


def _tensors(pairs):
    return pairs.images.float() * 2 - 1, pairs.masks[:, None].float() * 2 - 1


def test_networks_shapes_and_ranges():
    mask_gan = MaskGAN(32, latent_dim=16, width=8).eval()
    masks = mask_gan.sample(torch.randn(3, 16))
    assert masks.shape == (3, 1, 32, 32) and -1 <= masks.min() and masks.max() <= 1
    assert mask_gan.discriminator(masks).shape == (3, 1)
    image_gan = ImageGAN(32, channels=3, width=8).eval()
    images = image_gan.translate(masks.sign())
    assert images.shape == (3, 3, 32, 32) and -1 <= images.min() and images.max() <= 1
    spectral = [m for m in image_gan.discriminator.modules() if hasattr(m, "parametrizations")]
    assert spectral and all("weight" in m.parametrizations for m in spectral)


def test_options_refuse_bad_values_and_sizes():
    with pytest.raises(ConfigError, match="label_smoothing"):
        SynthmedOptions(label_smoothing=0.6)
    with pytest.raises(ConfigError, match="batch must be >= 2"):
        SynthmedOptions(batch=1)
    with pytest.raises(ConfigError, match="power of two"):
        Synthmed.check_request("dual", TINY, 48, 1)
    Synthmed.check_request("dual", TINY, 64, 1)


def test_image_generator_follows_its_mask():
    """After a short fit on discs, growing the mask changes the image inside the grown region far more than outside."""
    pairs = disc_pairs(8)
    images, masks = _tensors(pairs)
    o = dataclasses.replace(TINY, image_gan_width=8, batch=8, lr=2e-3)
    torch.manual_seed(0)
    model = ImageGAN(32, 1, 8)
    fit_gan(model, image_gan_losses(images, masks, o), 60, o, seed=0)
    yy, xx = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    small = ((yy - 16) ** 2 + (xx - 16) ** 2 <= 16).float()
    large = ((yy - 16) ** 2 + (xx - 16) ** 2 <= 81).float()
    with torch.no_grad():
        a = model.translate((small * 2 - 1)[None, None])[0, 0]
        b = model.translate((large * 2 - 1)[None, None])[0, 0]
    changed = (large - small).bool()
    inside, outside = (a - b).abs()[changed].mean(), (a - b).abs()[~large.bool()].mean()
    assert inside > 3 * outside, (float(inside), float(outside))


def test_mask_gan_losses_train_both_networks():
    _, masks = _tensors(disc_pairs(6))
    model = MaskGAN(32, TINY.latent_dim, 8)
    before = [p.detach().clone() for p in model.parameters()]
    log = fit_gan(model, mask_gan_losses(masks, TINY), 3, TINY, seed=0)
    assert set(log.part_losses) == {"discriminator", "generator"} and len(log.part_losses["generator"]) == 3
    assert all(np.isfinite(v) for v in log.losses)
    changed = [not torch.equal(a, b) for a, b in zip(before, model.parameters())]
    assert all(changed), "every parameter of both networks moves"


def test_training_resumes_after_a_kill(tmp_path):
    images, masks = _tensors(disc_pairs(4))
    o = TINY

    def build():
        torch.manual_seed(0)
        return ImageGAN(32, 1, 8)

    whole = build()
    fit_gan(whole, image_gan_losses(images, masks, o), 6, o, seed=1)

    def kill(step, loss):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_gan(build(), image_gan_losses(images, masks, o), 6, o, seed=1, checkpoint_dir=tmp_path, callback=kill)
    resumed = build()
    log = fit_gan(resumed, image_gan_losses(images, masks, o), 6, o, seed=1, checkpoint_dir=tmp_path)
    assert log.resumed_from == 2 and log.steps == 6 and len(log.part_losses["discriminator"]) == 6
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6)


def test_jitter_moves_the_mask_and_keeps_it_binary():
    mask = disc_pairs(1).masks[0]
    moved, params = jitter_mask(mask, TINY, np.random.default_rng(3))
    assert set(moved.unique().tolist()) <= {0, 1} and not torch.equal(moved, mask)
    assert abs(float(moved.float().mean()) / float(mask.float().mean()) - params["zoom"] ** 2) < 0.25
    still, _ = jitter_mask(mask, dataclasses.replace(TINY, jitter_degrees=0, jitter_translate=0, jitter_scale=0),
                           np.random.default_rng(3))  # fmt: skip
    assert torch.equal(still, mask)


@pytest.mark.parametrize("variant", ["dual", "pix2pix"])
def test_fit_expand_valid_deterministic_and_cached(tmp_path, variant):
    train = disc_pairs(6)

    def run(workdir, seed=0):
        method = Synthmed(variant, options=TINY)
        method.fit(train, _ctx(workdir, seed))
        return method, method.expand(5, _ctx(workdir, seed))

    method, a = run(tmp_path / "a")
    assert a.pairs.images.shape == (5, 1, 32, 32) and a.pairs.masks.shape == (5, 32, 32)
    assert 0 <= a.pairs.images.min() and a.pairs.images.max() <= 1
    assert set(a.pairs.masks.unique().tolist()) <= {0, 1}
    assert [r.id for r in a.records] == a.pairs.ids and {r.decision for r in a.records} == {"kept"}
    roles = ["mask_gan", "image_gan"] if variant == "dual" else ["image_gan"]
    assert list(method.stats["seconds"]) == [*roles, "sampler"] and method.stats["cached"] == []
    assert {f"{r}/{p}" for r in roles for p in ("discriminator", "generator")} < set(method.history)
    for role in roles:
        losses = next((tmp_path / "a" / role).iterdir()) / "losses.csv"
        assert losses.read_text().splitlines()[0] == "step,loss,discriminator,generator"
    if variant == "pix2pix":
        for record, mask in zip(a.records, a.pairs.masks):
            source = train.masks[train.ids.index(record.info["source"])]
            rng = np.random.default_rng(record.seed)
            assert train.ids[int(rng.integers(len(train)))] == record.info["source"]
            expected, _ = jitter_mask(source, TINY, rng)
            assert torch.equal(mask, expected)
            assert {"rotate", "zoom", "shift_y", "shift_x"} <= set(record.info)

    again, b = run(tmp_path / "a")
    assert again.stats["cached"] == [*roles, "samples"]
    assert torch.equal(a.pairs.images, b.pairs.images) and torch.equal(a.pairs.masks, b.pairs.masks)
    assert [dataclasses.astuple(r) for r in a.records] == [dataclasses.astuple(r) for r in b.records]
    _, fresh = run(tmp_path / "b")
    assert torch.equal(a.pairs.images, fresh.pairs.images), "the same seed gives the same pairs from scratch"
    _, other = run(tmp_path / "c", seed=1)
    assert not torch.equal(a.pairs.images, other.pairs.images)


def test_bench_run_smoke_real_and_synthetic(tmp_path):
    data = disc_folder(tmp_path / "discs")
    out = tmp_path / "runs"
    mixed = invoke(*run_args(data, out, method="synthmed"))
    assert mixed.exit_code == 0, mixed.output
    synthetic = invoke(*run_args(data, out, "--train-on", "synthetic", method="synthmed"))
    assert synthetic.exit_code == 0, synthetic.output
    results = {r["run"]["train_on"]: r for r in map(load_results, find_results(out))}
    assert results["synthetic"]["counts"]["train_total"] == results["synthetic"]["counts"]["synthetic_kept"] == 8
    assert results["synthetic"]["method_stats"]["cached"] == ["mask_gan", "image_gan", "samples"]
    assert set(results["real+synthetic"]["method_stats"]["final_losses"]) == {"mask_gan", "image_gan"}
    assert 0 <= results["synthetic"]["metrics"]["dice"] <= 1
    # the second run measured fid_unet with the first run's cached U-Net
    assert results["synthetic"]["metrics"]["fid_unet"] == results["real+synthetic"]["metrics"]["fid_unet"]
    assert len(list((out / "discs" / "_cache" / "metrics" / "fid_unet").glob("*/model.pt"))) == 1


def test_bench_run_refuses_a_size_that_is_not_a_power_of_two(discs, tmp_path):
    out = tmp_path / "runs"
    assert_refused(
        invoke(*run_args(discs, out, "--image-size", "48", method="synthmed")), "48", "power of two", out=out
    )


def test_bench_run_on_two_processes_resumes_gan_training_after_a_kill(discs, tmp_path):
    """`torchrun -m bench run`: both GANs train data-parallel; a run killed at the mask GAN's first checkpoint
    resumes from it, and the results are written once."""
    out = tmp_path / "runs"
    args = ["-m", "bench", "run", "--method", "synthmed", "--dataset", str(discs), "--preset", "smoke", "--out",
            str(out), "--option", "mask_gan_steps=8", "--option", "checkpoint_every=2", "--train-option", "epochs=1",
            "--no-wandb", "--no-baseline"]  # fmt: skip
    assert run_processes(2, *args, kill_when=(out, "**/mask_gan/*/checkpoints/step_*")) is None
    done = run_processes(2, *args)
    assert sum(line.startswith("results: ") for line in done.stdout.splitlines()) == 1, done.stdout
    logs = {p.parts[-3]: json.loads(p.read_text()) for p in out.rglob("*_gan/*/train_log.json")}
    assert set(logs) == {"mask_gan", "image_gan"} and all(log["processes"] == 2 for log in logs.values())
    assert 0 < logs["mask_gan"]["resumed_from"] < 8 and len(logs["mask_gan"]["part_losses"]["generator"]) == 8
    (result,) = out.rglob("results.json")
    assert json.loads(result.read_text())["counts"]["synthetic_generated"] > 0
