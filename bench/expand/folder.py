"""The output folder of ``bench expand``: its file names, and what an existing folder at ``--out`` holds.

``out`` must be missing, empty, or a previous expansion (recognised by its ``expansion.json``): a non-empty folder
that is not an expansion is never written into.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.config import ConfigError
from bench.runner import layout

SCHEMA_VERSION = 1
SUMMARY_JSON = "expansion.json"
RECORDS_CSV = "records.csv"
REPORT_HTML = "report.html"
CLOSEST_PNG = layout.CLOSEST_PNG  # the name a bench run gives the same picture


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
