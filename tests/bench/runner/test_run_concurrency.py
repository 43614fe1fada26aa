"""Two ``bench run``s into one output folder at the same time: both succeed, the work is done once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.heavy(30)


def test_two_identical_runs_at_once_train_once_and_agree(discs, tmp_path):
    out = tmp_path / "runs"
    args = [sys.executable, "-m", "bench.cli", "run", "--method", "diffuseexpand", "--ablation", "cf",
            "--dataset", str(discs), "--preset", "smoke", "--train-option", "epochs=1", "--no-wandb",
            "--no-baseline", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)]
    procs.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs

    results = [[line for line in o.splitlines() if line.startswith("results: ")] for o in outputs]
    assert all(len(r) == 1 for r in results), outputs
    assert sorted("(reused)" in r[0] for r in results) == [False, True], outputs  # one trained, one reused
    (path,) = out.rglob("results.json")
    assert all(r[0].split()[1] == str(path.resolve()) for r in results)
    stored = json.loads(path.read_text())
    assert stored["method_stats"]["cached"] == []  # the stages were trained by this one run
    assert len(list(out.rglob("denoiser/*/done.json"))) == 1
    rows = [
        next(line.split() for line in o.splitlines() if line.strip().startswith("diffuseexpand cf")) for o in outputs
    ]
    assert rows[0] == rows[1] and f"{stored['metrics']['dice']:.4f}" in rows[0]  # both tables show the stored Dice
