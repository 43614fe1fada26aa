"""Sweeps run by other processes: submitit's local executor, and a sweep killed midway then started again.

Apart from tests/bench/test_sweep.py so that pytest-xdist gives these subprocess-bound tests a worker of their own.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from cli_checks import invoke
from synthetic_pairs import disc_folder

pytestmark = pytest.mark.heavy(100)


def test_submitit_local_executor_runs_the_same_runs_into_the_same_folders(tmp_path):
    data = disc_folder(tmp_path / "discs")
    out = tmp_path / "runs"
    res = invoke(
        "sweep",
        "fewshot",
        "--dataset",
        data,
        "--preset",
        "smoke",
        "--seeds",
        "0",
        "--out",
        out,
        "--no-wandb",
        "--methods",
        "xlsor",
        "--ratios",
        "0.9",
        "--launcher",
        "submitit",
        "--launcher-option",
        "cluster=local",
        "--launcher-option",
        "max_parallel=2",
    )
    assert res.exit_code == 0, res.output
    found = sorted(p.relative_to(out).parts[1] + "/" + p.parts[-3] for p in out.rglob("results.json"))
    assert found == ["origin__none__unet__none__real/ratio_0.9", "xlsor__full__unet__none__real+synthetic/ratio_0.9"]
    assert len(list((out / "_submitit").rglob("*_result.pkl"))) == 2, "each run went through submitit"
    assert "warning: fewshot not built" in res.output  # one ratio is no curve; the in-process sweep draws them


def test_a_sweep_killed_midway_resumes_without_redoing_finished_runs(tmp_path):
    data = disc_folder(tmp_path / "discs")
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "bench", "sweep", "fewshot", "--dataset", str(data), "--preset", "smoke"]
    cmd += ["--seeds", "0", "--out", str(out), "--no-wandb", "--methods", "xlsor", "--ratios", "0.9"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list(out.rglob("results.json")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = list(out.rglob("results.json"))
    assert len(first) == 1, "killed after its first run"
    stamp = {p: (p.stat().st_mtime_ns, json.loads(p.read_text())["date"]) for p in first}

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(list(out.rglob("results.json"))) == 2
    assert {p: (p.stat().st_mtime_ns, json.loads(p.read_text())["date"]) for p in first} == stamp
