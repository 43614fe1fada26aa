"""The options several verbs share, declared once: each is a type alias carrying its flag and help text, so that
``run``, ``expand``, ``sweep``, ``metrics`` and ``speed`` spell them the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Method = Annotated[str, typer.Option(help="Expansion method (see `bench methods`).")]
Ablation = Annotated[str | None, typer.Option(help="Method variant; default: the method's first.")]
Dataset = Annotated[str, typer.Option(help="Dataset card name or a folder with images/ and masks/.")]
Preset = Annotated[str, typer.Option(help="smoke | cpu | gpu | paper.")]
MethodOption = Annotated[list[str] | None, typer.Option(help="Method option KEY=VALUE (repeatable).")]
Device = Annotated[str | None, typer.Option(help="cpu | cuda | cuda:1 ...; default: cuda if available.")]
DefaultDevice = Annotated[str | None, typer.Option(help="Default: cuda if available.")]
Wandb = Annotated[str, typer.Option(help="auto (online if logged in, else offline) | online | offline.")]
NoWandb = Annotated[bool, typer.Option("--no-wandb", help="Do not log to W&B.")]
Force = Annotated[bool, typer.Option(help="Recompute finished runs and cached stages.")]
InceptionWeights = Annotated[
    Path | None, typer.Option(help="FID Inception weights file; default $BENCH_FID_WEIGHTS, hub cache, bundled.")
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")]
