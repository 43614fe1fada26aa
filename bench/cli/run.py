"""``bench run``: one benchmark invocation through :func:`bench.runner.run`, with origin as the paired baseline,
then the run table and where the results went."""

from __future__ import annotations

from contextlib import nullcontext
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
    Force,
    InceptionWeights,
    MaskSuffix,
    MaskThreshold,
    Method,
    MethodOption,
    NoWandb,
    Preset,
    TestSets,
    TrainOption,
    TrainPairs,
    Verbose,
    Wandb,
    mask_reading,
)
from bench.cli.values import key_values, names, number, numbers
from bench.interrupts import main_process
from bench.splits import FULL_RATIO

EPILOG = """Examples:

  bench run --method diffuseexpand --ablation cf+cg+cs                       # embedded demo data, cpu preset

  bench run --method origin --dataset ../data/montgomery_lung --models unet,attnunet,transunet --seeds 0,1,2

  bench run --method diffuseexpand --ablation cf+cg --tau 1/3 --train-on synthetic --preset paper
"""


def run(
    method: Method = "diffuseexpand",
    ablation: Ablation = None,
    dataset: Dataset = "demo",
    models: Annotated[str, typer.Option(help="Downstream models, comma-separated: unet,attnunet,transunet.")] = "unet",
    seeds: Annotated[str, typer.Option(help="Seeds, comma-separated; results are mean ± std over them.")] = "0",
    train_ratio: Annotated[
        float | None, typer.Option(help=f"Fraction of all pairs used for training (≤ {FULL_RATIO:g}, the default).")
    ] = None,
    train_pairs: TrainPairs = None,
    test_set: TestSets = None,
    augment: Annotated[
        str,
        typer.Option(
            help="none | randaugment (paper's +) | cutmix (paper's *) | xlsor (the xlsor method's transforms) | "
            "nnunet (nnU-Net v2's training augmentation)."
        ),
    ] = "none",
    train_on: Annotated[str, typer.Option(help="real+synthetic (Table 1) | synthetic (Table 2) | real.")] = (
        "real+synthetic"
    ),
    preset: Preset = "cpu",
    out: Annotated[Path, typer.Option(help="Output root for run folders.")] = Path("runs"),
    n_synthetic: Annotated[
        int | None, typer.Option(help="Pairs to generate (before filtering); preset default.")
    ] = None,
    tau: Annotated[str | None, typer.Option(help="Guidance temperature τ, e.g. 1, 1/2, 1/3.")] = None,
    guidance_scale: Annotated[float | None, typer.Option(help="Guidance gradient scale s.")] = None,
    image_size: Annotated[int | None, typer.Option(help="Override the preset's image size.")] = None,
    option: MethodOption = None,
    train_option: TrainOption = None,
    wandb: Wandb = "auto",
    no_wandb: NoWandb = False,
    force: Force = False,
    device: Device = None,
    allow_empty_test: Annotated[
        bool,
        typer.Option("--allow-empty-test", help="Run even if a test split has no foreground (results.json notes it)."),
    ] = False,
    inception_weights: InceptionWeights = None,
    mask_threshold: MaskThreshold = MASKS.threshold,
    mask_suffix: MaskSuffix = MASKS.suffix,
    no_baseline: Annotated[
        bool, typer.Option("--no-baseline", help="Do not also run origin (no expansion) for the paired Δ.")
    ] = False,
    verbose: Verbose = False,
) -> None:
    """Fit a method, expand, train and evaluate downstream models; write one results.json per run.

    A method that generates pairs is compared with `origin` (no expansion) on the same seeds, splits and training,
    run here too (or reused) unless --no-baseline, so the table says whether expansion helped.

    Every value is checked, and the data set too, before anything is trained; a user error ends in one line
    and exit code 2.
    """
    log_level(verbose)
    masks = mask_reading(mask_threshold, mask_suffix)
    method_options = key_values(option, "--option")
    for key, flag, value in (("tau", "--tau", tau), ("guidance_scale", "--guidance-scale", guidance_scale)):
        if value is not None and key in method_options:
            fail(f"{flag} and --option {key} both given; give one")
    if tau is not None:
        method_options["tau"] = number(tau)
    if guidance_scale is not None:
        method_options["guidance_scale"] = guidance_scale
    model_names, seed_list = names(models, "--models"), numbers(seeds, "--seeds")
    train_options = key_values(train_option, "--train-option")

    from bench.config import ConfigError
    from bench.pairs import DatasetError
    from bench.runner.request import EXCLUSIVE, Request, checked_request

    if train_pairs is not None and train_ratio is not None:
        fail(EXCLUSIVE)

    req = Request(
        method=method,
        ablation=ablation,
        dataset=dataset,
        models=model_names,
        seeds=seed_list,
        train_ratio=FULL_RATIO if train_ratio is None else train_ratio,
        train_pairs=train_pairs,
        test_sets=tuple(test_set or ()),
        augment=augment,
        train_on=train_on,
        preset=preset,
        out=out,
        n_synthetic=n_synthetic,
        image_size=image_size,
        method_options=method_options,
        train_options=train_options,
        wandb="disabled" if no_wandb else wandb,
        force=force,
        device=device,
        allow_empty_test=allow_empty_test,
        inception_weights=inception_weights,
        masks=masks,
    )
    resolved, checked = refuse_early(dataset, lambda: checked_request(req), masks)

    from bench import report, runner
    from bench.cli.tables import print_results

    main = main_process()  # under a distributed launcher only rank 0 reports
    if main:
        say_recipe(req)

    def say_origin(_: Request) -> None:
        console.print(
            f"baseline: origin (no expansion) with the same seeds, splits and training, for the paired Δ; "
            f"{'reused where finished' if not force else 'recomputed'} (--no-baseline skips it)",
            highlight=False,
        )

    try:
        with progress_bar() if main else nullcontext() as progress:
            if no_baseline:
                outcome = runner.run(
                    req, progress=progress, on_warning=warn, on_plan=say_plan, checked=checked, resolved=resolved
                )
            else:
                outcome = runner.run_with_origin(
                    req,
                    progress=progress,
                    on_warning=warn,
                    on_plan=say_plan,
                    checked=checked,
                    on_origin=say_origin,
                    resolved=resolved,
                )
    except (ConfigError, DatasetError, runner.RunError) as e:
        fail(str(e))
    except OSError as e:  # disk full, read-only or missing file, met after planning
        fail(os_error(e))
    if not main:
        return
    print_results(report.make_rows(outcome.results), console)
    for p in outcome.paths:
        tag = " (reused)" if p in outcome.reused else ""
        console.print(f"results: {p.resolve()}{tag}", highlight=False)
    urls = [r["tracking"].get("url") for r in outcome.results if r.get("tracking")]
    if outcome.wandb_mode == "disabled":
        console.print("W&B: disabled")
    elif outcome.wandb_mode == "offline":
        console.print(
            f"W&B: offline runs under each run folder's wandb/ (upload: wandb sync {out}/**/wandb/offline-run-*)"
        )
    else:
        console.print("W&B: " + ", ".join(u for u in urls if u))


def say_plan(o) -> None:
    """The lines printed before the first progress bar: what will run, on what, and what is reused."""
    data = "synthetic phantom, not patient data" if o.synthetic_data else o.source
    runs = f"{o.runs} run(s)" + (f", {o.finished} already finished (reused)" if o.finished else "")
    generated = f"generate {o.n_synthetic} pairs, " if o.n_synthetic else ""
    lines = [
        f"[bold]{o.method}[/] ({escape(o.ablation)}) on [bold]{escape(o.dataset)}[/]",
        f"  data    {escape(str(o.path.resolve()))} ({escape(data)}): {o.pairs} pairs at {o.image_size}×{o.image_size}"
        f" -> {o.train} train / {o.test} test per seed",
        f"  plan    preset {o.preset}; {generated}train {','.join(o.models)} on {o.train_on}; seeds "
        f"{','.join(map(str, o.seeds))}; {runs}",
        f"  device  {o.device}, {o.threads} thread(s)" + (f", {o.processes} processes" if o.processes > 1 else ""),
        f"  cache   {escape(str(o.cache))}: {o.cached_stages} finished stage(s) from earlier runs (reused where "
        "they match)",
    ]
    if o.test_sets:
        sets = ", ".join(f"{escape(name)} ({n} pairs)" for name, n in o.test_sets)
        lines.insert(3, f"  also    scored on external test set(s) {sets}, seen by no stage")
    console.print("\n".join(lines), highlight=False)
