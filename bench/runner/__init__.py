"""``bench run``'s engine: one request in, one results.json per (seed, downstream model) out.

============================  =====================================================================================
``request``                   :class:`Request`, what a user asks for, and the checks of its own values
                              (:class:`CheckedRequest`, what they found, handed to planning)
``planning``                  the request resolved against its preset and method (:func:`plan`), the runs it makes
``machine``                   the device and output folder it needs (:func:`preflight`), out of memory as RunError
``dataset``                   the data set found, checked, read, and split per seed
``external``                  the external test sets read and checked, and scored on finished runs that lack one
``layout``                    where runs and caches live under ``--out``; a finished run recognised by its key
``expansion``                 :func:`expand_pairs`: a method fitted on a pair set, its pairs generated and measured
                              (the core ``bench expand`` shares)
``downstream``                one run's downstream training and evaluation, as its results.json record
``generation``                one seed's generation metrics (FID, KID, IS, U-Net FID / IS, memorisation), gallery
``provenance``                versions, git commit, date and machine recorded with every result
``loop``                      :func:`run`: every check first, then per seed :func:`expand_pairs` -> train/eval;
                              :func:`run_with_origin` adds the paired origin runs
============================  =====================================================================================

The names below are those other commands import from ``bench.runner``; everything else is imported from its module.
"""

from importlib import import_module

# name -> module, imported on first use so that ``bench.runner.request`` (the checks the CLI runs before anything
# heavy) can be imported without the run loop's torch
_HOMES = {
    "Request": "request",
    "baseline_request": "request",
    "check_pairs": "request",
    "check_ratio": "request",
    "check_request": "request",
    "check_values": "request",
    "origin_train_options": "request",
    "resolve_options": "request",
    "resolved_request": "request",
    "plan": "planning",
    "run_configs": "planning",
    "RunError": "machine",
    "preflight": "machine",
    "stored_result": "layout",
    "run": "loop",
    "run_with_origin": "loop",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'bench.runner' has no attribute '{name}'")
    return getattr(import_module(f"bench.runner.{_HOMES[name]}"), name)
