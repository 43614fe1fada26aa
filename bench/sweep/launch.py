"""How a sweep is run: in this process, one run after another, or as submitit jobs (a Slurm cluster, or submitit's
local executor here); finished runs are reused either way."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import runner
from bench.config import ConfigError
from bench.sweep.grid import Sweep, SweepRun
from bench.sweep.run_status import result_paths, status

logger = logging.getLogger(__name__)

LAUNCHERS = ("local", "submitit")
LOCAL_TIMEOUT_MIN = 7 * 24 * 60  # a run on the local executor is never cut short by submitit


@dataclass
class SweepOutcome:
    """What a launched sweep did: results files of finished (or reused) runs, and the runs that failed, why."""

    paths: list[Path] = field(default_factory=list)
    failed: list[tuple[SweepRun, str]] = field(default_factory=list)


def new_group(sweep: Sweep) -> str:
    """The W&B group of one launch of a sweep: its runs and its report run are shown together."""
    dataset = Path(sweep.runs[0].request.dataset).name if sweep.runs else "none"
    return f"sweep-{sweep.name}-{dataset}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}"


def run_local(
    sweep: Sweep,
    progress: Any = None,
    on_start: Callable[[int, SweepRun], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> SweepOutcome:
    """Run every run of the sweep in this process, in order, finished ones reused; a run that
    :func:`~bench.sweep.grid.check_sweep` resolved is not resolved again.

    A run that fails for its own reasons (out of memory, a method that kept no pair to train on) is recorded and the
    sweep goes on; a bad request or data set (ConfigError, DatasetError) stops it, since every run would meet it.
    """
    seen: set[str] = set()

    def warn_once(msg: str) -> None:
        if msg not in seen:
            seen.add(msg)
            (on_warning or logger.warning)(msg)

    outcome = SweepOutcome()
    for i, r in enumerate(sweep.runs):
        if on_start:
            on_start(i, r)
        try:
            done = runner.run(r.request, progress=progress, on_warning=warn_once, resolved=r.checked)
        except (runner.RunError, RuntimeError) as e:
            outcome.failed.append((r, str(e)))
            continue
        outcome.paths += done.paths
    return outcome


def run_request(request: runner.Request) -> list[str]:
    """One sweep run in a submitit job (module level, so that it pickles): the results files it wrote or reused."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return [str(p) for p in runner.run(request).paths]


def run_submitit(sweep: Sweep, folder: Path, options: dict[str, Any]) -> SweepOutcome:
    """Submit every unfinished run as one submitit job and wait for them all.

    Args:
        sweep: the sweep.
        folder: where submitit keeps job scripts and logs (``%j`` is the job id).
        options: ``cluster`` (``slurm``, ``local`` or ``debug``; default: Slurm where ``sbatch`` exists, else
            local) and submitit's executor parameters (``timeout_min``, ``gpus_per_node``, ``cpus_per_task``,
            ``mem_gb``, ``slurm_partition`` — ``partition`` is taken as ``slurm_partition`` —, ...), and
            ``max_parallel``: at most this many jobs at once (default: 1 on the local executor, all on a cluster).
            On the local executor ``timeout_min`` defaults to :data:`LOCAL_TIMEOUT_MIN` and ``gpus_per_node`` to
            every visible GPU (submitit's own defaults are 2 minutes and none).
    Raises:
        ConfigError: options submitit does not accept.
    """
    import submitit

    params = dict(options)
    cluster = params.pop("cluster", None)
    limit = params.pop("max_parallel", None)
    if "partition" in params:
        params["slurm_partition"] = params.pop("partition")
    try:
        executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster=cluster)
        executor.update_parameters(name=f"bench-{sweep.name}", **params)
    except (ValueError, NameError, TypeError, RuntimeError) as e:
        raise ConfigError(f"--launcher-option: {e}") from None
    if executor.cluster in ("local", "debug"):
        # submitit's local executor kills a job after 2 minutes and hides every GPU unless told otherwise
        import torch

        local = {"timeout_min": LOCAL_TIMEOUT_MIN, "gpus_per_node": torch.cuda.device_count()}
        executor.update_parameters(**{k: v for k, v in local.items() if k not in params})
        if limit is None:
            limit = 1  # local jobs share this machine: all at once would each want every core and their own memory
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"--launcher-option max_parallel must be a whole number >= 1, got {limit!r}")
    statuses = status(sweep)
    outcome = SweepOutcome()
    for s in statuses:
        if s.done:
            outcome.paths += result_paths(s.run)
    pending = [s.run for s in statuses if not s.done]
    if limit is None:  # a cluster queues them all; its scheduler decides what runs when
        with executor.batch():
            running = [(r, executor.submit(run_request, r.request)) for r in pending]
        pending = []
    else:
        running = []
    while pending or running:
        while pending and len(running) < limit:
            r = pending.pop(0)
            running.append((r, executor.submit(run_request, r.request)))
        finished = [(r, job) for r, job in running if job.done()]
        if not finished:
            time.sleep(1.0)
        for r, job in finished:
            running.remove((r, job))
            try:
                outcome.paths += [Path(p) for p in job.result()]
            except Exception as e:  # submitit re-raises the job's exception, or says how the scheduler ended it
                lines = str(e).strip().splitlines()
                outcome.failed.append((r, f"job {job.job_id}: {lines[-1] if lines else repr(e)}"))
    return outcome
