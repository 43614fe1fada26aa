"""Run a script or ``-m`` module on several CPU processes through torchrun (gloo), as a data-parallel run would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import psutil


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(processes: int, *args: str) -> list[str]:
    """``python ARGS`` (a script and its arguments, or ``-m module ...``) on ``processes`` processes."""
    if processes == 1:
        return [sys.executable, *args]
    run = ["-m", "torch.distributed.run", f"--nproc_per_node={processes}", f"--master_port={_free_port()}"]
    return [sys.executable, *run, *args]


def run_processes(processes: int, *args: str, kill_when=None) -> subprocess.CompletedProcess | None:
    """Run ``python ARGS`` on ``processes`` processes; with ``kill_when`` (a folder and a glob), SIGKILL every
    process once the glob matches.

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


def run_bench_until(*args: str, root, pattern: str, then) -> subprocess.CompletedProcess:
    """Run ``bench ARGS`` in one process; once ``pattern`` matches under ``root``, stop it (SIGSTOP), call
    ``then(proc)`` (fill a disk, send a signal) and let it go on (SIGCONT) to its end, whatever its exit code.

    Returns:
        The finished process, stdout and stderr apart (``stdout`` the console, ``stderr`` logs and tracebacks).
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    while proc.poll() is None and not list(root.glob(pattern)):
        time.sleep(0.01)
    matched = proc.poll() is None
    if matched:
        proc.send_signal(signal.SIGSTOP)
        then(proc)
        proc.send_signal(signal.SIGCONT)
    out, err = (text.decode(errors="replace") for text in proc.communicate(timeout=600))
    assert matched, f"{pattern} never appeared under {root}:\n{out[-2000:]}\n{err[-2000:]}"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_bench(*args: str) -> subprocess.CompletedProcess:
    """Run ``bench ARGS`` in one process to its end, whatever its exit code; stdout and stderr apart, as text."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "bench", *args], env=env, capture_output=True, text=True, timeout=600)
