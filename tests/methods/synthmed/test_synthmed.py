"""Synthmed as a method: fit, expand, caching, `bench run` on one and two processes."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from cli_checks import assert_refused, invoke, run_args
from processes import run_processes
from synthetic_pairs import disc_folder, disc_pairs
from synthmed_cases import TINY, run_context

from bench.results import find_results, load_results
from methods.synthmed.method import Synthmed
from methods.synthmed.pix2pix import jitter_mask

pytestmark = pytest.mark.heavy(60)


@pytest.mark.parametrize("variant", ["dual", "pix2pix"])
def test_fit_expand_valid_deterministic_and_cached(tmp_path, variant):
    train = disc_pairs(6)

    def run(workdir, seed=0):
        method = Synthmed(variant, options=TINY)
        method.fit(train, run_context(workdir, seed))
        return method, method.expand(5, run_context(workdir, seed))

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
