"""The ``bench expand`` verb: fit a method on every pair of a folder, generate, filter, measure and write it all.

The folder is built in a hidden sibling (``.<name>.*``) and renamed over ``out`` at the end, so it is either
complete or absent; an identical request is not recomputed, another one needs ``force``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import bench
from bench.config import ConfigError
from bench.data import write_pairs
from bench.expand.downstream import evaluate_downstream
from bench.expand.folder import (
    CLOSEST_PNG,
    RECORDS_CSV,
    REPORT_HTML,
    SCHEMA_VERSION,
    SUMMARY_JSON,
    previous_output,
)
from bench.expand.html_report import render_report
from bench.expand.pictures import GALLERY_MAX, gallery, save_png, shown_pairs
from bench.expand.records import pair_rows, write_records
from bench.expand.request import ExpandRequest, evaluated_sets, plan_expansion, request_identity
from bench.expand.verdict import make_verdict
from bench.files import atomic_dir, write_json, write_text
from bench.integrity import CheckReport
from bench.pairs import PairSet
from bench.results import GALLERY_PNG
from bench.runner.dataset import load_data
from bench.runner.expansion import Measuring, expand_pairs, measure
from bench.runner.layout import cached_stages, method_cache, metrics_cache
from bench.runner.machine import oom_as_run_error
from bench.runner.provenance import now
from bench.runner.request import CheckedRequest

logger = logging.getLogger(__package__)  # "bench.expand" in log lines, whichever module logs


@dataclass
class ExpandOverview:
    """What an expansion is about to do, known after every check passed and before any work."""

    method: str
    ablation: str
    dataset: str
    path: Path
    source: str
    synthetic_data: bool
    pairs: int
    image_size: int
    n: int
    filters: bool
    preset: str
    seed: int
    device: str
    threads: int
    out: Path
    replaces: bool
    cache: Path
    cached_stages: int
    force: bool
    evaluate: tuple[int, ...] = ()


@dataclass
class ExpandOutcome:
    """What :func:`expand` did: the output folder, its ``expansion.json`` contents, and whether it was reused."""

    out: Path
    summary: dict[str, Any]
    reused: bool


def expand(
    req: ExpandRequest,
    progress: Any = None,
    on_warning: Callable[[str], None] | None = None,
    on_plan: Callable[[ExpandOverview], None] | None = None,
    checked: CheckReport | None = None,
    resolved: CheckedRequest | None = None,
) -> ExpandOutcome:
    """Fit a method on every pair of a folder, generate and filter ``req.n`` pairs, and write ``req.out``.

    Args:
        req: the request (see :class:`ExpandRequest`).
        progress: an optional rich Progress for the method's stages and the metrics.
        on_warning: called with each warning about the data (default: logged).
        on_plan: called once with an :class:`ExpandOverview` after every check passed, before any work.
        checked: the folder's integrity-check report at the planned size, when the caller made it already (the CLI
            does, before it imports torch); None: checked here.
        resolved: :func:`.request.check_expand_request`'s result, when the caller made it already (the CLI does);
            None: made here.

    Returns:
        The outcome; ``reused`` when ``req.out`` already held this very expansion (nothing was recomputed).

    Raises:
        ConfigError: see :func:`.request.plan_expansion` and :func:`.folder.previous_output`; also an ``out``
            that holds the expansion of another request, without ``force``. bench.data.DatasetError: the folder
            fails its integrity check or does not suit the method. Both are raised before anything is trained or
            written.
        bench.runner.RunError: out of memory, naming the stage. bench.files.StorageError: a file could not be
            written (``out`` is then left as it was).
    """
    warn = on_warning or logger.warning
    start = time.perf_counter()
    # 1. Everything that can be checked before any work: request, machine, output folder, data.
    pl, device = plan_expansion(req, resolved)
    cls, out = pl.method_cls, Path(req.out)
    previous = previous_output(out)
    data = load_data(req.dataset, pl, 1, warn, checked, req.masks)
    real = data.pairs
    identity = request_identity(req, pl, real, evaluated_sets(req, pl, data.card))
    if previous is not None and not req.force:
        if previous.get("request") == identity:
            logger.info("reusing the expansion in %s", out)
            return ExpandOutcome(out, previous, reused=True)
        asked = previous.get("request")
        changed = (
            sorted(k for k in set(identity) | set(asked) if asked.get(k) != identity.get(k))
            if isinstance(asked, dict)
            else []
        )
        if not set(changed) <= {"evaluate", "test_sets"} or not changed:  # same pairs, another evaluation: rewritten
            what = f"differs in {', '.join(changed)}" if changed else f"its {SUMMARY_JSON} is unreadable or older"
            raise ConfigError(
                f"--out {out} holds an expansion of another request ({what}); "
                "pass --force to replace it (recomputing the method's cached stages too), or choose another --out"
            )
    workdir = method_cache(Path(req.cache), data.name, cls.name)
    if on_plan is not None:
        on_plan(
            ExpandOverview(
                method=cls.name,
                ablation=pl.ablation,
                dataset=data.name,
                path=data.path,
                source=data.card.title if data.card else "folder",
                synthetic_data=bool(data.card and data.card.synthetic),
                pairs=len(real),
                image_size=pl.image_size,
                n=pl.n_synthetic,
                filters=bool(getattr(cls(pl.ablation, pl.options), "selects", False)),
                preset=req.preset,
                seed=req.seed,
                device=str(device),
                threads=torch.get_num_threads(),
                out=out,
                replaces=previous is not None,
                cache=workdir,
                cached_stages=cached_stages(workdir),
                force=req.force,
                evaluate=tuple(req.evaluate),
            )
        )

    # 2. Fit on every pair (no test split: production use; stages cached under the workdir), generate, measure the
    # real-data network and run the --evaluate runs, all before the staging folder is opened: a process killed in
    # these hours leaves nothing beside `out`. 3. In that folder, which replaces `out` only when everything is
    # written: measure against every pair (its closest-pairs picture goes there) and write it all.
    where = f"on all {len(real)} pairs"
    done = expand_pairs(
        pl,
        real,
        workdir=workdir,
        seed=req.seed,
        device=device,
        preset=req.preset,
        force=req.force,
        progress=progress,
        where=where,
    )
    method, expansion = done.method, done.expansion
    t0 = time.perf_counter()
    with oom_as_run_error("measuring the method's real-data network on the real pairs", device):
        real_dice = _real_dice(method.real_data_network(), real, device)
    timings = {"fit": done.timings["fit"], "expand": done.timings["expand"], "metrics": time.perf_counter() - t0}
    evaluation = None
    if req.evaluate:
        t0 = time.perf_counter()
        evaluation = evaluate_downstream(req, progress)
        timings["evaluate"] = time.perf_counter() - t0
    with atomic_dir(out) as tmp:
        measuring = Measuring(
            metrics_cache(Path(req.cache), data.name),
            tmp / CLOSEST_PNG,
            inception_weights=req.inception_weights,
            reference=False,  # only the method's own real-data network: an expansion trains no extra one
            per_image=True,
        )
        measure(pl, real, done, seed=req.seed, device=device, progress=progress, where=where, measuring=measuring)
        metrics, unavailable = done.metrics, done.unavailable
        timings["metrics"] += done.timings["generation_metrics"]
        memorisation = metrics.get("memorisation") or {}
        nearest = memorisation.pop("per_image", None)
        rows = pair_rows(expansion, nearest)
        counts = {"generated": len(expansion.records), **expansion.counts(), "written": len(expansion.pairs)}
        verdict = make_verdict(
            method=cls.name,
            ablation=pl.ablation,
            dataset=req.dataset,
            preset=req.preset,
            filters=expansion.generated is not None,
            counts=counts,
            real_pairs=len(real),
            generated_dice=[r["dice"] for r in rows if r["dice"] is not None],
            real_dice=real_dice,
            memorisation=metrics.get("memorisation"),
            memorisation_reason=unavailable.get("memorisation", ""),
            evaluation=evaluation,
        )
        write_pairs(expansion.pairs, tmp, binary=real.num_classes == 2)
        write_records(rows, tmp / RECORDS_CSV)
        shown = shown_pairs(expansion)
        decisions = [r["decision"] for r in rows] if expansion.generated is not None else None
        save_png(gallery(shown, decisions, GALLERY_MAX), tmp / GALLERY_PNG)
        stats = {k: v for k, v in getattr(method, "stats", {}).items() if k != "filter_dice"}
        timings["total"] = time.perf_counter() - start
        summary = {
            "schema_version": SCHEMA_VERSION,
            "request": identity,
            "method": cls.name,
            **{k: identity[k] for k in ("ablation", "options", "preset", "seed", "n", "image_size")},
            "versions": {
                "package": bench.__version__,
                "method": cls.version,
                "torch": torch.__version__,
            },
            "source": {
                "dataset": data.name,
                "path": str(data.path.resolve()),
                "card": data.card.name if data.card else None,
                "synthetic": bool(data.card and data.card.synthetic),
                "pairs": len(real),
                "fingerprint": identity["data"]["fingerprint"],
                "check_warnings": len(data.report.warnings),
                "held_back": 0,
            },
            "date": now(),
            "environment": {"device": str(device), "torch_threads": torch.get_num_threads()},
            "cache": str(workdir.resolve()),
            "counts": counts,
            "pass_rate": counts["written"] / max(1, counts["generated"]),
            "timings": {k: round(v, 3) for k, v in timings.items()},
            "metrics": metrics,
            "unavailable": unavailable,
            "real_data_dice": real_dice,
            "evaluation": evaluation,
            "method_stats": stats,
            "verdict": verdict,
            "files": {
                "pairs": "images/, masks/",
                "records": RECORDS_CSV,
                "gallery": GALLERY_PNG,
                "closest_pairs": CLOSEST_PNG if (tmp / CLOSEST_PNG).is_file() else None,
                "report": REPORT_HTML,
            },
        }
        write_text(tmp / REPORT_HTML, render_report(summary, rows, shown, tmp, getattr(pl.options, "eta", None)))
        write_json(tmp / SUMMARY_JSON, summary, sort_keys=False)
    return ExpandOutcome(out, summary, reused=False)


def _real_dice(network: torch.nn.Module | None, real: PairSet, device: torch.device) -> float | None:
    """Mean Dice of the method's real-data network on the real pairs it was trained on, or None without one."""
    if network is None:
        return None
    from bench.segmentation.trainer import evaluate

    return float(evaluate(network, real, device).mean())
