"""``bench sweep``: every run a paper artifact needs (:mod:`bench.sweep`), locally or through submitit, then the
artifact itself; the runs to do and their estimated time are listed first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bench.cli.console import console, fail, log_level, os_error, progress_bar, warn
from bench.cli.options import Dataset, Device, Force, NoWandb, Preset, TestSets, TrainOption, Verbose, Wandb
from bench.cli.values import key_values, names, numbers
from bench.paper import FEWSHOT_RATIOS, FEWSHOT_SEEDS, LEADERBOARD, LEADERBOARD_AUGMENTS, LEADERBOARD_PAIRS, SEEDS

EPILOG = """Examples:

  bench sweep table1 --dataset ../data/montgomery_lung --seeds 0,1,2 --dry-run

  bench sweep fewshot --dataset ../data/montgomery_lung --methods diffuseexpand,xlsor --no-wandb

  bench sweep fewshot --dataset ../data/montgomery_lung --ratios 0.1,0.3,0.9 --augment none,xlsor

  bench sweep fewshot --dataset montgomery --pairs 5,9,14,28,56 --test-set shenzhen

  bench sweep leaderboard --dataset montgomery --pretrained diffuseexpand=runs/pretrain/shenzhen \\
      --pretrained joint=runs/pretrain/shenzhen-joint --dry-run

  bench sweep leaderboard --dataset montgomery --methods genseg --train-option mixing=alternate

  bench sweep table2 --preset paper --launcher submitit --launcher-option partition=gpu \\
      --launcher-option gpus_per_node=1 --launcher-option timeout_min=720
"""


def sweep(
    name: Annotated[str, typer.Argument(help="table1 | table2 | fewshot | tau-vs-s | leaderboard.")],
    dataset: Dataset = "demo",
    preset: Preset = "cpu",
    seeds: Annotated[
        str | None,
        typer.Option(
            help=f"Seeds, comma-separated; default: fewshot, leaderboard {','.join(map(str, FEWSHOT_SEEDS))}, else "
            f"{','.join(map(str, SEEDS))} (the paper's 3)."
        ),
    ] = None,
    models: Annotated[
        str | None, typer.Option(help="Downstream models; default: the artifact's (table2: all three, else unet).")
    ] = None,
    methods: Annotated[
        str | None,
        typer.Option(
            help="table2 / fewshot / leaderboard: generating methods to include; default: all of the artifact's "
            "(leaderboard: also METHOD+pretrained, e.g. joint+pretrained, and METHOD:VARIANT, e.g. genseg:end2end)."
        ),
    ] = None,
    ratios: Annotated[
        str | None, typer.Option(help=f"fewshot: train ratios; default {','.join(f'{r:g}' for r in FEWSHOT_RATIOS)}.")
    ] = None,
    pairs: Annotated[
        str | None,
        typer.Option(
            help="fewshot: exact counts of training pairs instead of ratios, e.g. 5,9,14,28,56; leaderboard: its "
            f"counts of labelled pairs, default {','.join(map(str, LEADERBOARD_PAIRS))}."
        ),
    ] = None,
    test_set: TestSets = None,
    augment: Annotated[
        str | None,
        typer.Option(
            help="fewshot: downstream augmentations, comma-separated, one curve each (origin trains under the same "
            f"one): none | randaugment | cutmix | xlsor | nnunet; default none (leaderboard: "
            f"{','.join(LEADERBOARD_AUGMENTS)}); an empty value or item is refused."
        ),
    ] = None,
    pretrained: Annotated[
        list[str] | None,
        typer.Option(
            help="leaderboard: METHOD=DIR (repeatable), the bench pretrain folder that METHOD+pretrained fine-tunes."
        ),
    ] = None,
    train_option: TrainOption = None,
    out: Annotated[Path, typer.Option(help="Output root for run folders (shared with bench run).")] = Path("runs"),
    wandb: Wandb = "auto",
    no_wandb: NoWandb = False,
    device: Device = None,
    force: Force = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the runs and their estimated time; run nothing.")
    ] = (False),
    launcher: Annotated[
        str,
        typer.Option(help="local (one run after another in this process) | submitit (Slurm, or its local executor)."),
    ] = "local",
    launcher_option: Annotated[
        list[str] | None,
        typer.Option(
            help="submitit KEY=VALUE (repeatable, each KEY once): cluster=slurm|local, partition, timeout_min, "
            "gpus_per_node, ..."
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Run every run a paper artifact needs, skipping finished ones, then build the artifact into OUT/reports/NAME.

    Runs share cached method stages; a sweep that was stopped, started again, resumes where it stopped. Exit code 1
    when some runs failed (they are listed; the artifact shows them as missing).
    """
    import dataclasses

    from bench import leaderboard_sweep, runner, tracking
    from bench import sweep as sw
    from bench.config import ConfigError
    from bench.pairs import DatasetError
    from methods import unknown_choice

    log_level(verbose)
    if name not in (*sw.SWEEPS, LEADERBOARD):  # the leaderboard's runs are bench.leaderboard_sweep's
        fail(unknown_choice("sweep", name, (*sw.SWEEPS, LEADERBOARD)))
    if launcher not in sw.LAUNCHERS:
        fail(f"unknown --launcher '{launcher}'; available: {', '.join(sw.LAUNCHERS)}")
    if launcher_option and launcher != "submitit":
        fail("--launcher-option applies to --launcher submitit")
    launcher_options = key_values(launcher_option, "--launcher-option")
    augments = names(augment, "--augment") if augment is not None else None
    base = runner.Request(
        dataset=dataset,
        models=names(models, "--models") if models is not None else (),
        seeds=numbers(seeds, "--seeds") if seeds is not None else (),
        preset=preset,
        out=out,
        wandb="disabled" if no_wandb else wandb,
        force=force,
        device=device,
        test_sets=tuple(test_set or ()),
        train_options=key_values(train_option, "--train-option"),
    )
    try:
        chosen = names(methods, "--methods") if methods is not None else None
        chosen_ratios = numbers(ratios, "--ratios", float) if ratios is not None else None
        counts = numbers(pairs, "--pairs") if pairs is not None else None
        if name == LEADERBOARD:
            if ratios is not None:
                raise ConfigError(f"--ratios applies to the fewshot sweep, not {name} (it runs counts of pairs)")
            starts = leaderboard_sweep.parse_pretrained(pretrained)
            plan = leaderboard_sweep.build_sweep(base, chosen, counts, augments, starts)
        elif pretrained:
            raise ConfigError(f"--pretrained applies to the leaderboard sweep, not {name}")
        else:
            plan = sw.build_sweep(name, base, chosen, chosen_ratios, augments, counts)
        group = sw.new_group(plan)  # set before the checks, whose resolved requests the runs are handed
        plan.runs = [dataclasses.replace(r, request=dataclasses.replace(r.request, group=group)) for r in plan.runs]
        sw.check_sweep(plan)
        statuses = sw.status(plan)
    except (ConfigError, DatasetError) as e:
        fail(str(e))
    except OSError as e:  # the data set's folder or the output folder could not be read
        fail(os_error(e))
    console.print(sweep_table(plan, statuses))
    for m in plan.missing:
        warn(f"method '{m}' is not registered here; its cells of {name} will show as missing")
    if dry_run:
        return
    mode = tracking.resolve_mode(base.wandb)
    total = len(plan.runs)

    def started(i: int, r) -> None:
        console.rule(f"[{i + 1}/{total}] {escape(r.label)}, seed {r.request.seeds[0]}")

    try:
        if launcher == "local":
            with progress_bar() as progress:
                outcome = sw.run_local(plan, progress, on_start=started, on_warning=warn)
        else:
            outcome = sw.run_submitit(plan, out / "_submitit", launcher_options)
    except (ConfigError, DatasetError, runner.RunError) as e:
        fail(str(e))
    except OSError as e:
        fail(os_error(e))
    console.print(f"{len(outcome.paths)} results written or reused under {out.resolve()}", highlight=False)
    if outcome.paths:
        sweep_report(name, out, mode, group)
    for r, why in outcome.failed:
        console.print(f"[red]failed:[/] {escape(r.label)}, seed {r.request.seeds[0]}: {escape(why)}", highlight=False)
    if outcome.failed:
        raise typer.Exit(1)


def sweep_report(name: str, out: Path, mode: str, group: str) -> None:
    """Build the sweep's artifact into OUT/reports/NAME (and W&B); one that cannot be built yet is a warning."""
    from bench import artifacts, tracking

    try:
        artifact = artifacts.build_artifact(name, out, out / "reports" / name)
    except (FileNotFoundError, ValueError) as e:
        warn(f"{name} not built: {e}")
        return
    for note in artifact.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    tracking.log_artifact(artifact, mode, group, out / "reports" / name)
    for f in artifact.files:
        console.print(f"written: {f.resolve()}", highlight=False)


def sweep_table(plan, statuses) -> Table:
    """The runs of a sweep with what is done and how long the rest should take."""
    table = Table("#", "run", "seed", "models", "status", "estimate", title=f"sweep {plan.name}: {len(statuses)} runs")
    for i, s in enumerate(statuses):
        req = s.run.request
        seconds = "–" if s.done else ("?" if s.estimate is None else duration(s.estimate))
        state = "done" if s.done else (f"to score on {', '.join(s.score)}" if s.score else "to run")
        table.add_row(str(i + 1), s.run.label, str(req.seeds[0]), ",".join(req.models), state, seconds)
    todo = [s for s in statuses if not s.done]
    scoring = sum(bool(s.score) for s in todo)
    known = [s.estimate for s in todo if s.estimate is not None]
    if not known:
        estimate = "no estimate (none of them ran under --out before)" if todo else "nothing to run"
    else:
        unknown = len(todo) - len(known)
        estimate = f"about {duration(sum(known))}" + (
            f" for {len(known)} of them ({unknown} never ran before)" if unknown else ""
        )
        estimate += " (from past runs under --out; cached stages make runs shorter)"
    scored = f" ({scoring} of them to score on an external set, from kept weights)" if scoring else ""
    table.caption = f"{len(statuses) - len(todo)} done, {len(todo)} to run{scored}; {estimate}"
    return table


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
