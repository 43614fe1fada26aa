"""``report.html``: one self-contained page of an expansion, rendered from ``bench/templates/expansion.html.j2``."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from bench.expand.folder import CLOSEST_PNG
from bench.expand.pictures import data_uri, gallery, thumbnails
from bench.expand.records import RECORD_COLUMNS
from bench.pairs import PairSet
from methods.base import DECISIONS

TEMPLATE = "expansion.html.j2"
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
SHOWN_PER_DECISION = 64  # pairs in each of the report's galleries


def dice_histogram(dice: list[float], real_dice: float | None, eta: float | None) -> str | None:
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
        shown: every generated pair with the mask shown for it (:func:`.pictures.shown_pairs`).
        folder: the output folder, holding ``closest_pairs.png`` when memorisation was measured.
        eta: the filter's threshold η, drawn on the Dice histogram, or None.
    """
    import jinja2
    from PIL import Image

    filters = summary["verdict"]["filter"]["filters"]
    decisions = [r["decision"] for r in rows]
    thumbs = thumbnails(shown, decisions if filters else None)
    galleries = []
    for decision in DECISIONS if filters else ("kept",):
        picked = [i for i, d in enumerate(decisions) if d == decision]
        title = decision if filters else "generated pairs (no filter: all written)"
        image = None
        if picked:
            subset = shown.subset([shown.ids[i] for i in picked])
            image = gallery(subset, [decision] * len(picked) if filters else None, SHOWN_PER_DECISION)
        galleries.append(
            {
                "title": title,
                "count": len(picked),
                "shown": min(len(picked), SHOWN_PER_DECISION),
                "uri": None if image is None else data_uri(image),
            }
        )
    closest = None
    if (folder / CLOSEST_PNG).is_file():
        with Image.open(folder / CLOSEST_PNG) as im:
            closest = data_uri(im.convert("RGB"))
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
        histogram=dice_histogram([r["dice"] for r in rows if r["dice"] is not None], summary["real_data_dice"], eta),
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
