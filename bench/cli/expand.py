"""``bench expand``: a folder of pairs expanded for use through :func:`bench.expand.expand`, then its counts,
verdict and where the pairs and the report went."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bench.cli.console import console, fail, log_level, os_error, progress_bar, refuse_early, say_recipe, warn
from bench.cli.options import (
    MASKS,
    Ablation,
    Dataset,
    Device,
    InceptionWeights,
    MaskSuffix,
    MaskThreshold,
    MethodOption,
    Preset,
    TestSets,
    Verbose,
    mask_reading,
)
from bench.cli.values import key_values, numbers

EPILOG = """Examples:

  bench expand --method diffuseexpand --ablation cf+cg+cs --dataset ../data/my_lungs --n 200 --out my_lungs_x/

  bench expand --method xlsor --dataset montgomery --n 100 --out montgomery_xlsor/ --preset cpu

  bench export nnunet --real ../data/my_lungs --synthetic my_lungs_x/ --dataset-id 501 --name Lungs --out nnUNet_raw/
"""


def expand(
    method: Annotated[str, typer.Option(help="Expansion method that generates pairs (see `bench methods`).")],
    dataset: Dataset,
    n: Annotated[int, typer.Option("--n", help="Pairs to generate (before the method's filter).")],
    out: Annotated[Path, typer.Option(help="Output folder: new, empty, or an earlier `bench expand` output.")],
    ablation: Ablation = None,
    preset: Preset = "cpu",
    seed: Annotated[int, typer.Option(help="Seed of every stage and of the generated pairs.")] = 0,
    option: MethodOption = None,
    cache: Annotated[
        Path, typer.Option(help="Root of cached method stages, shared with `bench run --out`: CACHE/<dataset>/_cache.")
    ] = Path("runs"),
    device: Device = None,
    force: Annotated[bool, typer.Option(help="Recompute cached stages and replace an earlier output.")] = False,
    inception_weights: InceptionWeights = None,
    mask_threshold: MaskThreshold = MASKS.threshold,
    mask_suffix: MaskSuffix = MASKS.suffix,
    evaluate: Annotated[
        str | None,
        typer.Option(
            help="Seeds, comma-separated: also measure the paired downstream Dice Δ vs origin on held-back splits "
            "(the method refitted per seed on 90 %, as `bench run` does)."
        ),
    ] = None,
    test_set: TestSets = None,
    verbose: Verbose = False,
) -> None:
    """Expand a folder of image-mask pairs into a new pair set to train your own segmenter on.

    Fits the method on ALL pairs of --dataset (production use: no test split is held back), generates N pairs,
    applies the method's filter (DiffuseExpand cf+cg+cs: stage IV) and writes OUT: images/ + masks/ (the pairs to
    use), records.csv (every generated pair and its decision), expansion.json, gallery.png, closest_pairs.png and
    report.html. Ends with a verdict; with --evaluate SEEDS it also measures whether such pairs help a segmenter
    (the paired Dice Δ vs origin on held-back splits) and recommends the expansion only when Δ is positive
    beyond the seed spread and nothing is memorised.

    Method stages are cached under CACHE (a stopped expansion resumes from them); the same request into the same
    OUT reuses it. Every value and the data are checked first; a user error ends in one line and exit code 2.
    """
    log_level(verbose)
    masks = mask_reading(mask_threshold, mask_suffix)
    method_options = key_values(option, "--option")
    seeds = numbers(evaluate, "--evaluate") if evaluate is not None else ()

    from bench.config import ConfigError
    from bench.expand.request import ExpandRequest, check_expand_request, run_request
    from bench.pairs import DatasetError

    req = ExpandRequest(
        method=method,
        dataset=dataset,
        n=n,
        out=out,
        ablation=ablation,
        preset=preset,
        seed=seed,
        method_options=method_options,
        device=device,
        force=force,
        cache=cache,
        inception_weights=inception_weights,
        masks=masks,
        evaluate=seeds,
        test_sets=tuple(test_set or ()),
    )
    resolved, checked = refuse_early(dataset, lambda: check_expand_request(req), masks)
    say_recipe(run_request(req))

    from bench import runner
    from bench.expand import expand as run_expansion

    progress = progress_bar()

    def planned(overview) -> None:  # progress bars only once every check passed
        say_plan(overview)
        progress.start()

    def done() -> None:
        if progress.live.is_started:
            progress.stop()

    try:
        outcome = run_expansion(
            req, progress=progress, on_warning=warn, on_plan=planned, checked=checked, resolved=resolved
        )
    except (ConfigError, DatasetError, runner.RunError, OSError) as e:
        done()
        fail(os_error(e) if isinstance(e, OSError) else str(e))
    finally:
        done()
    s, where = outcome.summary, outcome.out.resolve()
    if outcome.reused:
        console.print(
            f"exists: {where} holds this expansion already (same request, data and method version); reused, "
            "nothing recomputed (--force recomputes)",
            highlight=False,
        )
    c = s.get("counts", {})
    if c:
        console.print(
            f"counts: {c['generated']} generated: {c['kept']} kept, {c['relabelled']} relabelled, {c['dropped']} "
            f"dropped -> {c['written']} pairs written",
            highlight=False,
        )
    console.print("verdict:", highlight=False)
    for line in s.get("verdict", {}).get("lines", []):
        console.print(f"  {escape(line)}", highlight=False)
    if not outcome.reused:
        console.print(
            "timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in s["timings"].items()),
            highlight=False,
        )
    if c and not c["written"]:
        warn(f"no pair passed the method's filter: {where} holds the report, records and galleries only")
    console.print(f"written: {where} (images/ + masks/: {c.get('written', '?')} pairs; records.csv)", highlight=False)
    console.print(f"report: {where / 'report.html'}", highlight=False)
    console.print(f"summary: {where / 'expansion.json'}", highlight=False)
    real = escape(str(s.get("source", {}).get("path", dataset)))
    console.print(
        f"next: train your segmenter on {real} + {escape(str(out))}, or: bench export nnunet --real {real} "
        f"--synthetic {escape(str(out))} --dataset-id 501 --name NAME --out nnUNet_raw/",
        highlight=False,
    )


def say_plan(o) -> None:
    """The lines `bench expand` prints before the first progress bar."""
    data = "synthetic phantom, not patient data" if o.synthetic_data else o.source
    then = ", then the method's filter keeps, relabels or drops each" if o.filters else " (no filter: all are written)"
    lines = [
        f"[bold]{o.method}[/] ({escape(o.ablation)}) expanding [bold]{escape(o.dataset)}[/] for use: fitted on all "
        "pairs, no test split held back",
        f"  data    {escape(str(o.path.resolve()))} ({escape(data)}): {o.pairs} pairs at "
        f"{o.image_size}×{o.image_size}",
        f"  plan    preset {o.preset}, seed {o.seed}; generate {o.n} pairs{then}",
        f"  device  {o.device}, {o.threads} thread(s)",
        f"  cache   {escape(str(o.cache))}: {o.cached_stages} finished stage(s)"
        + (", recomputed (--force)" if o.force else " (reused where they match)"),
        f"  out     {escape(str(o.out.resolve()))}"
        + (" (replaces the earlier expansion: --force)" if o.replaces else ""),
    ]
    if o.evaluate:
        lines.append(
            f"  then    evaluate: per seed {','.join(map(str, o.evaluate))}, refit on a 90 % split and train unet "
            "with and without the generated pairs (origin), for the paired Δ on the held-back 10 %"
        )
    console.print("\n".join(lines), highlight=False)
