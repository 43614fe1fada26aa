"""``bench speed``: two measurements behind one verb. Without --compare, seconds per step and FLOPs per pair of
a method's stages (:mod:`bench.cli.speed_timings`); with --compare and --run, sampling configurations compared on
a finished DiffuseExpand run's networks (:mod:`bench.cli.speed_compare`). Each refuses the other's options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.cli.console import fail
from bench.cli.options import DefaultDevice, Method

EPILOG = """Examples:

  bench speed --preset paper --flops-only        # FLOPs per generated pair, any preset, on a CPU

  bench speed --compare released,preset,every2,order2-15 \\
      --run runs/demo/diffuseexpand__cf+cg+cs__unet__none__real+synthetic/ratio_0.9/seed_0

  bench speed --compare released,solver_order=2+steps=10+guidance_every=2 --run RUN_FOLDER --n 64 --device cuda
"""


def speed(
    method: Method = "diffuseexpand",
    preset: Annotated[
        str | None, typer.Option(help="smoke | cpu | gpu | paper (default cpu; not with --compare).")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Timed repetitions per measurement (default 3).")] = None,
    device: DefaultDevice = None,
    flops_only: Annotated[
        bool, typer.Option("--flops-only", help="Only count FLOPs (meta device: any preset in seconds, on a CPU).")
    ] = False,
    compare: Annotated[
        str | None,
        typer.Option(
            help="Sampling configurations to compare on the networks of --run, comma-separated: released, preset "
            "(the run's own), orderN-S, everyK, untilU, imageonly, maskonly, or KEY=VALUE+KEY=VALUE of "
            "SamplingConfig fields (e.g. solver_order=2+steps=10); variants change the run's own configuration."
        ),
    ] = None,
    run_dir: Annotated[
        Path | None,
        typer.Option(
            "--run",
            help="A finished `bench run --method diffuseexpand --ablation cf+cg+cs` run folder (with results.json); "
            "its cached networks are loaded, never trained.",
        ),
    ] = None,
    n: Annotated[
        int | None, typer.Option("--n", help="Pairs per configuration with --compare, the same seeds for each (32).")
    ] = None,
    json_out: Annotated[
        bool,
        typer.Option("--json", help="With --compare: print the rows as one JSON list (∞ as null), no table."),
    ] = False,
    fid: Annotated[
        bool,
        typer.Option(
            "--fid",
            help="With --compare: also Inception FID (all / kept pairs), U-Net FID and the memorised share of each "
            "configuration against the run's real training split.",
        ),
    ] = False,
) -> None:
    """Print seconds per training step and per generated pair for each stage of a method, and the FLOPs and
    network calls a generated pair costs under several sampling configurations.

    With --compare and --run: sample the same pairs under each configuration on a finished DiffuseExpand run's
    networks, filter them with its stage IV, and print what a generated and a kept pair cost (GFLOP per kept pair
    = GFLOP per pair / pass rate), against the authors' released sampler.
    """
    if compare is not None or run_dir is not None:
        from bench.cli.speed_compare import compare_sampling

        if compare is None or run_dir is None:
            fail("--compare and --run go together: --compare CONFIGS --run RUN_FOLDER")
        for flag, value in (("--preset", preset), ("--steps", steps), ("--flops-only", flops_only)):
            if value not in (None, False):
                fail(f"{flag}: not with --compare, which uses the run's own preset and networks")
        compare_sampling(method, compare, run_dir, n, device, json_out, fid)
        return

    from bench.cli.speed_timings import stage_timings

    if n is not None:
        fail("--n: only with --compare (pairs per configuration)")
    for flag, value in (("--json", json_out), ("--fid", fid)):
        if value:
            fail(f"{flag}: only with --compare")
    stage_timings(method, preset or "cpu", steps, device, flops_only)
