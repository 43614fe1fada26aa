"""Weights & Biases mirror of finished runs.

W&B is fed from the finished ``results.json`` dict, never from live objects, so the local store and the W&B
run cannot disagree. ``auto`` mode logs online when an API key is configured (``WANDB_API_KEY`` or a netrc
entry from ``wandb login``) and offline otherwise; offline run files land in ``<run dir>/wandb/`` and can be
uploaded later with ``wandb sync <run dir>/wandb/offline-run-*``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import netrc
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.files import writing
from bench.results import GALLERY_PNG
from bench.stats import PairedDelta

logger = logging.getLogger(__name__)

MODES = ("auto", "online", "offline", "disabled")
PROJECT = "diffuseexpand-bench"


def resolve_mode(mode: str) -> str:
    """Turn ``auto`` into ``online`` or ``offline``; a ``WANDB_MODE`` environment variable wins over ``auto``."""
    if mode not in MODES:
        raise ValueError(f"unknown W&B mode {mode!r}; choose from {', '.join(MODES)}")
    if mode != "auto":
        return mode
    env = os.environ.get("WANDB_MODE")
    if env in ("online", "offline", "disabled"):
        return env
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    try:
        rc = netrc.netrc()
        host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("://")[-1]
        if rc.authenticators(host):
            return "online"
    except (FileNotFoundError, netrc.NetrcParseError):
        pass
    return "offline"


def _names_full_disk(fn: Callable[..., dict]) -> Callable[..., dict]:
    """W&B writes its run files under ``run_dir/wandb``: a full disk or a read-only folder there becomes one
    StorageError naming that folder, not W&B's own traceback."""

    @functools.wraps(fn)
    def logged(*args: Any, **kwargs: Any) -> Any:
        run_dir = inspect.signature(fn).bind(*args, **kwargs).arguments["run_dir"]
        with writing(Path(run_dir) / "wandb", in_writer=False):
            return fn(*args, **kwargs)

    return logged


GENERATION_KEYS = ("fid", "fid_kept", "kid", "kid_kept", "is", "fid_unet", "fid_unet_kept", "is_unet")
MEMORISATION_KEYS = ("nn_distance_min", "nn_distance_median", "share_closer_than_real", "nn_ssim_max", "share_copies")


def generation_summary(metrics: dict[str, Any]) -> dict[str, float]:
    """The generation metrics a run computed, flat (``gen/fid``, ``memorisation/share_closer_than_real``...);
    metrics that were not computed are left out of the W&B summary rather than logged as a number."""
    out = {f"gen/{k}": metrics[k] for k in GENERATION_KEYS if isinstance(metrics.get(k), (int, float))}
    memo = metrics.get("memorisation") or {}
    out.update({f"memorisation/{k}": memo[k] for k in MEMORISATION_KEYS if isinstance(memo.get(k), (int, float))})
    return out


def external_summary(metrics: dict[str, Any]) -> dict[str, float]:
    """The Dice of each external test set a run was scored on (``external/<set>/dice``, ``.../dice_std``)."""
    return {
        f"external/{name}/{k}": figures[k]
        for name, figures in (metrics.get("external") or {}).items()
        for k in ("dice", "dice_std")
    }


def delta_summary(dice: float, origin_dice: float, setting: PairedDelta | None = None) -> dict[str, float]:
    """The summary keys of a method run's paired gain: its Dice minus its origin run's, and that Dice; with
    ``setting``, the paired Δ over every seed of the run's setting so far (``setting/delta_low``, ``.../delta_p``:
    :meth:`bench.stats.PairedDelta.record`), its interval, p and detectable Δ left out below two seeds."""
    out = {"delta_vs_origin": dice - origin_dice, "origin/dice": origin_dice}
    if setting is not None:
        out.update({f"setting/{k}": v for k, v in setting.record().items() if v is not None})
    return out


@_names_full_disk
def log_run(
    results: dict[str, Any],
    run_dir: Path,
    mode: str,
    group: str,
    history: dict[str, list[float]],
    origin_dice: float | None = None,
    setting: PairedDelta | None = None,
) -> dict:
    """Mirror one finished run to W&B: config (the run's identity flat, for the UI's group-by), per-epoch history,
    summary, the gallery of generated pairs as an image and each test image's Dice as a table.

    Args:
        results: the finished results dict (see ``bench.results.Results``).
        run_dir: the run's folder; W&B files go to ``run_dir/wandb``; its ``gallery.png`` is logged if present.
        mode: ``online``, ``offline`` or ``disabled`` (already resolved).
        group: groups the runs of one ``bench run`` invocation in the W&B UI.
        history: per-epoch series to log as steps (e.g. ``{"train/loss": [...]}``).
        origin_dice: the paired origin run's Dice, when it exists (``delta_vs_origin`` in the summary).
        setting: the paired Δ over the seeds of the run's setting that have their origin (:func:`delta_summary`).

    Returns:
        ``{"mode", "dir", "url", "id"}`` describing where the run went (url is None offline).
    """
    if mode == "disabled":
        return {"mode": "disabled", "dir": None, "url": None}
    import wandb

    ident = results["run"]
    tags = [f"{k}:{ident[k]}" for k in ("method", "ablation", "dataset", "model", "augment", "train_on", "preset")]
    pairs = ident.get("train_pairs")
    tags += [f"seed:{ident['seed']}", f"pairs:{pairs}" if pairs is not None else f"ratio:{ident['train_ratio']:g}"]
    if ident.get("settings"):
        tags.append(f"settings:{ident['settings']}"[:64])  # W&B's tag length limit
    if results["dataset"].get("synthetic"):
        tags.append("synthetic-data")
    row = " ".join(filter(None, [ident["method"], ident["ablation"], ident.get("settings")]))  # the paper's row
    config = {**{k: v for k, v in ident.items() if k != "key"}, "row": row, "config": results["config"]}
    config["key"] = ident["key"]
    run = wandb.init(
        project=PROJECT,
        dir=str(run_dir),
        mode=mode,
        group=group,
        job_type=f"{ident['method']}__{ident['ablation']}",
        name="/".join(
            [ident["dataset"], f"{ident['method']}__{ident['ablation']}", ident.get("settings") or "preset"]
            + [ident["model"], f"seed{ident['seed']}"]
        ),
        config=config,
        tags=tags,
        settings=wandb.Settings(console="off", silent=True, x_disable_stats=True),
    )
    try:
        n = max((len(v) for v in history.values()), default=0)
        for step in range(n):
            run.log({k: v[step] for k, v in history.items() if step < len(v)}, step=step)
        guidance = results["method_stats"].get("guidance")
        if guidance:  # per solver step: how much of ε the guidance term changes (methods.diffuseexpand.guidance)
            rows = [[p, i, t, r] for p, g in guidance.items() for i, (t, r) in enumerate(zip(g["t"], g["ratio"]))]
            run.log({"method/guidance": wandb.Table(columns=["phase", "step", "t", "ratio"], data=rows)})
        per_image = results["metrics"].get("dice_per_image") or {}
        if per_image:  # worst first: the images a reader wants to look at
            rows = sorted(([name, dice] for name, dice in per_image.items()), key=lambda r: r[1])
            run.log({"test/dice_per_image": wandb.Table(columns=["image", "dice"], data=rows)})
        gallery = Path(run_dir) / GALLERY_PNG
        if gallery.is_file():
            run.log({"gallery": wandb.Image(str(gallery), caption="generated pairs, mask outlined")})
        if origin_dice is not None:
            run.summary.update(delta_summary(results["metrics"]["dice"], origin_dice, setting))
        run.summary.update(
            {
                "dice": results["metrics"]["dice"],
                "dice_std": results["metrics"]["dice_std"],
                **generation_summary(results["metrics"]),
                **external_summary(results["metrics"]),
                **{f"counts/{k}": v for k, v in results["counts"].items()},
                **{f"time/{k}": v for k, v in results["timings"].items()},
                **{f"method/{k}": v for k, v in results["method_stats"].items() if isinstance(v, (int, float))},
            }
        )
        url, ident_id = (run.url if mode == "online" else None), run.id
    finally:
        run.finish()
    return {"mode": mode, "dir": str(Path(run_dir) / "wandb"), "url": url, "id": ident_id}


@_names_full_disk
def log_delta(
    results: dict[str, Any], run_dir: Path, origin_dice: float, setting: PairedDelta | None = None
) -> int:
    """Add the paired Δ vs origin (and ``setting``'s, :func:`delta_summary`) to the summary of a run already logged
    to W&B (:func:`update_summary`); 1 if it was, 0 for a run that was not logged or stored before runs kept their
    id."""
    return update_summary(results, run_dir, lambda: delta_summary(results["metrics"]["dice"], origin_dice, setting))


def update_summary(results: dict[str, Any], run_dir: Path, summary: Callable[[], dict[str, float]]) -> int:
    """Add ``summary()`` to the W&B summary of a run already logged (reopened by its id, in the mode it was logged
    in): a Δ whose origin came later, an external test set scored later; 1 if it was, else 0 (nothing is made)."""
    where = results.get("tracking") or {}
    if where.get("mode") not in ("online", "offline") or not where.get("id"):
        return 0
    import wandb

    run = wandb.init(
        project=PROJECT,
        id=where["id"],
        resume="allow",
        dir=str(run_dir),
        mode=where["mode"],
        settings=wandb.Settings(console="off", silent=True, x_disable_stats=True),
    )
    try:
        run.summary.update(summary())
    finally:
        run.finish()
    return 1


@_names_full_disk
def log_artifact(artifact: Any, mode: str, group: str, run_dir: Path) -> dict:
    """Log a built paper artifact (``bench.artifacts.Artifact``) as one ``report`` run of ``group``: each table as a
    ``wandb.Table``, each figure as a ``wandb.Image``, so a sweep's runs and its tables sit together in W&B.

    Returns:
        ``{"mode", "dir", "url"}`` as :func:`log_run`.
    """
    if mode == "disabled":
        return {"mode": "disabled", "dir": None, "url": None}
    import wandb

    Path(run_dir).mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        project=PROJECT,
        dir=str(run_dir),
        mode=mode,
        group=group,
        job_type="report",
        name=f"report/{artifact.name}",
        settings=wandb.Settings(console="off", silent=True, x_disable_stats=True),
    )
    try:
        logged: dict[str, Any] = {}
        for name, (columns, rows) in artifact.tables.items():
            logged[f"{artifact.name}/{name}"] = wandb.Table(columns=list(columns), data=_table_cells(rows))
        for png in artifact.figures:  # a figure named as a table (fewshot.png beside fewshot) must not replace it
            key = f"{artifact.name}/{Path(png).stem}"
            logged[f"{key}_figure" if key in logged else key] = wandb.Image(str(png))
        run.log(logged)
        url = run.url if mode == "online" else None
    finally:
        run.finish()
    return {"mode": mode, "dir": str(Path(run_dir) / "wandb"), "url": url}


def _table_cells(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows for ``wandb.Table``, which wants one type per column: a column of numbers (and gaps) stays numeric,
    any other column is text."""
    if not rows:
        return []
    numeric = [
        all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in column)
        for column in zip(*rows)
    ]
    return [[v if numeric[i] or v is None else str(v) for i, v in enumerate(row)] for row in rows]
