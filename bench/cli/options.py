"""The options several verbs share, declared once: each is a type alias carrying its flag and help text, so that
``run``, ``expand``, ``sweep``, ``metrics`` and ``speed`` spell them the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.cli.console import fail
from bench.masks import (
    SUFFIX_FLAG,
    SUGGESTED_THRESHOLD,
    THRESHOLD_FLAG,
    THRESHOLD_RANGE,
    MaskReading,
    MaskReadingError,
)

Method = Annotated[str, typer.Option(help="Expansion method (see `bench methods`).")]
Ablation = Annotated[str | None, typer.Option(help="Method variant; default: the method's first.")]
Dataset = Annotated[str, typer.Option(help="Dataset card name or a folder with images/ and masks/.")]
Preset = Annotated[str, typer.Option(help="smoke | cpu | gpu | paper.")]
MethodOption = Annotated[list[str] | None, typer.Option(help="Method option KEY=VALUE (repeatable, each KEY once).")]
TrainOption = Annotated[
    list[str] | None,
    typer.Option(
        help="Training option KEY=VALUE (repeatable, each KEY once), e.g. steps=320, synthetic_share=0.5, "
        "mixing=alternate, mixing=pretrain (bench sweep: the leaderboard's only, its mixing options, for every "
        "generating entry)."
    ),
]
Device = Annotated[str | None, typer.Option(help="cpu | cuda | cuda:1 ...; default: cuda if available.")]
DefaultDevice = Annotated[str | None, typer.Option(help="Default: cuda if available.")]
Wandb = Annotated[str, typer.Option(help="auto (online if logged in, else offline) | online | offline.")]
NoWandb = Annotated[bool, typer.Option("--no-wandb", help="Do not log to W&B.")]
Force = Annotated[bool, typer.Option(help="Recompute finished runs and cached stages.")]
InceptionWeights = Annotated[
    Path | None, typer.Option(help="FID Inception weights file; default $BENCH_FID_WEIGHTS, hub cache, bundled.")
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")]
TestSets = Annotated[
    list[str] | None,
    typer.Option(
        "--test-set",
        help="External test set (card name or folder; repeatable): every downstream model is also scored on all its "
        "pairs, which no stage sees. Default: the dataset card's own (Montgomery: Shenzhen and back); none: no set.",
    ),
]
TrainPairs = Annotated[
    int | None,
    typer.Option(help="Exact number of real training pairs (nested across counts per seed; excludes --train-ratio)."),
]
MaskThreshold = Annotated[
    int | None,
    typer.Option(
        THRESHOLD_FLAG,
        help=f"Read every mask as binary, foreground where value > T ({THRESHOLD_RANGE[0]}..{THRESHOLD_RANGE[1]}; "
        f"{SUGGESTED_THRESHOLD} for lossy JPEG masks). Default: masks as stored.",
    ),
]
MaskSuffix = Annotated[
    str,
    typer.Option(
        SUFFIX_FLAG, help="What mask file names add to their image's (_segmentation: a_segmentation.png is a.jpg's)."
    ),
]
MASKS = MaskReading()  # the defaults of --mask-threshold and --mask-suffix: masks as stored, same names


def mask_reading(threshold: int | None, suffix: str) -> MaskReading:
    """``--mask-threshold`` and ``--mask-suffix`` checked, before any work; a bad value ends the command."""
    try:
        return MaskReading(threshold, suffix)
    except MaskReadingError as e:
        fail(str(e))
