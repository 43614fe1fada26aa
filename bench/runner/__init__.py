"""``bench run``'s engine: one request in, one results.json per (seed, downstream model) out.

============================  =====================================================================================
``request``                   :class:`Request`, what a user asks for, and the checks of its own values
``plan``                      the request resolved against its preset and method (:func:`plan`), the runs it makes
``machine``                   the device and output folder it needs (:func:`preflight`), out of memory as RunError
``dataset``                   the data set found, checked, read, and split per seed
``layout``                    where runs and caches live under ``--out``; a finished run recognised by its key
``downstream``                one run's downstream training and evaluation, as its results.json record
``generation``                one seed's generation metrics (FID, KID, IS, U-Net FID / IS, memorisation), gallery
``provenance``                versions, git commit, date and machine recorded with every result
``loop``                      :func:`run`: every check first, then fit -> expand -> metrics -> train/eval per seed
============================  =====================================================================================

The names below are those other commands import from ``bench.runner``; everything else is imported from its module.
"""

from bench.runner.layout import stored_result
from bench.runner.loop import run
from bench.runner.machine import RunError, preflight
from bench.runner.plan import plan, run_configs
from bench.runner.request import Request, baseline_request, check_ratio, check_values

__all__ = [
    "Request",
    "RunError",
    "baseline_request",
    "check_ratio",
    "check_values",
    "plan",
    "preflight",
    "run",
    "run_configs",
    "stored_result",
]
