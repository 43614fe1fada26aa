"""``results.md`` and ``results.csv``: the rows as a Markdown table with its notes, and as CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from bench import external_scores
from bench.files import write_text
from bench.report.cells import HEAD, row_cells
from bench.report.notes import table_notes
from bench.report.rows import collect
from bench.stats import RECORD


def to_markdown(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of the rows with its legend and notes."""
    external = external_scores.names(rows)
    head = [*HEAD, *external_scores.head(external)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row_cells(r, external)) + " |" for r in rows]
    return "\n".join([*lines, "", *table_notes(rows)]) + "\n"


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        fields = [k for k in rows[0] if k != "delta"]
        w = csv.DictWriter(buf, fieldnames=[*fields, *(k for k in RECORD if k not in fields)])
        w.writeheader()
        for r in rows:
            flat = {k: " ".join(map(str, r[k] or [])) for k in ("steps", "origin_steps", "seeds")}
            flat.update(dice_by_seed=json.dumps(r["dice_by_seed"]), choices=json.dumps(r["choices"], sort_keys=True))
            flat.update(r["delta"].record() if r["delta"] else {})
            flat["external"] = json.dumps(
                {k: {**f, "delta": f["delta"].record() if f["delta"] else None} for k, f in r["external"].items()}
            )
            w.writerow({**{k: v for k, v in r.items() if k != "delta"}, **flat})
    return buf.getvalue()


def build(root: Path, out: Path) -> list[Path]:
    """Read every results.json under ``root``; write ``out/results.md`` and ``out/results.csv``."""
    return write(collect(root), out)


def write(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    """Write ``rows`` (:func:`collect`) as ``out/results.md`` and ``out/results.csv``."""
    md, cs = out / "results.md", out / "results.csv"
    write_text(md, to_markdown(rows))
    write_text(cs, to_csv(rows))
    return [md, cs]
