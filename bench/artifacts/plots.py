"""What the figures share: a grid of panels and an atomic PNG write.

Drawing uses ``matplotlib.figure.Figure`` directly (no pyplot state, no display), imported only when a figure is
drawn; a PNG is written under a temporary name and renamed, so a killed build never leaves half a file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.files import atomic_path


def panel_grid(n: int, width: float, height: float) -> tuple[Any, Any]:
    """A figure of ``n`` panels of ``width`` x ``height`` inches, at most three a row; the unused ones hidden."""
    from matplotlib.figure import Figure

    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def save_png(fig: Any, path: Path, dpi: int = 120) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
