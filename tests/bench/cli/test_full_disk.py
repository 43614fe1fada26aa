"""A disk that fills, or a folder that cannot be written, while `bench run` writes: one line naming the file, no
traceback, nothing that looks finished, and the same command resumes once there is space. On a real (tmpfs) file
system, so the writers' own failures (safetensors, torch.save, Accelerate) are the ones met."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from processes import run_bench, run_bench_until

pytestmark = pytest.mark.heavy(120)

STAGE_I_CHECKPOINT = "demo/_cache/diffuseexpand/denoiser/*/checkpoints/step_*"


@pytest.fixture
def small_disk(tmp_path):
    """A 128 MiB tmpfs mounted for the test (root only), unmounted after it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not allowed here ({done.stderr.decode().strip() or 'not root'})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path, leave: int) -> Path:
    """Take all but ``leave`` bytes of the file system under ``folder`` with one file; return it."""
    filler = folder / f"filler-{uuid.uuid4().hex}"
    with filler.open("wb") as fh:
        os.posix_fallocate(fh.fileno(), 0, max(0, shutil.disk_usage(folder).free - leave))
    return filler


def smoke(out: Path) -> list[str]:
    """The smallest DiffuseExpand run (no origin baseline beside it), logging what it reuses."""
    return ["run", "--method", "diffuseexpand", "--preset", "smoke", "--no-wandb", "--no-baseline", "--verbose"] + [
        "--out",
        str(out),
    ]


def error_line(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and errors[0] == lines[-1], done.stdout[-3000:]
    return errors[0]


def test_a_disk_full_in_stage_one_is_one_line_and_the_run_resumes(small_disk):
    """Then the finished stage is torn, and the run that reuses it names the file and how to remake it."""
    out = small_disk / "runs"
    fillers = []
    first = run_bench_until(
        *smoke(out), root=out, pattern=STAGE_I_CHECKPOINT, then=lambda proc: fillers.append(fill(small_disk, 64 << 10))
    )
    line = error_line(first)
    assert first.returncode != 0
    assert "no space left on device" in line and str(out) in line, line
    written = line.removeprefix("error: ").split(": no space left on device")[0]
    assert Path(written).name, line  # a file or checkpoint folder is named, not only the cause
    assert not list(out.rglob("results.json")) and not list(out.rglob("*/denoiser/*/done.json"))
    kept = sorted(out.glob(STAGE_I_CHECKPOINT))
    assert kept, "the last good checkpoint of stage I was removed"

    fillers[0].unlink()
    second = run_bench(*smoke(out))
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-3000:]
    assert f"resuming from {kept[-1]}" in second.stderr, second.stderr[-3000:]
    assert len(list(out.rglob("results.json"))) == 1

    # The finished stage I is later torn (a disk fault, a copy cut short): a run that reuses it names the file.
    (weights,) = out.glob("demo/_cache/diffuseexpand/denoiser/*/diffusion_pytorch_model.safetensors")
    weights.write_bytes(weights.read_bytes()[:100])
    third = run_bench(*smoke(out), "--n-synthetic", "4")
    line = error_line(third)
    assert third.returncode == 2 and line.startswith(f"error: {weights}: not a trained Denoiser ("), line
    assert line.endswith(f"; delete {weights.parent} (or run with --force) to make it again"), line


def test_a_read_only_cache_folder_met_mid_run_is_one_line(tmp_path):
    """The method's cache folder is read-only (a shared cache mounted so): the run's checks pass, as --out can be
    written, and the first stage fails to write there."""
    out = tmp_path / "runs"
    cache = out / "demo" / "_cache" / "diffuseexpand"
    cache.mkdir(parents=True)
    done = subprocess.run(["mount", "--bind", str(cache), str(cache)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"bind-mounting a folder is not allowed here ({done.stderr.decode().strip() or 'not root'})")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(cache)], check=True)
        done = run_bench(*smoke(out))
    finally:
        subprocess.run(["umount", "-l", str(cache)], check=False)
    line = error_line(done)
    assert done.returncode != 0 and "read-only file system" in line and str(cache) in line, line
    assert not list(out.rglob("results.json"))
