"""Bad option values end in one ``error:`` line naming the option, exit 2, before anything is loaded or written."""

from __future__ import annotations

import pytest
import torch
from cli_checks import assert_refused, invoke, run_args


@pytest.mark.parametrize(
    ("extra", "method", "needles"),
    [
        (["--train-ratio", "1.5"], "origin", ["--train-ratio", "1.5"]),
        (["--train-ratio", "0"], "origin", ["--train-ratio"]),
        (["--train-ratio", "nan"], "origin", ["--train-ratio"]),
        (["--tau", "abc"], "diffuseexpand", ["tau", "'abc'"]),
        (["--tau", "inf"], "diffuseexpand", ["tau", "finite"]),
        (["--option", "eta=.nan"], "diffuseexpand", ["eta", "finite number, got nan"]),
        (["--option", "denoiser_steps=1.5"], "diffuseexpand", ["denoiser_steps", "whole number"]),
        (["--option", "mixed_precision=2"], "diffuseexpand", ["mixed_precision", "true or false"]),
        (["--option", "conditioning=7"], "diffuseexpand", ["conditioning", "string"]),
        (["--option", "filter_model=vgg"], "diffuseexpand", ["filter_model", "vgg"]),
        (["--option", "mask_source=x"], "diffuseexpand", ["mask_source must be one of", "'x'"]),
        (["--augment", "foo"], "origin", ["unknown augment 'foo'", "xlsor"]),
        (["--augment", "nnunett"], "origin", ["unknown augment 'nnunett'", "Did you mean 'nnunet'"]),
        (["--augment", ""], "origin", ["unknown augment ''"]),
        (["--seeds", "0,,1"], "origin", ["--seeds: empty item in '0,,1'"]),
        (["--models", "unet,"], "origin", ["--models: empty item in 'unet,'"]),
        (
            ["--train-option", "mixing=alternate", "--train-option", "mixing=pretrain"],
            "xlsor",
            ["--train-option mixing given twice", "'mixing=pretrain'"],
        ),
        (["--option", "tau=1", "--option", "tau=1/2"], "diffuseexpand", ["--option tau given twice"]),
        (
            ["--option", "denoiser-steps=2", "--option", "denoiser_steps=2"],
            "diffuseexpand",
            ["--option denoiser_steps given twice"],
        ),
        (["--tau", "1", "--option", "tau=1/2"], "diffuseexpand", ["--tau and --option tau both given"]),
        (
            ["--guidance-scale", "2", "--option", "guidance_scale=3"],
            "diffuseexpand",
            ["--guidance-scale and --option guidance_scale"],
        ),
        (["--train-option", "synthetic_share=1.5"], "xlsor", ["synthetic_share must be in [0, 1], got 1.5"]),
        (["--train-option", "synthetic_share=0.5"], "origin", ["--train-option synthetic_share", "real pairs only"]),
        (["--train-option", "mixing=alternate", "--train-on", "real"], "xlsor", ["--train-option mixing"]),
        (["--train-option", "mixing=pretrain", "--train-option", "pretrain_share=1"], "xlsor", ["pretrain_share"]),
        (["--train-option", "epochs=0"], "origin", ["epochs must be >= 1"]),
        (["--train-option", "epochs=abc"], "origin", ["--train-option epochs", "'abc'"]),
        (["--train-option", "lr=-1"], "origin", ["lr must be > 0"]),
        (["--train-option", "loss=dice"], "origin", ["unknown loss 'dice'"]),
        (["--n-synthetic", "0"], "diffuseexpand", ["--n-synthetic", ">= 1"]),
        (["--n-synthetic", "-1"], "origin", ["--n-synthetic"]),
        (["--image-size", "0"], "origin", ["--image-size", ">= 16"]),
        (["--image-size", "30"], "diffuseexpand", ["--image-size 30", "filter model 'unet'", "32"]),
        (
            ["--image-size", "30", "--ablation", "cf", "--option", "denoiser_widths=[8,16,32]"],
            "diffuseexpand",
            ["--image-size 30", "denoiser_widths", "multiple of 4"],
        ),
        (["--image-size", "48"], "origin", ["--image-size 48", "model 'unet'", "multiple of 32"]),
        (["--wandb", "x"], "origin", ["--wandb", "'x'"]),
        (["--seeds", "0,0"], "origin", ["--seeds", "0", "more than once"]),
        (["--seeds", "-1"], "origin", ["--seeds", ">= 0"]),
        (["--seeds", "0,a"], "origin", ["--seeds: cannot parse '0,a' as a comma-separated list of whole numbers"]),
        (["--seeds", "1.5"], "origin", ["--seeds: cannot parse '1.5'"]),
        (["--seeds", ","], "origin", ["--seeds: empty value ','"]),
        (["--models", ","], "origin", ["--models: empty value ','"]),
        (["--models", "unet,unet"], "origin", ["--models"]),
        (["--device", "meta"], "origin", ["--device 'meta'", "only cpu, cuda and cuda:N"]),
        (["--device", "banana"], "origin", ["--device 'banana'"]),
        (["--inception-weights", "/no/such/pt_inception.pth"], "xlsor", ["--inception-weights", "/no/such"]),
        (["--option", "label_smoothing=0.7"], "synthmed", ["label_smoothing", "[0, 0.5)"]),
    ],
)
def test_bad_values_are_one_line_before_any_work(discs, tmp_path, extra, method, needles):
    out = tmp_path / "runs"
    assert_refused(invoke(*run_args(discs, out, *extra, method=method)), *needles, out=out)


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["fewshot", "--augment", ""], ["--augment: empty value ''"]),
        (["fewshot", "--augment", "none,,nnunet"], ["--augment: empty item in 'none,,nnunet'"]),
        (["leaderboard", "--augment", "none,"], ["--augment: empty item in 'none,'"]),
        (["leaderboard", "--methods", "xlsor,,genseg"], ["--methods: empty item in 'xlsor,,genseg'"]),
        (["fewshot", "--pairs", "9,,14"], ["--pairs: empty item in '9,,14'"]),
        (["fewshot", "--seeds", ""], ["--seeds: empty value ''"]),
        (["fewshot", "--models", ""], ["--models: empty value ''"]),
        (["fewshot", "--pairs", ""], ["--pairs: empty value ''"]),
        (["fewshot", "--ratios", ""], ["--ratios: empty value ''"]),
        (["leaderboard", "--methods", ""], ["--methods: empty value ''"]),
        (["leaderboard", "--ratios", ""], ["--ratios: empty value ''"]),
        (
            ["fewshot", "--train-option", "mixing=alternate", "--train-option", "mixing=pretrain"],
            ["--train-option mixing given twice"],
        ),
        (
            [
                "fewshot",
                "--launcher",
                "submitit",
                "--launcher-option",
                "partition=a",
                "--launcher-option",
                "partition=b",
            ],
            ["--launcher-option partition given twice"],
        ),
    ],
)
def test_a_sweep_refuses_an_empty_augment_or_a_key_given_twice_before_any_work(discs, tmp_path, extra, needles):
    """Before, ``--augment ''`` ran the default augmentations and ``none,,nnunet`` dropped the empty one unseen; a
    second KEY=VALUE of the same KEY replaced the first."""
    out = tmp_path / "runs"
    res = invoke("sweep", *extra, "--dataset", discs, "--preset", "smoke", "--no-wandb", "--dry-run", "--out", out)
    assert_refused(res, *needles, out=out)
    assert len([line for line in res.output.splitlines() if line.strip()]) == 1, res.output  # no table of runs


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["expand", "--method", "xlsor", "--n", "4", "--evaluate", ""], "--evaluate: empty value ''"),
        (
            ["export", "nnunet", "--dataset-id", "501", "--name", "Discs", "--labels", "disc,,ring"],
            "--labels: empty item",
        ),
        (["speed", "--compare", "", "--run", "."], "--compare: empty value ''"),
    ],
)
def test_other_verbs_refuse_an_empty_list_value_or_item(discs, tmp_path, args, needle):
    """Before, ``--evaluate ''`` meant no evaluation and ``--labels`` / ``--compare`` dropped empty items unseen."""
    out = tmp_path / "out"
    real = ["--real", discs] if args[0] == "export" else ["--dataset", discs] if args[0] == "expand" else []
    assert_refused(invoke(*args, *real, *(["--out", out] if args[0] != "speed" else [])), needle, out=out)


def test_pretrain_refuses_an_option_given_twice(discs, tmp_path):
    out = tmp_path / "pretrained"
    res = invoke(
        "pretrain", "--dataset", discs, "--out", out, "--option", "augment_p=0.1", "--option", "augment_p=0.2"
    )
    assert_refused(res, "--option augment_p given twice", out=out)


def test_cuda_without_cuda_leaves_no_run_folder(discs, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "runs"
    assert_refused(
        invoke(*run_args(discs, out, "--device", "cuda")), "--device cuda", "CUDA is not available", out=out
    )


def test_out_below_a_file_is_refused(discs, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert_refused(invoke(*run_args(discs, blocker / "runs")), "--out", "is not a folder")


def test_read_only_out_is_refused_before_training(discs, tmp_path, monkeypatch):
    import errno
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    out = tmp_path / "runs"
    assert_refused(invoke(*run_args(discs, out)), "--out", "Read-only file system", out=out)


def test_valid_edge_values_are_accepted(discs, tmp_path):
    """The checks refuse only what is wrong: an int for a float option and a one-element tuple are fine."""
    from bench.runner import Request, plan

    pl = plan(Request(method="diffuseexpand", preset="smoke", method_options={"tau": 1, "denoiser_attention": 8}))
    assert pl.options.tau == 1.0 and isinstance(pl.options.tau, float) and pl.options.denoiser_attention == (8,)
    assert plan(Request(method="diffuseexpand", preset="smoke", method_options={"tau": 1})) == plan(
        Request(method="diffuseexpand", preset="smoke", method_options={"tau": 1.0})
    )
    assert plan(Request(method="origin", n_synthetic=0)).n_synthetic == 0


def test_option_values_read_as_written_on_a_command_line():
    from bench.cli.values import key_values

    read = key_values(["denoiser_lr=3e-4", "tau=1/3", "denoiser_steps=800", "conditioning=concat", "eta=.nan"], "x")
    assert read["denoiser_lr"] == 3e-4 and read["tau"] == 1 / 3 and read["denoiser_steps"] == 800
    assert read["conditioning"] == "concat" and read["eta"] != read["eta"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["run", "--train-ratio", "abc"], "--train-ratio"), (["run", "--no-such-flag"], "--no-such-flag")],
)
def test_command_line_usage_errors_are_one_line_too(args, needle):
    """Values the command line itself cannot parse go through the console script's one-line error as well."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, timeout=120)
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stdout + out.stderr
    assert lines[0].startswith("error:") and needle in lines[0]
