"""Gallery (paper Fig. 3): each method's stored ``gallery.png`` side by side, one per (dataset, preset, variant).

The gallery shown is the lowest seed's, preferring the preset's settings, the UNet run and training on
real+synthetic pairs. Writes ``gallery.md`` (which run each panel comes from) and ``gallery.png``.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path

from bench.artifacts.cells import Run, order_key, settings_keys
from bench.artifacts.plots import panel_grid, save_png
from bench.artifacts.render import Artifact, markdown, md_table, write
from bench.paper import METHOD_ORDER
from bench.results import GALLERY_PNG
from methods import method_options


def build(runs: list[Run], out: Path) -> Artifact:
    """Write the gallery's Markdown and the assembled figure into ``out``."""
    groups: dict[tuple[str, str, str, str], list[Run]] = defaultdict(list)
    for r in runs:
        if r.train_on != "real":  # runs on real pairs only have no generated pairs to show
            groups[r.dataset, r.preset, r.method, r.ablation].append(r)
    if not groups:
        raise ValueError(f"gallery needs runs of methods that generate pairs; none among the {len(runs)} results")
    order = list(METHOD_ORDER)
    picked, missing = [], []
    for key in sorted(groups, key=lambda k: (k[0], k[1], order_key(order, k[2]), k[3])):
        have = [r for r in groups[key] if (r.folder / GALLERY_PNG).is_file()]
        if not have:
            missing.append(f"{key[2]} ({key[3]}), {key[0]}, {key[1]}")
            continue
        picked.append(
            min(
                have,
                key=lambda r: (
                    r.seed,
                    _off_preset(r),
                    r.model != "unet",
                    r.train_on != "real+synthetic",
                    -(r.ratio if r.ratio is not None else 0.0),  # a run of a count of pairs after ratio runs
                    str(r.folder),
                ),
            )
        )
    if not picked:
        raise ValueError(f"gallery: no run folder holds {GALLERY_PNG} (runs of: {'; '.join(missing)})")
    notes = [f"no {GALLERY_PNG} in any run folder of: {'; '.join(missing)}"] if missing else []
    presets = len({r.preset for r in picked}) > 1
    panels = []
    rows = []
    for r in picked:
        ds = f"{r.dataset} ({r.preset})" if presets else r.dataset
        title = f"{r.method} ({r.ablation}), {ds}, seed {r.seed}"
        panels.append((title, r.folder / GALLERY_PNG))
        rows.append([r.dataset, r.preset, r.method, r.ablation, r.seed, r.model, str(r.shown / GALLERY_PNG)])
    png = out / GALLERY_PNG
    figure(panels, png)
    head = ["dataset", "preset", "method", "ablation", "seed", "model", "source"]
    legend = [
        "Generated pairs with their masks overlaid (paper Fig. 3), one stored gallery per method: the lowest seed's, "
        "preferring the preset's settings, the UNet run and training on real+synthetic pairs. Colours: the legend "
        "under each grid (for a filtering method, the stage-IV decision of each pair).",
    ]
    md_rows = [[*map(str, row[:6]), f"`{row[6]}`"] for row in rows]
    md = markdown(
        "Gallery of generated pairs", [*md_table(head, md_rows), "", f"![gallery]({png.name})"], legend, notes
    )
    files = write(out, {"gallery.md": md})
    return Artifact("gallery", [*files, png], {"gallery": (head, rows)}, [png], notes)


def _off_preset(r: Run) -> int:
    """How many of the run's settings differ from its preset's values (a sweep's explicit ``tau=1`` does not)."""
    if not r.settings:
        return 0
    try:
        options, presets = method_options(r.method)
    except KeyError:  # a stored run of a method not registered here: every setting counts as a change
        return len(settings_keys(r.settings))
    values = {f.name: f.default for f in dataclasses.fields(options)} | presets.get(r.preset, {})
    return sum(k not in values or r.option(k) != values[k] for k in settings_keys(r.settings))


def figure(panels: list[tuple[str, Path]], path: Path) -> None:
    """One panel per (title, PNG file): the stored gallery, axes off."""
    import numpy as np
    from PIL import Image

    fig, axes = panel_grid(len(panels), 6.0, 6.5)
    for ax, (title, source) in zip(axes.flat, panels):
        with Image.open(source) as im:
            ax.imshow(np.asarray(im.convert("RGB")))
        ax.set_axis_off()
        ax.set_title(title, fontsize="medium")
    save_png(fig, path, dpi=110)  # 660 px a panel: every 64 x 64 tile of an 8 x 8 gallery stays readable
