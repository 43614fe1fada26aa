"""The mixing options in a run: refused where there is nothing to mix, named and keyed only when set, and the
method run still paired with the one origin run."""

import dataclasses
import json

import pytest

from bench.config import ConfigError
from bench.report import training_signature
from bench.runner import Request, baseline_request, plan, run
from bench.runner.deltas import paired
from bench.runner.planning import run_configs

pytestmark = pytest.mark.heavy(20)


@pytest.mark.parametrize(
    ("method", "train_on", "options"),
    [
        ("origin", "real+synthetic", {"synthetic_share": 0.5}),
        ("xlsor", "real", {"mixing": "alternate"}),
        ("xlsor", "synthetic", {"mixing": "pretrain", "pretrain_share": 0.25}),
    ],
)
def test_mixing_without_both_kinds_of_pairs_is_refused(method, train_on, options):
    with pytest.raises(ConfigError) as refused:
        plan(Request(method=method, train_on=train_on, train_options=options))
    assert f"--train-option {', '.join(sorted(options))}: mixes real and generated pairs" in str(refused.value)


def test_set_options_name_and_key_the_run_and_the_baseline_drops_them():
    req = Request(method="xlsor", preset="smoke", train_options={"steps": 12, "synthetic_share": 0.5})
    ((cfg, folder),) = run_configs(req, plan(req), "demo", 0)
    default_req = Request(method="xlsor", preset="smoke", train_options={"steps": 12})
    ((default, _),) = run_configs(default_req, plan(default_req), "demo", 0)
    assert cfg.settings == "train.steps=12,train.synthetic_share=0.5" and folder.parts[-3].endswith(cfg.settings)
    assert cfg.key() != default.key()
    assert cfg.to_dict()["train"]["synthetic_share"] == 0.5 and "synthetic_share" not in default.to_dict()["train"]
    base = baseline_request(req)
    assert base.train_options == {"steps": 12}
    assert plan(base) == plan(dataclasses.replace(req, method="origin", train_on="real", train_options={"steps": 12}))
    signature = {"config": {"train": cfg.to_dict()["train"], "image_size": 32, "channels": 1}}
    plain = {"config": {"train": default.to_dict()["train"], "image_size": 32, "channels": 1}}
    assert training_signature(signature) == training_signature(plain)


def test_a_mixed_run_trains_beside_its_plain_origin_and_is_paired_with_it(discs, tmp_path):
    """xlsor at the smoke preset with half of every batch generated and nnU-Net's augmentation: the method run
    records the share, origin is the plain origin run of that augmentation, and the two are paired."""
    req = Request(
        method="xlsor",
        dataset=str(discs),
        preset="smoke",
        out=tmp_path / "runs",
        augment="nnunet",
        train_options={"synthetic_share": 0.5, "steps": 6},
        n_synthetic=4,
        wandb="disabled",
        device="cpu",
    )
    (method,) = run(req).results
    (origin,) = run(baseline_request(req)).results
    assert method["config"]["train"]["synthetic_share"] == 0.5 and method["counts"]["train_steps"] == 6
    assert method["counts"]["train_total"] == method["counts"]["real_train"] + 4
    assert origin["run"]["settings"] == "train.steps=6" and "synthetic_share" not in origin["config"]["train"]
    assert origin["run"]["augment"] == "nnunet"
    assert paired(method, origin)
    (stored,) = (tmp_path / "runs").glob("discs/xlsor__*,train.synthetic_share=0.5/*/*/config.json")
    assert json.loads(stored.read_text())["train"]["synthetic_share"] == 0.5
