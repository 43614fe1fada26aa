"""``bench --help``, every verb's ``--help`` and the refusal of a bad option value answer without importing the
heavy libraries: each case runs in a fresh interpreter, which reports the heavy modules loaded by the end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from synthetic_pairs import disc_folder

pytestmark = pytest.mark.heavy(16)

HEAVY = (
    "torch",
    "torchvision",
    "diffusers",
    "monai",
    "wandb",
    "matplotlib",
    "accelerate",
    "segmentation_models_pytorch",
    "timm",
    "scipy",
)

WRAPPER = r"""
import json, sys
sys.argv = ["bench", *sys.argv[1:]]
try:
    from bench.cli import main
    main()
except SystemExit as e:
    code = e.code
print("\n" + json.dumps({"code": code, "heavy": [m for m in HEAVY if m in sys.modules]}))
""".replace("HEAVY", repr(HEAVY))

HELP = [
    [],
    ["run"],
    ["expand"],
    ["methods"],
    ["report"],
    ["sweep"],
    ["metrics"],
    ["speed"],
    ["datasets"],
    ["datasets", "list"],
    ["datasets", "check"],
    ["datasets", "prepare"],
    ["export"],
    ["export", "nnunet"],
    ["weights"],
    ["weights", "fetch"],
    ["pretrain"],
]


REFUSALS = [
    (["run", "--seeds", "a"], ["--seeds", "'a'"]),
    (["run", "--seeds", "0,1.5"], ["--seeds"]),
    (["run", "--option", "tau"], ["--option", "KEY=VALUE"]),
    (["run", "--preset", "nope"], ["preset", "'nope'"]),
    (["report", "nope"], ["report", "'nope'"]),
    (["report", "--wandb", "x"], ["--wandb", "'x'"]),
    (["speed", "--n", "3"], ["--n"]),
    (["speed", "--compare", "released"], ["--compare", "--run"]),
    (
        ["expand", "--method", "origin", "--dataset", "demo", "--n", "1", "--out", "x", "--evaluate", "a"],
        ["--evaluate"],
    ),
    (["expand", "--method", "origin", "--dataset", "demo", "--n", "1", "--out", "x"], ["'origin'", "no pairs"]),
    (["expand", "--method", "diffuseexpand", "--dataset", "demo", "--n", "0", "--out", "x"], ["--n", ">= 1"]),
    (
        ["expand", "--method", "diffuseexpand", "--dataset", "demo", "--n", "1", "--out", "x", "--preset", "nope"],
        ["preset", "'nope'"],
    ),
    (["run", "--device", "gpu0"], ["--device 'gpu0'", "cuda:N"]),
    (
        ["expand", "--method", "diffuseexpand", "--dataset", "demo", "--n", "1", "--out", "x", "--device", "mps"],
        ["--device 'mps'", "cuda:N"],
    ),
    (["datasets", "check", "/no/such/folder"], ["/no/such/folder"]),
    (["datasets", "check", "/no/such/folder", "--preset", "nope"], ["preset", "'nope'"]),
    (["datasets", "prepare", "nope"], ["'nope'"]),
    (["run", "--seeds", "1", "--models", "unet", "--image-size", "x"], ["--image-size"]),
    (["run", "--seeds", "0,0"], ["--seeds", "more than once"]),
    (["run", "--method", "nope"], ["method", "'nope'"]),
    (["run", "--dataset", "/no/such/folder"], ["--dataset"]),
    (["run", "--ablation", "cf+x"], ["ablation", "'cf+x'"]),
    (["run", "--augment", "foo"], ["augment", "'foo'"]),
    (["sweep", "fewshot", "--ratios", "2"], ["--ratios"]),
    (["sweep", "fewshot", "--augment", "foo"], ["--augment", "'foo'"]),
    (["run", "--tau", "0"], ["tau", "> 0"]),
    (["pretrain", "--out", "x", "--method", "xlsor"], ["--method", "'xlsor'", "no pretraining"]),
    (["pretrain", "--out", "x", "--steps", "0"], ["--steps", ">= 1"]),
    (["pretrain", "--out", "x", "--device", "tpu"], ["--device 'tpu'", "cuda:N"]),
    (["pretrain", "--out", "x", "--option", "augment_p=1.5"], ["augment_p", "1.5"]),
    (["run", "--option", "guidance_reduction=max"], ["guidance_reduction", "'max'"]),
    (["run", "--method", "synthmed", "--option", "mask_gan_steps=0"], ["mask_gan_steps"]),
    (["run", "--train-option", "epochs=0"], ["epochs"]),
    (["run", "--n-synthetic", "0"], ["--n-synthetic"]),
    (["run", "--test-set", "/no/such/folder"], ["--test-set", "/no/such/folder"]),
    (["run", "--train-pairs", "1"], ["--train-pairs", ">= 2"]),
    (["run", "--train-pairs", "5", "--train-ratio", "0.5"], ["--train-pairs", "--train-ratio"]),
    (["sweep", "fewshot", "--pairs", "5", "--ratios", "0.5"], ["--pairs", "--ratios"]),
    (["sweep", "leaderboard", "--methods", "xlsor+pretrained"], ["--methods", "'xlsor+pretrained'"]),
    (["sweep", "leaderboard"], ["--pretrained diffuseexpand=DIR"]),
]


def bench(args: list[str], cwd) -> tuple[str, int, list[str]]:
    done = subprocess.run([sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True, cwd=cwd, timeout=600)
    assert done.returncode == 0, done.stderr
    output, _, last = done.stdout.rstrip().rpartition("\n")
    status = json.loads(last)
    return output + done.stderr, status["code"], status["heavy"]


@pytest.mark.parametrize("verb", HELP, ids=lambda v: " ".join(v) or "bench")
def test_help_imports_no_heavy_module(verb, tmp_path):
    output, code, heavy = bench([*verb, "--help"], tmp_path)
    assert code in (0, None), output
    assert "Usage: bench" in output
    assert heavy == [], heavy


@pytest.mark.parametrize(("args", "needles"), REFUSALS, ids=lambda a: " ".join(a))
def test_refusal_imports_no_heavy_module(args, needles, tmp_path):
    extra = ["--no-wandb", "--out", str(tmp_path / "runs")] if args[0] == "run" else []
    output, code, heavy = bench([*args, *extra], tmp_path)
    assert code not in (0, None), output
    error = [line for line in output.splitlines() if "error" in line.lower()]
    assert error and all(n in error[-1] for n in needles), output
    assert heavy == [], heavy


def test_a_sweep_ratio_too_small_for_the_data_is_refused_without_heavy_modules(tmp_path):
    data = disc_folder(tmp_path / "discs", n=16)
    args = ["sweep", "fewshot", "--dataset", str(data), "--ratios", "0.05", "--out", str(tmp_path / "runs")]
    output, code, heavy = bench(args, tmp_path)
    assert code not in (0, None) and "--ratios: train_ratio 0.05 leaves 1 training pair(s) of 16" in output, output
    assert heavy == [], heavy


@pytest.mark.parametrize(
    "verb", [["run", "--no-wandb"], ["expand", "--method", "diffuseexpand", "--n", "4"]], ids=lambda v: v[0]
)
def test_a_data_folder_failing_its_check_is_refused_without_heavy_modules(verb, tmp_path):
    data = disc_folder(tmp_path / "discs", n=16)
    next((data / "masks").iterdir()).unlink()
    output, code, heavy = bench([*verb, "--dataset", str(data), "--out", str(tmp_path / "out")], tmp_path)
    assert code == 2 and "found by the integrity check" in output and "no mask masks/<id>.*" in output, output
    assert heavy == [], heavy
    assert not (tmp_path / "out").exists()
