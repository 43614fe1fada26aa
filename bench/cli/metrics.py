"""``bench metrics``: FID, KID, IS and the memorisation check of any generated image folder
(:func:`bench.metrics.generation.generation_metrics`)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bench.cli.console import console, fail, progress_bar
from bench.cli.options import DefaultDevice, InceptionWeights

EPILOG = """Examples:

  bench metrics --real ../data/montgomery_lung --generated runs/montgomery/_cache/diffuseexpand/samples/<hash>

  bench metrics --real train_images/ --generated my_generator_out/ --json > metrics.json
"""


def metrics(
    real: Annotated[Path, typer.Option(help="Real images: a folder of images or a pair set (its images/ is used).")],
    generated: Annotated[Path, typer.Option(help="Generated images: a folder of images or a pair set.")],
    image_size: Annotated[int, typer.Option(help="Both sets are read at this size (square).")] = 256,
    inception_weights: InceptionWeights = None,
    closest_png: Annotated[Path | None, typer.Option(help="Save the closest generated/real pairs here.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
    device: DefaultDevice = None,
) -> None:
    """FID, KID, IS and the memorisation check of any generated image folder against real images.

    The paper's U-Net FID/IS need a network trained on the real pairs; they are computed by `bench run` only.
    """
    import json

    import torch

    from bench.metrics.generation import Images, generation_metrics, read_images
    from bench.metrics.inception import WeightsError, load_inception

    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        sets = [read_images(p, image_size) for p in (real, generated)]
        inception = load_inception(None if inception_weights is None else str(inception_weights), dev)
    except (WeightsError, ValueError) as e:
        fail(str(e))
    with nullcontext() if json_out else progress_bar() as progress:
        figures, unavailable = generation_metrics(
            Images(*sets[0]),
            Images(*sets[1]),
            inception=inception,
            unet=None,
            unet_reason="needs a U-Net trained on the real pairs: computed by `bench run`",
            device=dev,
            progress=progress,
            pairs_png=closest_png,
        )
    if json_out:
        print(json.dumps({**figures, "unavailable": unavailable}, indent=2))
        return
    table = Table("metric", "value", title=f"{generated} vs {real}")
    for key in ("fid", "kid", "is"):
        value, std = figures[key], figures.get(f"{key}_std")
        cell = "n/a" if value is None else f"{value:.4f}" + ("" if std is None else f" ± {std:.4f}")
        table.add_row(key.upper(), cell)
    memo = figures["memorisation"]
    if memo is not None:
        table.add_row("memorised share", f"{memo['share_closer_than_real']:.3f}")
        table.add_row("copies (pixel SSIM above every real pair)", f"{memo['share_copies']:.3f}")
        table.add_row(
            "nearest distance min / median", f"{memo['nn_distance_min']:.4f} / {memo['nn_distance_median']:.4f}"
        )
        table.add_row("neighbour SSIM max / median", f"{memo['nn_ssim_max']:.3f} / {memo['nn_ssim_median']:.3f}")
    console.print(table)
    for key, why in unavailable.items():
        console.print(f"n/a {key}: {escape(why)}", highlight=False)
    console.print(f"Inception weights: {inception.weights.describe()}", highlight=False)
    if closest_png is not None and memo is not None:
        console.print(f"written: {closest_png.resolve()}", highlight=False)
