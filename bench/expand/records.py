"""``records.csv``: one row per generated pair, dropped ones included, in generation order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.files import write_csv
from methods.base import Expansion

RECORD_COLUMNS = (
    "id",
    "seed",
    "decision",
    "dice",
    "nn_distance",
    "nn_real",
    "nn_ssim",
    "near_copy",
    "pixel_ssim",
    "pixel_copy",
    "file",
)
"""records.csv's first columns: stage-IV Dice (1 − dice_loss; empty for a method without a filter), the nearest
real image's cosine distance, id and SSIM (empty when memorisation was not measured), whether it is closer than
real images are to each other, its highest SSIM to any real image and whether that exceeds every real pair's
(:mod:`bench.metrics.memorisation`), and the written image (empty for a dropped pair)."""


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
            "pixel_ssim": nn.get("pixel_ssim"),
            "pixel_copy": nn.get("copy"),
            "file": f"images/{r.id}.png" if r.id in written else None,
        }
        row.update({(f"info_{k}" if k in row else k): v for k, v in r.info.items()})
        rows.append(row)
    return rows


def write_records(rows: list[dict[str, Any]], path: Path) -> None:
    """Write :func:`pair_rows` as CSV: :data:`RECORD_COLUMNS`, then the info keys in sorted order; None as empty."""
    extra = sorted({k for r in rows for k in r} - set(RECORD_COLUMNS))
    header = [*RECORD_COLUMNS, *extra]
    write_csv(path, header, ([_cell(r.get(k)) for k in header] for r in rows))


def _cell(value: Any) -> Any:
    return "" if value is None else value
