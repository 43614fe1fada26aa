"""Ctrl-C or SIGTERM during a long verb: one line naming the step that stopped and the last checkpoint kept, exit
130 / 143, no traceback; the same command then resumes from that checkpoint."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from processes import run_bench, run_bench_until

pytestmark = pytest.mark.heavy(45)

STAGE_I_CHECKPOINT = "demo/_cache/diffuseexpand/denoiser/*/checkpoints/step_*"


def stopped_line(done) -> str:
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("interrupted ("), done.stdout[-3000:]
    return lines[-1]


def kept_checkpoint(line: str, root: Path) -> Path:
    found = re.search(r"last checkpoint kept: (\S+step_\d+);", line)
    assert found, line
    path = Path(found.group(1))
    assert path.is_dir() and path.is_relative_to(root), line
    return path


def test_run_stopped_by_ctrl_c_in_stage_one_says_what_it_kept(tmp_path):
    out = tmp_path / "runs"
    args = ["run", "--method", "diffuseexpand", "--preset", "smoke", "--no-wandb", "--no-baseline", "--out", str(out)]
    done = run_bench_until(*args, root=out, pattern=STAGE_I_CHECKPOINT, then=lambda p: p.send_signal(signal.SIGINT))
    assert done.returncode == 130, done.stdout[-2000:] + done.stderr[-2000:]
    line = stopped_line(done)
    assert "interrupted (SIGINT): fitting diffuseexpand (cf+cg+cs, seed 0), stage denoiser" in line, line
    assert "stage denoiser" in line and "the same command resumes" in line, line
    kept_checkpoint(line, out)
    assert not list(out.rglob("results.json"))


def test_pretrain_stopped_by_sigterm_says_what_it_kept_and_resumes_from_it(tmp_path):
    out = tmp_path / "pretrained"
    args = ["pretrain", "--method", "diffuseexpand", "--preset", "smoke", "--out", str(out), "--verbose"]
    term = signal.SIGTERM
    first = run_bench_until(*args, root=out, pattern="checkpoints/step_*", then=lambda p: p.send_signal(term))
    assert first.returncode == 143, first.stdout[-2000:] + first.stderr[-2000:]
    line = stopped_line(first)
    assert line.startswith("interrupted (SIGTERM): "), line
    assert f"pretraining diffuseexpand into {out} stopped" in line, line
    kept = kept_checkpoint(line, out)
    assert not (out / "pretrain.json").exists()

    again = run_bench(*args)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert f"resuming from {kept}" in again.stderr, again.stderr[-3000:]
