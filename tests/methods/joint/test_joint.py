import dataclasses
import math

import pytest
import torch
from cli_checks import assert_refused, invoke, run_args
from synthetic_pairs import disc_folder, disc_pairs

from bench.config import PRESETS, TrainConfig, merge_options
from bench.results import find_results, load_results
from methods.base import MethodContext
from methods.diffuseexpand.options import PRESETS as DIFFUSEEXPAND_PRESETS
from methods.diffuseexpand.options import DiffuseExpandOptions
from methods.diffusion.options import JointOptions
from methods.diffusion.schedule import NOISE_SCHEDULE, noise_scheduler, training_schedule
from methods.joint import Joint
from methods.joint.denoiser import build_joint_denoiser, fit_joint_denoiser, joint_samples
from methods.joint.sampler import JointSampler

pytestmark = pytest.mark.heavy(25)

TINY = merge_options(
    JointOptions, {}, Joint.presets["smoke"], {"denoiser_steps": 6, "checkpoint_every": 2, "sampling_steps": 2}
)


def _ctx(workdir, seed=0) -> MethodContext:
    train = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"])
    return MethodContext(workdir=workdir, seed=seed, device=torch.device("cpu"), train=train, preset="smoke")


def test_options_and_presets_are_diffuseexpands():
    shared = [f.name for f in dataclasses.fields(JointOptions)]
    assert {"denoiser_widths", "denoiser_steps", "snr_gamma", "solver_order", "sampling_steps"} <= set(shared)
    defaults = DiffuseExpandOptions()
    assert all(getattr(JointOptions(), k) == getattr(defaults, k) for k in shared)
    own_solver = {p: {"solver_order": 3, "sampling_steps": 15} for p in ("cpu", "gpu")}  # joint's own sampler
    for preset, overrides in DIFFUSEEXPAND_PRESETS.items():
        expected = {k: v for k, v in overrides.items() if k in shared} | own_solver.get(preset, {})
        assert Joint.presets[preset] == expected
    assert Joint.presets["cpu"]["denoiser_steps"] == DIFFUSEEXPAND_PRESETS["cpu"]["denoiser_steps"]
    assert "conditioning" not in Joint.presets["cpu"]


def test_samples_stack_image_and_mask_in_diffusion_space():
    pairs = disc_pairs(3)
    x0 = joint_samples(pairs)
    assert x0.shape == (3, 2, 32, 32) and x0.min() >= -1 and x0.max() <= 1
    assert torch.equal(x0[:, 1] > 0, pairs.masks.bool())
    with pytest.raises(ValueError, match="binary"):
        joint_samples(dataclasses.replace(pairs, masks=pairs.masks * 2))


def _sampler(model):
    return JointSampler(
        model, scheduler_config=NOISE_SCHEDULE, solver_order=2, dynamic_thresholding=True, mixed_precision=False
    )


def test_sampler_pairs_follow_their_seeds_and_refuse_train_mode():
    model = build_joint_denoiser(TINY, 32, 1, seed=0).eval()
    both = _sampler(model)(seeds=[5, 7], num_inference_steps=2, batch_size=2)
    alone = _sampler(model)(seeds=[7], num_inference_steps=2, batch_size=1)
    assert both.images.shape == (2, 1, 32, 32) and both.masks.shape == (2, 32, 32)
    assert set(both.masks.unique().tolist()) <= {0, 1} and 0 <= both.images.min() <= both.images.max() <= 1
    assert torch.allclose(both.images[1], alone.images[0], atol=1e-5)
    assert not torch.equal(both.images[0], both.images[1])
    with pytest.raises(RuntimeError, match="train mode"):
        _sampler(model.train())(seeds=[1], num_inference_steps=2, batch_size=1)


def test_joint_trains_and_samples_an_edm_denoiser_given_edms_inputs():
    o = dataclasses.replace(TINY, prediction="edm")
    model = build_joint_denoiser(o, 32, 1, seed=0)
    log = fit_joint_denoiser(model, disc_pairs(4), o, seed=1)
    assert all(map(math.isfinite, log.losses))
    times = []
    model.register_forward_pre_hook(lambda module, args: times.append(args[1]))
    sampler = JointSampler(
        model,
        scheduler_config=training_schedule("edm"),
        solver_order=2,
        dynamic_thresholding=True,
        mixed_precision=False,
    )
    pairs = sampler(seeds=[1, 2], num_inference_steps=2, batch_size=2)
    assert torch.isfinite(pairs.images).all() and 0 <= pairs.images.min() <= pairs.images.max() <= 1
    a = noise_scheduler().alphas_cumprod[999]
    assert torch.allclose(torch.as_tensor(times[0]), ((1 - a) / a).sqrt().log() / 4)  # c_noise, not t = 999


def test_training_resumes_after_a_kill(tmp_path):
    pairs = disc_pairs(4)
    whole = build_joint_denoiser(TINY, 32, 1, seed=0)
    fit_joint_denoiser(whole, pairs, TINY, seed=1)

    def kill(step, loss):
        if step == 3:
            raise KeyboardInterrupt

    killed = build_joint_denoiser(TINY, 32, 1, seed=0)
    with pytest.raises(KeyboardInterrupt):
        fit_joint_denoiser(killed, pairs, TINY, seed=1, checkpoint_dir=tmp_path, callback=kill)
    resumed = build_joint_denoiser(TINY, 32, 1, seed=0)
    log = fit_joint_denoiser(resumed, pairs, TINY, seed=1, checkpoint_dir=tmp_path)
    assert log.resumed_from == 2 and log.steps == 6
    for a, b in zip(whole.parameters(), resumed.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_fit_expand_valid_deterministic_and_cached(tmp_path):
    def run(workdir, seed=0):
        method = Joint(options=TINY)
        method.fit(disc_pairs(6), _ctx(workdir, seed))
        return method, method.expand(5, _ctx(workdir, seed))

    method, a = run(tmp_path / "a")
    assert a.pairs.images.shape == (5, 1, 32, 32) and a.pairs.masks.shape == (5, 32, 32)
    assert 0 <= a.pairs.images.min() and a.pairs.images.max() <= 1
    assert set(a.pairs.masks.unique().tolist()) <= {0, 1}
    assert [r.id for r in a.records] == a.pairs.ids and {r.decision for r in a.records} == {"kept"}
    assert len({r.seed for r in a.records}) == 5 and all(r.info["steps"] == 2 for r in a.records)
    assert method.stats["cached"] == [] and method.stats["seconds"]["denoiser"] > 0
    samples = next((tmp_path / "a" / "samples").iterdir())
    assert (samples / "gallery.png").is_file() and len((samples / "records.csv").read_text().splitlines()) == 6

    again, b = run(tmp_path / "a")
    assert again.stats["cached"] == ["denoiser", "samples"]
    assert torch.equal(a.pairs.images, b.pairs.images) and torch.equal(a.pairs.masks, b.pairs.masks)
    assert [dataclasses.astuple(r) for r in a.records] == [dataclasses.astuple(r) for r in b.records]
    _, other = run(tmp_path / "c", seed=1)
    assert not torch.equal(a.pairs.images, other.pairs.images)


def test_bench_run_smoke_real_and_synthetic(tmp_path):
    data = disc_folder(tmp_path / "discs")
    out = tmp_path / "runs"
    mixed = invoke(*run_args(data, out, method="joint"))
    assert mixed.exit_code == 0, mixed.output
    synthetic = invoke(*run_args(data, out, "--train-on", "synthetic", method="joint"))
    assert synthetic.exit_code == 0, synthetic.output
    results = {r["run"]["train_on"]: r for r in map(load_results, find_results(out))}
    assert results["real+synthetic"]["counts"]["train_total"] == results["real+synthetic"]["counts"]["real_train"] + 8
    assert results["synthetic"]["counts"]["train_total"] == results["synthetic"]["counts"]["synthetic_kept"] == 8
    assert results["synthetic"]["method_stats"]["cached"] == ["denoiser", "samples"]
    assert 0 <= results["synthetic"]["metrics"]["dice"] <= 1


def test_bench_run_refuses_a_size_the_denoiser_cannot_take(discs, tmp_path):
    out = tmp_path / "runs"
    res = invoke(*run_args(discs, out, "--image-size", "30", "--option", "denoiser_widths=[8,16,32]", method="joint"))
    assert_refused(res, "--image-size 30", "denoiser_widths", "multiple of 4", out=out)
