"""Stages I and III under two CPU processes (gloo through torchrun): resumable training, identical pairs."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

DRIVER = Path(__file__).with_name("processes_driver.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(processes: int, *args: str) -> list[str]:
    """The driver with ``args`` (or, when ``args`` start with ``-m``, that module) on ``processes`` processes."""
    target = list(args) if args[0] == "-m" else [str(DRIVER), *args]
    if processes == 1:
        return [sys.executable, *target]
    run = ["-m", "torch.distributed.run", f"--nproc_per_node={processes}", f"--master_port={_free_port()}"]
    return [sys.executable, *run, *target]


def _run(processes: int, *args: str, kill_when=None) -> subprocess.CompletedProcess | None:
    """Run the driver; with ``kill_when`` (a folder and a glob), SIGKILL every process once the glob matches.

    Starting a gloo group occasionally aborts on a busy machine, so a failed start is tried once more.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for attempt in range(2):
        proc = subprocess.Popen(
            _command(processes, *args),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if kill_when is not None:
            root, pattern = kill_when
            while proc.poll() is None and not list(root.glob(pattern)):
                time.sleep(0.05)
            if proc.poll() is None:  # torchrun starts its workers in sessions of their own: kill the whole tree
                for child in psutil.Process(proc.pid).children(recursive=True):
                    child.send_signal(signal.SIGKILL)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return None
        output = proc.communicate(timeout=600)[0].decode(errors="replace")
        if proc.returncode == 0 or attempt == 1:
            assert proc.returncode == 0, output[-3000:]
            return subprocess.CompletedProcess(proc.args, 0, output)
    return None


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Stage I on two processes, killed at its first checkpoint and resumed; then stage III on two processes."""
    workdir = tmp_path_factory.mktemp("processes")
    _run(2, "fit", str(workdir), kill_when=(workdir, "denoiser/*/checkpoints/step_*"))
    _run(2, "fit", str(workdir))
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
    _run(1, "sample", str(trained), str(tmp_path / "one"))
    _run(2, "sample", str(trained), str(tmp_path / "two"))
    files = sorted(p.relative_to(sharded) for p in sharded.glob("*/*.png"))
    assert len(files) == 2 * 10
    for name in files:
        one = (tmp_path / "one" / name).read_bytes()
        assert one == (tmp_path / "two" / name).read_bytes() == (sharded / name).read_bytes(), name


def test_bench_run_on_two_processes_reports_once(discs, tmp_path):
    """`torchrun -m bench run`: both processes train stage I, only the main one trains downstream and writes."""
    out = tmp_path / "runs"
    done = _run(2, "-m", "bench", "run", "--method", "diffuseexpand", "--ablation", "cf", "--dataset", str(discs),
                "--preset", "smoke", "--train-option", "epochs=1", "--no-wandb", "--out", str(out))  # fmt: skip
    assert sum(line.startswith("results: ") for line in done.stdout.splitlines()) == 1, done.stdout
    (result,) = out.rglob("results.json")
    (log,) = out.rglob("denoiser/*/train_log.json")
    assert json.loads(log.read_text())["processes"] == 2
    assert json.loads(result.read_text())["counts"]["synthetic_generated"] > 0
