"""Stages I and III under two CPU processes (gloo through torchrun): resumable training, identical pairs."""

import json
from pathlib import Path

import pytest
from processes import run_processes
from processes_driver import sample

pytestmark = pytest.mark.heavy(90)

DRIVER = Path(__file__).with_name("processes_driver.py")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Stage I on two processes, killed at its first checkpoint and resumed; then stage III on two processes."""
    workdir = tmp_path_factory.mktemp("processes")
    run_processes(2, str(DRIVER), "fit", str(workdir), kill_when=(workdir, "denoiser/*/checkpoints/step_*"))
    run_processes(2, str(DRIVER), "fit", str(workdir))
    return workdir


def test_training_on_two_processes_resumes_after_a_kill(trained):
    folder = next((trained / "denoiser").glob("[0-9a-f]*"))
    log = json.loads((folder / "train_log.json").read_text())
    assert log["processes"] == 2 and log["steps"] == 40 and len(log["losses"]) == 40
    assert 0 < log["resumed_from"] < 40
    assert json.loads((folder / "key.json").read_text())["processes"] == 2
    assert (folder / "done.json").exists() and not (folder / "checkpoints").exists()


def test_sharded_sampling_gives_the_one_process_pairs(trained, tmp_path):
    sharded = next((trained / "samples").glob("[0-9a-f]*"))
    sample(trained, tmp_path / "one")  # one process: this one
    run_processes(2, str(DRIVER), "sample", str(trained), str(tmp_path / "two"))
    files = sorted(p.relative_to(sharded) for p in sharded.glob("*/*.png"))
    assert len(files) == 2 * 10
    for name in files:
        one = (tmp_path / "one" / name).read_bytes()
        assert one == (tmp_path / "two" / name).read_bytes() == (sharded / name).read_bytes(), name


def test_bench_run_on_two_processes_reports_once(discs, tmp_path):
    """`torchrun -m bench run`: both processes train stage I, only the main one trains downstream and writes."""
    out = tmp_path / "runs"
    done = run_processes(2, "-m", "bench", "run", "--method", "diffuseexpand", "--ablation", "cf", "--dataset",
                         str(discs), "--preset", "smoke", "--train-option", "epochs=1", "--no-wandb", "--no-baseline",
                         "--out", str(out))  # fmt: skip
    assert sum(line.startswith("results: ") for line in done.stdout.splitlines()) == 1, done.stdout
    (result,) = out.rglob("results.json")
    (log,) = out.rglob("denoiser/*/train_log.json")
    assert json.loads(log.read_text())["processes"] == 2
    assert json.loads(result.read_text())["counts"]["synthetic_generated"] > 0
