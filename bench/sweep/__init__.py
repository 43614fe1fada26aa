"""Sweeps: every run one paper artifact needs, as ``bench run`` requests, run here or handed to submitit.

A sweep is a list of :class:`SweepRun`, one request and one seed each. It is resumable for free: the runner finds
finished runs by their config key and reuses them, and method stages are cached by the config that made them, so
runs of a sweep share the networks they can share and a sweep killed midway, started again, picks up where it
stopped. ``launch`` runs them in this process (default) or submits each to submitit, whose Slurm executor sends
them to a cluster and whose local executor runs them as subprocesses here; results land in the same run folders
either way, so ``bench report`` does not care where a run ran.

==============  ===================================================================================================
``grid``        :class:`Sweep` and :class:`SweepRun`, each artifact's grid of runs (:func:`build_sweep`), and the
                checks of every run before the first trains (:func:`check_sweep`)
``run_status``  what a dry run says of each run (:func:`status`): done, to score on an external set, or to run
``launch``      :func:`run_local` and :func:`run_submitit`
==============  ===================================================================================================
"""

from bench.sweep.grid import DEFAULT_MODELS, DEFAULT_SEEDS, SWEEPS, Sweep, SweepRun, build_sweep, check_sweep
from bench.sweep.launch import (
    LAUNCHERS,
    LOCAL_TIMEOUT_MIN,
    SweepOutcome,
    new_group,
    run_local,
    run_request,
    run_submitit,
)
from bench.sweep.run_status import RunStatus, result_paths, status

__all__ = [
    "DEFAULT_MODELS",
    "DEFAULT_SEEDS",
    "LAUNCHERS",
    "LOCAL_TIMEOUT_MIN",
    "SWEEPS",
    "RunStatus",
    "Sweep",
    "SweepOutcome",
    "SweepRun",
    "build_sweep",
    "check_sweep",
    "new_group",
    "result_paths",
    "run_local",
    "run_request",
    "run_submitit",
    "status",
]
