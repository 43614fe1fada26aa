"""``bench expand``: a folder of image-mask pairs in, an expanded pair set out, with a report and a verdict.

Production use, not a benchmark: :func:`expand` fits a method on *every* pair of the folder (no test split is held
back), generates ``n`` pairs, applies the method's own filter (DiffuseExpand ``cf+cg+cs``: stage IV) and writes
the output folder:

========================  ===================================================================================
``images/``, ``masks/``   the pairs to use: kept + relabelled (every pair, for a method without a filter), 8-bit
                          PNG, masks 0/255 for binary sets; ids ``syn_00000`` ... as generated, so a dropped
                          pair leaves a gap. ``bench datasets check`` passes on it whenever a pair was kept.
``records.csv``           one row per *generated* pair, dropped ones included (see :data:`RECORD_COLUMNS`),
                          then the method's own per-pair values (``PairRecord.info``: ``tau``, ``dice_loss``...)
``expansion.json``        the request, versions, source folder + fingerprint, counts, timings, generation
                          metrics, the verdict; written last (``schema_version`` :data:`SCHEMA_VERSION`)
``gallery.png``           the first :data:`GALLERY_MAX` generated pairs coloured by decision
``closest_pairs.png``     the generated images nearest to a real image, beside it (when memorisation was measured)
``report.html``           one self-contained page of all of it (:func:`render_report`)
========================  ===================================================================================

The folder is built in a hidden sibling (``.<name>.*``) and renamed over ``out`` at the end, so it is either
complete or absent. ``out`` must be missing, empty, or a previous expansion (recognised by its
``expansion.json``): an identical request is not recomputed, another one needs ``force``; a non-empty folder
that is not an expansion is never written into.

Method stages are cached as ``bench run`` caches them: under ``<cache>/<dataset>/_cache/<method>/`` (the same
:class:`~methods.base.MethodContext` layout as ``bench run --out <cache>``), so an expansion reuses whatever stage
``bench run`` trained on the same data, and an interrupted expansion resumes from its finished stages and
checkpoints. ``bench run`` trains on a split and this on all pairs, so their data fingerprints, and the stages
that depend on the data, differ.

The verdict (:func:`make_verdict`) says how well generated images follow their masks (the method's own
real-data network, DiffuseExpand ``cf+cg+cs``'s stage-IV filter: its Dice on the generated pairs against its
Dice on the real pairs it was trained on), how many generated images are near-copies of real ones, and whether the
filter kept enough pairs. Whether the expansion helps a segmenter needs held-back data: with ``evaluate`` seeds
(:func:`evaluate_downstream`) the method is also fitted per seed on a 90 % split, as ``bench run`` does, and the
verdict gives the paired Dice Δ against ``origin`` on the other 10 %. It recommends the expansion only when that Δ
is positive beyond its seed spread (a one-sided paired t-test over the seeds, p < 0.05) and no generated image is
a near-copy of a real one.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib.metadata as md
import io
import json
import logging
import shlex
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import scipy.stats
import torch
import torch.nn.functional as F

from bench import runner
from bench.config import ConfigError, check_type
from bench.data import PairSet, fingerprint, write_pairs
from bench.files import atomic_dir, write_csv, write_json, write_text
from bench.runner import dataset, layout, machine
from methods.base import DECISIONS, Expansion, ExpansionMethod, MethodContext, options_dict

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SUMMARY_JSON = "expansion.json"
RECORDS_CSV = "records.csv"
REPORT_HTML = "report.html"
GALLERY_PNG = layout.GALLERY_PNG
CLOSEST_PNG = layout.CLOSEST_PNG
TEMPLATE = "expansion.html.j2"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
GALLERY_MAX = 256  # pairs in gallery.png
GALLERY_TILE = 128  # pixels: larger pairs are shrunk to this in galleries
SHOWN_PER_DECISION = 64  # pairs in each of the report's galleries
THUMBNAIL = 64  # pixels, the side of each table row's picture
RECORD_COLUMNS = ("id", "seed", "decision", "dice", "nn_distance", "nn_real", "nn_ssim", "near_copy", "file")
"""records.csv's first columns: stage-IV Dice (1 − dice_loss; empty for a method without a filter), the nearest
real image's cosine distance, id and SSIM (empty when memorisation was not measured), whether it is closer than
real images are to each other, and the written image (empty for a dropped pair)."""

CLOSE_DICE_GAP = 0.05  # generated Dice at most this far below real Dice: "about as well as real images"
FAR_DICE_GAP = 0.15  # further than this: "much less well"
LOW_PASS_RATE = 0.1  # a filter passing fewer is said to keep few pairs
WEAK_NETWORK_DICE = 0.7  # a real-data network below this Dice on its own training pairs checks little
MANY_COPIES = 0.5  # a share of near-copies from which the verdict warns
SIGNIFICANCE = 0.05  # one-sided paired t-test level for "a gain beyond the seed spread"
DOWNSTREAM = "downstream: benefit not measured (--evaluate SEEDS measures the paired Δ vs origin on held-back splits)"


@dataclass
class ExpandRequest:
    """What a user asks ``bench expand`` for. ``n`` pairs are generated (before the filter)."""

    method: str
    dataset: str
    n: int
    out: Path
    ablation: str | None = None
    preset: str = "cpu"
    seed: int = 0
    method_options: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    force: bool = False
    cache: Path = Path("runs")
    inception_weights: Path | None = None
    evaluate: tuple[int, ...] = ()


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


def plan_expansion(req: ExpandRequest) -> tuple[runner.Plan, torch.device]:
    """Resolve and validate a request with ``bench run``'s planning, without loading anything.

    Returns:
        The plan (method class, ablation, resolved options, training config, image size, ``n``) and the device.

    Raises:
        ConfigError: naming the bad value: ``--n`` < 1, a negative ``--seed``, an unknown method / ablation /
            preset / option, a method that generates no pairs, a device this machine lacks, an ``--out`` or
            ``--cache`` that cannot be written, a missing ``--inception-weights`` file.
    """
    n = check_type(req.n, int, "--n")
    if n < 1:
        raise ConfigError(f"--n must be >= 1 (pairs to generate), got {n}")
    seed = check_type(req.seed, int, "--seed")
    if seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {seed}")
    if any(s < 0 for s in req.evaluate) or len(set(req.evaluate)) != len(req.evaluate):
        raise ConfigError(f"--evaluate: distinct seeds >= 0, got {','.join(map(str, req.evaluate))}")
    pl = runner.plan(_run_request(req))
    if not pl.method_cls.generates_pairs:
        raise ConfigError(f"method '{pl.method_cls.name}' generates no pairs: there is nothing to expand with it")
    device = machine.resolve_device(req.device)
    machine.check_writable(Path(req.out))
    machine.check_writable(Path(req.cache), "--cache")
    if req.inception_weights is not None and not Path(req.inception_weights).is_file():
        raise ConfigError(f"--inception-weights: no such file {req.inception_weights}")
    return pl, device


def _run_request(req: ExpandRequest) -> runner.Request:
    """The ``bench run`` request whose plan is this expansion's (one seed, the cache as its output root)."""
    return runner.Request(
        method=req.method,
        ablation=req.ablation,
        dataset=req.dataset,
        seeds=(req.seed,),
        preset=req.preset,
        out=Path(req.cache),
        n_synthetic=req.n,
        method_options=dict(req.method_options),
        wandb="disabled",
        force=req.force,
        device=req.device,
        inception_weights=req.inception_weights,
    )


def previous_output(out: Path) -> dict[str, Any] | None:
    """The ``expansion.json`` of an earlier expansion in ``out`` ({} when unreadable), None for a missing or
    empty folder.

    Raises:
        ConfigError: ``out`` is a file, or a non-empty folder without ``expansion.json`` (not written here).
    """
    out = Path(out)
    if not out.exists():
        return None
    if not out.is_dir():
        raise ConfigError(f"--out {out}: a file, not a folder")
    if not any(out.iterdir()):
        return None
    summary = out / SUMMARY_JSON
    if not summary.is_file():
        raise ConfigError(
            f"--out {out}: not empty and not written by bench expand (no {SUMMARY_JSON}); choose a new or empty folder"
        )
    try:
        found = json.loads(summary.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def request_identity(req: ExpandRequest, pl: runner.Plan, real: PairSet) -> dict[str, Any]:
    """Everything that decides an expansion's contents, as JSON values: two requests with equal identities
    give the same folder, so the second one reuses the first's (the device and the cache folder are not part)."""
    identity = {
        "method": pl.method_cls.name,
        "method_version": pl.method_cls.version,
        "ablation": pl.ablation,
        "options": options_dict(pl.options),
        "preset": req.preset,
        "seed": req.seed,
        "n": pl.n_synthetic,
        "image_size": pl.image_size,
        "train": dataclasses.asdict(pl.train),
        "data": {"fingerprint": fingerprint(real), "pairs": len(real)},
    }
    if req.evaluate:
        identity["evaluate"] = list(req.evaluate)
    return json.loads(json.dumps(identity, default=str))


def expand(
    req: ExpandRequest,
    progress: Any = None,
    on_warning: Callable[[str], None] | None = None,
    on_plan: Callable[[ExpandOverview], None] | None = None,
) -> ExpandOutcome:
    """Fit a method on every pair of a folder, generate and filter ``req.n`` pairs, and write ``req.out``.

    Args:
        req: the request (see :class:`ExpandRequest`).
        progress: an optional rich Progress for the method's stages and the metrics.
        on_warning: called with each warning about the data (default: logged).
        on_plan: called once with an :class:`ExpandOverview` after every check passed, before any work.

    Returns:
        The outcome; ``reused`` when ``req.out`` already held this very expansion (nothing was recomputed).

    Raises:
        ConfigError: see :func:`plan_expansion` and :func:`previous_output`; also an ``out`` that holds the
            expansion of another request, without ``force``. bench.data.DatasetError: the folder fails its
            integrity check or does not suit the method. Both are raised before anything is trained or written.
        bench.runner.RunError: out of memory, naming the stage. bench.files.StorageError: a file could not be
            written (``out`` is then left as it was).
    """
    warn = on_warning or logger.warning
    start = time.perf_counter()
    # 1. Everything that can be checked before any work: request, machine, output folder, data.
    pl, device = plan_expansion(req)
    cls, out = pl.method_cls, Path(req.out)
    previous = previous_output(out)
    data = dataset.load_data(req.dataset, pl, 1, warn)
    real = data.pairs
    identity = request_identity(req, pl, real)
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
        if changed != ["evaluate"]:  # the same pairs under another evaluation are rewritten without --force
            what = f"differs in {', '.join(changed)}" if changed else f"its {SUMMARY_JSON} is unreadable or older"
            raise ConfigError(
                f"--out {out} holds an expansion of another request ({what}); "
                "pass --force to replace it (recomputing the method's cached stages too), or choose another --out"
            )
    workdir = layout.method_cache(Path(req.cache), data.name, cls.name)
    method = cls(pl.ablation, pl.options)
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
                filters=bool(getattr(method, "selects", False)),
                preset=req.preset,
                seed=req.seed,
                device=str(device),
                threads=torch.get_num_threads(),
                out=out,
                replaces=previous is not None,
                cache=workdir,
                cached_stages=len(list(workdir.glob("*/*/done.json"))) if workdir.is_dir() else 0,
                force=req.force,
                evaluate=tuple(req.evaluate),
            )
        )

    # 2. Fit on every pair (no test split: production use) and generate; stages are cached under the workdir.
    ctx = MethodContext(
        workdir=workdir,
        seed=req.seed,
        device=device,
        train=pl.train,
        preset=req.preset,
        force=req.force,
        progress=progress,
    )
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with machine.oom_as_run_error(f"fitting {cls.name} ({pl.ablation}) on all {len(real)} pairs", device):
        method.fit(real, ctx)
    timings["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with machine.oom_as_run_error(f"generating {pl.n_synthetic} pairs with {cls.name}", device):
        expansion = method.expand(pl.n_synthetic, ctx)
    timings["expand"] = time.perf_counter() - t0
    evaluation = None
    if req.evaluate:
        t0 = time.perf_counter()
        evaluation = evaluate_downstream(req, progress)
        timings["evaluate"] = time.perf_counter() - t0

    # 3. Metrics and files, in a staging folder that replaces `out` only when everything is written.
    with atomic_dir(out) as tmp:
        t0 = time.perf_counter()
        with machine.oom_as_run_error("computing generation metrics", device):
            metrics, unavailable = _generation_metrics(
                real, expansion, method, device, layout.metrics_cache(Path(req.cache), data.name), progress, tmp, req
            )
            network = method.real_data_network()
            real_dice = _real_dice(network, real, device)
        timings["metrics"] = time.perf_counter() - t0
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
        _write_records(rows, tmp / RECORDS_CSV)
        shown = _shown_pairs(expansion)
        decisions = [r["decision"] for r in rows] if expansion.generated is not None else None
        _save_png(_gallery(shown, decisions, GALLERY_MAX), tmp / GALLERY_PNG)
        stats = {k: v for k, v in getattr(method, "stats", {}).items() if k != "filter_dice"}
        timings["total"] = time.perf_counter() - start
        summary = {
            "schema_version": SCHEMA_VERSION,
            "request": identity,
            "method": cls.name,
            **{k: identity[k] for k in ("ablation", "options", "preset", "seed", "n", "image_size")},
            "versions": {
                "package": _version("diffuseexpand-bench"),
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
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
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


def _generation_metrics(
    real: PairSet,
    expansion: Expansion,
    method: ExpansionMethod,
    device: torch.device,
    cache_dir: Path,
    progress: Any,
    folder: Path,
    req: ExpandRequest,
) -> tuple[dict[str, Any], dict[str, str]]:
    """FID / KID / IS / memorisation of every generated image (and of the written ones) against all real pairs,
    with every generated image's nearest real image (``memorisation["per_image"]``); ``closest_pairs.png`` into
    ``folder``. The paper's U-Net features only with the method's own real-data network: an expansion trains no
    extra network for them (``bench run`` does)."""
    from bench.metrics.generation import Images, generation_metrics
    from bench.metrics.inception import WeightsError, load_inception

    inception, inception_reason = None, ""
    try:
        weights = None if req.inception_weights is None else str(req.inception_weights)
        inception = load_inception(weights, str(device))
    except (WeightsError, ValueError) as e:
        inception_reason = str(e)
    unet = method.real_data_network()
    generated = expansion.generated if expansion.generated is not None else expansion.pairs
    kept = expansion.pairs if expansion.generated is not None and len(expansion.pairs) else None
    metrics, unavailable = generation_metrics(
        Images(real.ids, real.images, fingerprint(real)),
        Images(generated.ids, generated.images),
        None if kept is None else Images(kept.ids, kept.images),
        inception=inception,
        inception_reason=inception_reason,
        unet=unet,
        unet_reason=f"method '{method.name}' ({method.variant}) trains no segmentation network on the real pairs; "
        "`bench run` trains one for these",
        device=device,
        progress=progress,
        cache_dir=cache_dir,
        pairs_png=folder / CLOSEST_PNG,
        seed=req.seed,
        per_image=True,
    )
    if expansion.generated is not None and kept is None:  # the filter passed nothing: no "_kept" figures
        for key in ("fid_kept", "kid_kept", "fid_unet_kept"):
            metrics[key], unavailable[key] = None, "the filter kept no pair"
        metrics["kid_kept_std"] = None
    return metrics, unavailable


def evaluate_downstream(req: ExpandRequest, progress: Any = None) -> dict[str, Any]:
    """Paired downstream Dice of the request's method against ``origin`` on held-back test splits.

    ``bench run``'s protocol, one seed of ``req.evaluate`` at a time: the folder is split 90/10 by the seed, the
    method is fitted on the 90 % alone (not on every pair, as the expansion is), and the preset's U-Net is trained
    on those real pairs with and without the generated ones and scored on the 10 %. Runs and stages are kept under
    ``req.cache`` as ``bench run --out`` keeps them, so finished ones are reused.

    Returns:
        ``seeds``, ``model``, ``train_ratio``, ``train_pairs``, ``test_pairs``, per-seed ``dice_origin``,
        ``dice_expanded`` and ``delta`` (expanded − origin), their ``delta_mean`` and ``delta_std`` (sample std;
        None for one seed), ``p_value`` of a one-sided paired t-test of Δ > 0 over the seeds (None for one seed),
        and the ``runs`` (results files).
    """
    request = dataclasses.replace(_run_request(req), seeds=tuple(req.evaluate))
    expanded = runner.run(request, progress=progress, on_warning=lambda _: None)
    origin = runner.run(runner.baseline_request(request), progress=progress, on_warning=lambda _: None)

    def dice(outcome: runner.Outcome) -> dict[int, float]:
        return {r["run"]["seed"]: float(r["metrics"]["dice"]) for r in outcome.results}

    with_pairs, without = dice(expanded), dice(origin)
    seeds = sorted(with_pairs)
    deltas = [with_pairs[s] - without[s] for s in seeds]
    counts = expanded.results[0]["counts"]
    return {
        "seeds": seeds,
        "model": request.models[0],
        "train_ratio": request.train_ratio,
        "train_pairs": counts["real_train"],
        "test_pairs": counts["test"],
        "dice_origin": [round(without[s], 4) for s in seeds],
        "dice_expanded": [round(with_pairs[s], 4) for s in seeds],
        "delta": [round(d, 4) for d in deltas],
        "delta_mean": round(statistics.fmean(deltas), 4),
        "delta_std": round(statistics.stdev(deltas), 4) if len(deltas) > 1 else None,
        "p_value": gain_p_value(deltas),
        "runs": [str(p) for p in [*expanded.paths, *origin.paths]],
    }


def gain_p_value(deltas: list[float]) -> float | None:
    """One-sided p-value of a paired t-test that the mean Δ over seeds is > 0 (None for fewer than two seeds).

    The seeds' Δ are paired differences on the same splits, so their spread is the noise a gain must exceed; with
    few seeds the t distribution asks for a larger margin than "mean above one standard deviation" would.
    """
    if len(deltas) < 2:
        return None
    mean, std = statistics.fmean(deltas), statistics.stdev(deltas)
    if std == 0:
        return 0.0 if mean > 0 else 1.0
    return float(scipy.stats.t.sf(mean / (std / len(deltas) ** 0.5), len(deltas) - 1))


def _real_dice(network: torch.nn.Module | None, real: PairSet, device: torch.device) -> float | None:
    """Mean Dice of the method's real-data network on the real pairs it was trained on, or None without one."""
    if network is None:
        return None
    from bench.segmentation.trainer import evaluate

    return float(evaluate(network, real, device).mean())


def pair_rows(expansion: Expansion, nearest: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """One row per generated pair, in generation order: :data:`RECORD_COLUMNS`, then the record's ``info``.

    Args:
        expansion: the method's output (its records cover every generated pair).
        nearest: every generated image's nearest real image (``Memorisation.per_image``), or None.
    """
    near = {p["generated"]: p for p in nearest or []}
    written = set(expansion.pairs.ids)
    rows = []
    for r in expansion.records:
        loss = r.info.get("dice_loss")
        nn = near.get(r.id, {})
        row = {
            "id": r.id,
            "seed": r.seed,
            "decision": r.decision,
            "dice": None if loss in (None, "") else round(1 - float(loss), 6),
            "nn_distance": nn.get("distance"),
            "nn_real": nn.get("real"),
            "nn_ssim": nn.get("ssim"),
            "near_copy": nn.get("close"),
            "file": f"images/{r.id}.png" if r.id in written else None,
        }
        row.update({(f"info_{k}" if k in row else k): v for k, v in r.info.items()})
        rows.append(row)
    return rows


def _write_records(rows: list[dict[str, Any]], path: Path) -> None:
    extra = sorted({k for r in rows for k in r} - set(RECORD_COLUMNS))
    header = [*RECORD_COLUMNS, *extra]
    write_csv(path, header, ([_cell(r.get(k)) for k in header] for r in rows))


def _cell(value: Any) -> Any:
    return "" if value is None else value


def make_verdict(
    *,
    method: str,
    ablation: str,
    dataset: str,
    preset: str,
    filters: bool,
    counts: dict[str, int],
    real_pairs: int,
    generated_dice: list[float],
    real_dice: float | None,
    memorisation: dict[str, Any] | None,
    memorisation_reason: str = "",
    evaluation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What an expansion's numbers say, in five parts, each with its figures and a ``text`` line.

    Args:
        method, ablation, dataset, preset: the request (for the ``bench run`` command it suggests).
        filters: the method filters its pairs.
        counts: ``generated``, ``kept``, ``relabelled``, ``dropped``, ``written``.
        real_pairs: real pairs the method was fitted on.
        generated_dice: the method's real-data network's Dice on each generated pair (empty without one).
        real_dice: the same network's mean Dice on the real pairs it was trained on, or None without one.
        memorisation: the memorisation figures (``bench.metrics.memorisation``), or None.
        memorisation_reason: why they are missing.
        evaluation: the paired downstream Dice of :func:`evaluate_downstream`, or None when not asked for.

    Returns:
        ``{"masks", "copies", "filter", "downstream", "recommendation", "lines"}``; ``lines`` are the five texts in
        that order. ``recommendation["recommended"]`` is True only when the paired Δ is positive beyond its seed
        spread (one-sided paired t-test over two seeds or more, p < :data:`SIGNIFICANCE`), no generated image is a
        near-copy, and the filter passed pairs; otherwise ``failed`` lists the checks that did not pass.

    Notes:
        The real-data Dice is measured on the network's own training images, so it is an optimistic reference:
        generated pairs scoring close to it follow their masks about as well as real images do.
    """
    n = counts["generated"]
    if generated_dice and real_dice is not None:
        mean = sum(generated_dice) / len(generated_dice)
        gap = real_dice - mean
        how = (
            "about as well as"
            if gap <= CLOSE_DICE_GAP
            else "somewhat less well than"
            if gap <= FAR_DICE_GAP
            else "much less well than"
        )
        weak = (
            f" (but the network segments even its own training images poorly, Dice under {WEAK_NETWORK_DICE}, so "
            "this check says little; a larger preset trains it longer)"
            if real_dice < WEAK_NETWORK_DICE
            else ""
        )
        masks = {
            "available": True,
            "dice_generated": round(mean, 4),
            "dice_real": round(real_dice, 4),
            "weak_network": real_dice < WEAK_NETWORK_DICE,
            "text": f"masks: the method's filter network, trained on the {real_pairs} real pairs, scores Dice "
            f"{mean:.3f} on the {len(generated_dice)} generated pairs against {real_dice:.3f} on the real images it "
            f"was trained on: the generated images follow their masks {how} real images do{weak}",
        }
    else:
        masks = {
            "available": False,
            "text": f"masks: not available for {method} ({ablation}) on these masks: no segmentation network trained "
            "on the real pairs to check generated pairs with (DiffuseExpand cf+cg+cs on binary masks has one: its "
            "stage-IV filter)",
        }
    if memorisation:
        share = float(memorisation["share_closer_than_real"])
        close = round(share * n)
        warning = f"; many look like near-copies: see {CLOSEST_PNG}" if share >= MANY_COPIES else ""
        copies = {
            "available": True,
            "near_copies": close,
            "share": round(share, 4),
            "text": f"copies: {close} of {n} generated images ({share:.0%}) are closer to a real image than the "
            f"median real image is to its nearest other one (copies score 100%, unrelated images 0%){warning}",
        }
    else:
        copies = {
            "available": False,
            "text": f"copies: not measured ({memorisation_reason or 'no memorisation figures'})",
        }
    usable, rate = counts["written"], counts["written"] / max(1, n)
    if filters:
        enough = usable > 0 and rate >= LOW_PASS_RATE
        judgement = (
            "enough passed"
            if enough
            else "none passed: the output holds no pairs to train on; generate more (--n) or use a larger preset"
            if usable == 0
            else f"few passed (under {LOW_PASS_RATE:.0%}): generate more (--n) or use a larger preset"
        )
        text = (
            f"filter: {counts['kept']} kept + {counts['relabelled']} relabelled of {n} generated (pass rate "
            f"{rate:.0%}): {usable} pairs to add to the {real_pairs} real ones; {judgement}"
        )
    else:
        enough = None
        text = f"filter: {method} ({ablation}) has no filter: all {n} generated pairs are written unchecked"
    command = f"bench run --method {method} --ablation {ablation} --dataset {shlex.quote(dataset)} --preset {preset}"
    if evaluation is None:
        downstream = {"measured": False, "command": command, "text": f"{DOWNSTREAM} (e.g. `{command}`)"}
    else:
        downstream = _downstream_part(evaluation, command)
    filtered = {"filters": filters, "written": usable, "pass_rate": round(rate, 4), "enough": enough, "text": text}
    failed = []
    if not downstream["measured"]:
        failed.append("the downstream benefit was not measured (--evaluate SEEDS measures it)")
    elif not downstream["helps"]:
        failed.append("the paired downstream Δ is not positive beyond the seed spread")
    if not copies["available"]:
        failed.append("memorisation was not measured")
    elif copies["near_copies"]:
        failed.append(f"{copies['near_copies']} generated image(s) are near-copies of real ones")
    if filters and not usable:
        failed.append("the filter passed no pair")
    recommendation = {
        "recommended": not failed,
        "failed": failed,
        "text": "recommendation: RECOMMENDED: the generated pairs improved the held-back Dice beyond the seed spread "
        "and none is a near-copy"
        if not failed
        else "recommendation: not recommended: " + "; ".join(failed),
    }
    parts = {
        "masks": masks,
        "copies": copies,
        "filter": filtered,
        "downstream": downstream,
        "recommendation": recommendation,
    }
    return {**parts, "lines": [p["text"] for p in parts.values()]}


def _downstream_part(e: dict[str, Any], command: str) -> dict[str, Any]:
    """The verdict's downstream part from :func:`evaluate_downstream`'s figures."""
    mean, std, p, k = e["delta_mean"], e["delta_std"], e["p_value"], len(e["seeds"])
    helps = p is not None and p < SIGNIFICANCE
    if p is None:
        how = "one seed gives no spread to compare Δ with: evaluate two or more seeds"
    elif helps:
        how = f"a gain beyond the seed spread (one-sided paired t-test p = {p:.3f} < {SIGNIFICANCE})"
    elif mean <= 0:
        how = f"no gain (paired t-test p = {p:.2f})"
    else:
        how = f"no gain beyond the seed spread (one-sided paired t-test p = {p:.2f}, needs < {SIGNIFICANCE})"
    spread = "" if std is None else f" ± {std:.4f}"
    text = (
        f"downstream: {e['model']} trained on {e['train_pairs']} real pairs with and without the generated ones, "
        f"Dice on {e['test_pairs']} held-back pairs, seed(s) {','.join(map(str, e['seeds']))}: origin "
        f"{statistics.fmean(e['dice_origin']):.4f}, expanded {statistics.fmean(e['dice_expanded']):.4f}, paired Δ "
        f"{mean:+.4f}{spread} over {k} seed(s): {how}"
    )
    return {"measured": True, "helps": helps, "command": command, **e, "text": text}


# --------------------------------------------------------------------------------------------------------------
# Pictures and the HTML report
# --------------------------------------------------------------------------------------------------------------


def _shown_pairs(expansion: Expansion) -> PairSet:
    """Every generated pair as shown in pictures: with the mask written for it (the filter's for a relabelled
    pair), and its generated mask when it was dropped; masks 0/1 (foreground)."""
    generated = expansion.generated if expansion.generated is not None else expansion.pairs
    masks = generated.masks.clone()
    index = {k: i for i, k in enumerate(generated.ids)}
    for j, k in enumerate(expansion.pairs.ids):
        masks[index[k]] = expansion.pairs.masks[j]
    return PairSet(generated.ids, generated.images, (masks > 0).long(), generated.name, True)


def _gallery(pairs: PairSet, decisions: list[str] | None, limit: int):
    """The first ``limit`` pairs as a gallery image (tiles of at most 128 pixels, so 256 pairs stay ~2000 pixels
    wide), or None for no pairs."""
    from methods.gallery import gallery_image

    images, masks = pairs.images[:limit], pairs.masks[:limit]
    if images.shape[-1] > GALLERY_TILE:
        images = F.interpolate(images.float(), size=(GALLERY_TILE, GALLERY_TILE), mode="area")
        masks = F.interpolate(masks[:, None].float(), size=(GALLERY_TILE, GALLERY_TILE), mode="nearest")[:, 0].long()
    return gallery_image(images, masks, decisions, max_pairs=limit, nrow=8 if limit <= 64 else 16)


def _save_png(image, path: Path) -> None:
    from bench.files import atomic_path

    if image is not None:
        with atomic_path(path, suffix=".png") as tmp:
            image.save(tmp)


def _data_uri(image) -> str:
    """A PIL image as a ``data:image/png;base64`` URI."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _thumbnails(pairs: PairSet, decisions: list[str] | None) -> list[str]:
    """Each pair's overlay at :data:`THUMBNAIL` pixels, as data URIs."""
    from PIL import Image

    from methods.gallery import overlays

    tiles = overlays(pairs.images, pairs.masks, decisions)
    mode = "nearest" if tiles.shape[-1] <= THUMBNAIL else "area"
    tiles = F.interpolate(tiles, size=(THUMBNAIL, THUMBNAIL), mode=mode)
    arrays = (tiles.permute(0, 2, 3, 1).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return [_data_uri(Image.fromarray(a)) for a in arrays]


def _dice_histogram(dice: list[float], real_dice: float | None, eta: float | None) -> str | None:
    """A PNG histogram of stage-IV Dice (data URI) with the keep / relabel thresholds and the real-data Dice."""
    if not dice:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 2.6), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.hist(dice, bins=[i / 40 for i in range(41)], color="#4c72b0", edgecolor="white")
    if eta is not None:
        ax.axvline(1 - eta, color="#28c828", linestyle="--", label=f"kept above {1 - eta:.3f}")
        ax.axvline(1 - 2 * eta, color="#ffa000", linestyle="--", label=f"relabelled above {1 - 2 * eta:.3f}")
    if real_dice is not None:
        ax.axvline(real_dice, color="black", label=f"real pairs: {real_dice:.3f}")
    ax.set_xlim(0, 1)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("Dice of the filter network's prediction with the generated mask")
    ax.set_ylabel("pairs")
    ax.legend(loc="upper left", fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def render_report(
    summary: dict[str, Any], rows: list[dict[str, Any]], shown: PairSet, folder: Path, eta: float | None = None
) -> str:
    """``report.html``: one self-contained page (images inlined as ``data:`` URIs, a few lines of script to sort
    the table), rendered from ``bench/templates/expansion.html.j2`` with every value escaped.

    Args:
        summary: the ``expansion.json`` contents.
        rows: :func:`pair_rows`.
        shown: every generated pair with the mask shown for it (:func:`_shown_pairs`).
        folder: the output folder, holding ``closest_pairs.png`` when memorisation was measured.
        eta: the filter's threshold η, drawn on the Dice histogram, or None.
    """
    import jinja2
    from PIL import Image

    filters = summary["verdict"]["filter"]["filters"]
    decisions = [r["decision"] for r in rows]
    thumbs = _thumbnails(shown, decisions if filters else None)
    galleries = []
    for decision in DECISIONS if filters else ("kept",):
        picked = [i for i, d in enumerate(decisions) if d == decision]
        title = decision if filters else "generated pairs (no filter: all written)"
        image = None
        if picked:
            subset = shown.subset([shown.ids[i] for i in picked])
            image = _gallery(subset, [decision] * len(picked) if filters else None, SHOWN_PER_DECISION)
        galleries.append(
            {
                "title": title,
                "count": len(picked),
                "shown": min(len(picked), SHOWN_PER_DECISION),
                "uri": None if image is None else _data_uri(image),
            }
        )
    closest = None
    if (folder / CLOSEST_PNG).is_file():
        with Image.open(folder / CLOSEST_PNG) as im:
            closest = _data_uri(im.convert("RGB"))
    info_keys = sorted({k for r in rows for k in r} - set(RECORD_COLUMNS))
    numeric = {
        k: all(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool) for r in rows if r.get(k) != "")
        for k in info_keys
    }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True, undefined=jinja2.StrictUndefined
    )
    return env.get_template(TEMPLATE).render(
        s=summary,
        rows=[{**dict.fromkeys(info_keys), **r, "thumb": t} for r, t in zip(rows, thumbs)],
        info_keys=info_keys,
        numeric=numeric,
        galleries=galleries,
        histogram=_dice_histogram([r["dice"] for r in rows if r["dice"] is not None], summary["real_data_dice"], eta),
        closest=closest,
        filters=filters,
        fmt=_fmt,
        colours={"kept": "#28c828", "relabelled": "#ffa000", "dropped": "#e61e1e"},
    )


def _fmt(value: Any, digits: int = 4) -> str:
    """A table cell: floats rounded, None as an en dash."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 1000 else f"{value:.{digits}f}".rstrip("0").rstrip(".") or "0"
    return str(value)


def _version(package: str) -> str | None:
    try:
        return md.version(package)
    except md.PackageNotFoundError:
        return None
