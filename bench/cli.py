"""The ``bench`` command line: a thin Typer layer over the Python API (runner, report, data, prepare)."""

from __future__ import annotations

import logging
import os
import sys
from contextlib import nullcontext
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from bench.config import ConfigError
from bench.data import DatasetError
from bench.files import StorageError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="DiffuseExpand bench: expand small 2D medical segmentation datasets and measure whether it helps.",
)
datasets_app = typer.Typer(no_args_is_help=True, help="List, check and prepare datasets.")
app.add_typer(datasets_app, name="datasets")
export_app = typer.Typer(no_args_is_help=True, help="Write real + generated pairs in another tool's layout.")
app.add_typer(export_app, name="export")
console = Console(soft_wrap=True)


def _fail(msg: str) -> None:
    console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False)
    raise typer.Exit(2)


def _warn(msg: str) -> None:
    console.print(f"[yellow]warning:[/] {escape(msg)}", highlight=False)


def _os_error(e: OSError) -> str:
    """One line for a failed file operation: the cause, then the file."""
    if isinstance(e, StorageError):
        return e.strerror
    cause = e.strerror or str(e)
    return f"{cause}: {e.filename}" if e.filename else cause


def _csv(value: str) -> tuple[str, ...]:
    """The items of a comma-separated option value."""
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _numbers(value: str, flag: str, cast: type[int] | type[float] = int) -> tuple:
    """The items of a comma-separated option value of numbers; one that is not a number is an error naming
    ``flag``, the option it came from."""
    try:
        return tuple(cast(v) for v in _csv(value))
    except ValueError:
        kind = "whole numbers" if cast is int else "numbers"
        _fail(f"{flag}: cannot parse {value!r} as a comma-separated list of {kind}")


def _number(text: str) -> Any:
    """YAML scalar, plus fractions such as ``1/3`` (the paper's τ values)."""
    if "/" in text:
        try:
            return float(Fraction(text))
        except (ValueError, ZeroDivisionError):
            pass
    return yaml.safe_load(text)


def _pairs(items: list[str] | None, flag: str) -> dict[str, Any]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"{flag} expects KEY=VALUE, got {item!r}")
        out[key.strip().replace("-", "_")] = _number(value.strip())
    return out


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


RUN_EPILOG = """Examples:

  bench run --method diffuseexpand --ablation cf+cg+cs                       # embedded demo data, cpu preset

  bench run --method origin --dataset ../data/montgomery_lung --models unet,attnunet,transunet --seeds 0,1,2

  bench run --method diffuseexpand --ablation cf+cg --tau 1/3 --train-on synthetic --preset paper
"""


@app.command(epilog=RUN_EPILOG)
def run(
    method: Annotated[str, typer.Option(help="Expansion method (see `bench methods`).")] = "diffuseexpand",
    ablation: Annotated[str | None, typer.Option(help="Method variant; default: the method's first.")] = None,
    dataset: Annotated[str, typer.Option(help="Dataset card name or a folder with images/ and masks/.")] = "demo",
    models: Annotated[str, typer.Option(help="Downstream models, comma-separated: unet,attnunet,transunet.")] = "unet",
    seeds: Annotated[str, typer.Option(help="Seeds, comma-separated; results are mean ± std over them.")] = "0",
    train_ratio: Annotated[float, typer.Option(help="Fraction of all pairs used for training (≤ 0.9).")] = 0.9,
    augment: Annotated[str, typer.Option(help="none | randaugment (paper's +) | cutmix (paper's *).")] = "none",
    train_on: Annotated[str, typer.Option(help="real+synthetic (Table 1) | synthetic (Table 2) | real.")] = (
        "real+synthetic"
    ),
    preset: Annotated[str, typer.Option(help="smoke | cpu | paper.")] = "cpu",
    out: Annotated[Path, typer.Option(help="Output root for run folders.")] = Path("runs"),
    n_synthetic: Annotated[
        int | None, typer.Option(help="Pairs to generate (before filtering); preset default.")
    ] = None,
    tau: Annotated[str | None, typer.Option(help="Guidance temperature τ, e.g. 1, 1/2, 1/3.")] = None,
    guidance_scale: Annotated[float | None, typer.Option(help="Guidance gradient scale s.")] = None,
    image_size: Annotated[int | None, typer.Option(help="Override the preset's image size.")] = None,
    option: Annotated[list[str] | None, typer.Option(help="Method option KEY=VALUE (repeatable).")] = None,
    train_option: Annotated[list[str] | None, typer.Option(help="Training option KEY=VALUE (repeatable).")] = None,
    wandb: Annotated[str, typer.Option(help="auto (online if logged in, else offline) | online | offline.")] = "auto",
    no_wandb: Annotated[bool, typer.Option("--no-wandb", help="Do not log to W&B.")] = False,
    force: Annotated[bool, typer.Option(help="Recompute finished runs and cached stages.")] = False,
    device: Annotated[str | None, typer.Option(help="cpu | cuda | cuda:1 ...; default: cuda if available.")] = None,
    allow_empty_test: Annotated[
        bool,
        typer.Option("--allow-empty-test", help="Run even if a test split has no foreground (results.json notes it)."),
    ] = False,
    inception_weights: Annotated[
        Path | None, typer.Option(help="FID Inception weights file; default $BENCH_FID_WEIGHTS, hub cache, bundled.")
    ] = None,
    no_baseline: Annotated[
        bool, typer.Option("--no-baseline", help="Do not also run origin (no expansion) for the paired Δ.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
) -> None:
    """Fit a method, expand, train and evaluate downstream models; write one results.json per run.

    A method that generates pairs is compared with `origin` (no expansion) on the same seeds, splits and training,
    run here too (or reused) unless --no-baseline, so the table says whether expansion helped.

    Every value is checked, and the data set too, before anything is trained; a user error ends in one line
    and exit code 2.
    """
    from bench import report, runner

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    method_options = _pairs(option, "--option")
    if tau is not None:
        method_options["tau"] = _number(tau)
    if guidance_scale is not None:
        method_options["guidance_scale"] = guidance_scale
    req = runner.Request(
        method=method,
        ablation=ablation,
        dataset=dataset,
        models=_csv(models),
        seeds=_numbers(seeds, "--seeds"),
        train_ratio=train_ratio,
        augment=augment,
        train_on=train_on,
        preset=preset,
        out=out,
        n_synthetic=n_synthetic,
        image_size=image_size,
        method_options=method_options,
        train_options=_pairs(train_option, "--train-option"),
        wandb="disabled" if no_wandb else wandb,
        force=force,
        device=device,
        allow_empty_test=allow_empty_test,
        inception_weights=inception_weights,
    )
    main = int(os.environ.get("RANK", "0")) == 0  # under a distributed launcher only rank 0 reports
    baseline = None if no_baseline else runner.baseline_request(req)
    try:
        with _progress() if main else nullcontext() as progress:
            outcome = runner.run(req, progress=progress, on_warning=_warn, on_plan=_say_plan)
            if baseline is not None:
                console.print(
                    f"baseline: origin (no expansion) with the same seeds, splits and training, for the paired Δ; "
                    f"{'reused where finished' if not force else 'recomputed'} (--no-baseline skips it)",
                    highlight=False,
                )
                done = runner.run(baseline, progress=progress, on_warning=lambda _: None)
                outcome.results += done.results
                outcome.paths += done.paths
                outcome.reused += done.reused
    except (ConfigError, DatasetError, runner.RunError) as e:
        _fail(str(e))
    except OSError as e:  # disk full, read-only or missing file, met after planning
        _fail(_os_error(e))
    if not main:
        return
    parts, notes = _results_tables(report.make_rows(outcome.results))
    for part in parts:  # wrapped at words to the terminal's width (80 in a log file), as the tables are
        console.print(part, highlight=False, soft_wrap=False)
    for note in notes:
        console.print(escape(note), highlight=False, style="dim", soft_wrap=False)
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


DICE_LEGEND = (
    "Dice: per test image, mean over seeds; Δ vs origin: paired by seed with origin (no expansion, same "
    "training); pairs: real / synthetic pairs trained on / test pairs"
)
GENERATED_LEGEND = (
    "FID, FID-U: generated vs real training images (Inception; the paper's U-Net); memorised: share closer to a "
    "training image than real images are to each other"
)
GENERATED_COLUMNS = {"FID": ("fid", 1), "FID-U": ("fid_unet", 1), "memorised": ("memorised", 3)}  # key, digits


def _results_tables(rows: list[dict[str, Any]]) -> tuple[list[Text | Table], list[str]]:
    """The finished runs as a heading and tables that fit an 80-column terminal or log file (Dice and Δ vs origin,
    then how the generated pairs of the runs that have them score), and the few lines to print under them: a short
    legend, then why cells are marked (†) or n/a. What all rows share goes into the heading, a single seed shows
    plain numbers, and a run's name is never split: its column is as wide as the longest name, and settings wrap
    below it at their commas. `bench report` writes every column and the full legend."""
    from bench.report import _fmt_delta, _mean_std, marks, missing

    shared = {
        "dataset": "{}",
        "preset": "preset {}",
        "model": "{}",
        "augment": "augment {}",
        "train_ratio": "ratio {:g}",
    }
    constant = [k for k in shared if len({r[k] for r in rows}) == 1]
    counts = {r["n"] for r in rows}
    title = [shared[k].format(rows[0][k]) for k in constant] if rows else []
    if rows and rows[0]["synthetic_data"]:
        title[0:1] = [f"{rows[0]['dataset']} (synthetic phantom, not patient data)"] if "dataset" in constant else []
    title.append("1 seed (no spread)" if counts == {1} else f"± std over {'/'.join(map(str, sorted(counts)))} seeds")

    def number(r: dict[str, Any], key: str, digits: int) -> str:
        mean = r.get(f"{key}_mean")
        if mean is None:
            return "n/a"
        n = r.get(f"{key}_runs", r["n"])
        return f"{mean:.{digits}f}" if counts == {1} else _mean_std(mean, r[f"{key}_std"], n, digits)

    def name(r: dict[str, Any]) -> str:
        return f"{r['method']} {r['ablation']}"

    identity = {k: (lambda r, k=k: shared[k].format(r[k]).split(" ")[-1]) for k in shared if k not in constant}
    dice = {
        "pairs": lambda r: f"{r['real_train']}/{r['synthetic_used']:.0f}/{r['test']}",
        "Dice": lambda r: number({**r, "dice_runs": r["n"]}, "dice", 4) + (" †" if r.get("notes") else ""),
        "Δ vs origin": _fmt_delta,
    }
    generated = {c: (lambda r, k=k, d=d: number(r, k, d)) for c, (k, d) in GENERATED_COLUMNS.items()}
    if any(r["pass_rate"] is not None for r in rows):
        generated["pass"] = lambda r: "—" if r["pass_rate"] is None else f"{r['pass_rate']:.2f}"
    expanded = [r for r in rows if r["method"] != "origin"]  # origin generates no pairs
    parts: list[Text | Table] = [Text(" · ".join(title), style="bold")]
    for caption, shown, values in ((None, rows, dice), ("generated pairs", expanded, generated)):
        if not shown:
            continue
        table = Table(title=caption, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
        table.add_column("run", width=max(len(name(r)) for r in shown))
        for column in identity:
            table.add_column(column, no_wrap=True)
        for column in values:
            table.add_column(column)
        for r in shown:
            settings = f"\n[{', '.join(r['settings'].split(','))}]" if r["settings"] else ""
            cells = [name(r) + settings, *(cell(r) for cell in [*identity.values(), *values.values()])]
            table.add_row(*map(escape, cells), style=None if r["method"] == "origin" else "bold")
        parts.append(table)
    legend = [DICE_LEGEND]
    if expanded:
        legend.append(GENERATED_LEGEND + ("; pass: share kept by the method's filter" if "pass" in generated else ""))
    legend.append("every column and the full legend: bench report --runs OUT (results.md)")
    keys = tuple(k for k, _ in GENERATED_COLUMNS.values())
    return parts, [*legend, *marks(rows), *missing(expanded, keys)]


def _say_plan(o) -> None:
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
    console.print("\n".join(lines), highlight=False)


EXPAND_EPILOG = """Examples:

  bench expand --method diffuseexpand --ablation cf+cg+cs --dataset ../data/my_lungs --n 200 --out my_lungs_x/

  bench expand --method xlsor --dataset montgomery --n 100 --out montgomery_xlsor/ --preset cpu

  bench export nnunet --real ../data/my_lungs --synthetic my_lungs_x/ --dataset-id 501 --name Lungs --out nnUNet_raw/
"""


@app.command(epilog=EXPAND_EPILOG)
def expand(
    method: Annotated[str, typer.Option(help="Expansion method that generates pairs (see `bench methods`).")],
    dataset: Annotated[str, typer.Option(help="Dataset card name or a folder with images/ and masks/.")],
    n: Annotated[int, typer.Option("--n", help="Pairs to generate (before the method's filter).")],
    out: Annotated[Path, typer.Option(help="Output folder: new, empty, or an earlier `bench expand` output.")],
    ablation: Annotated[str | None, typer.Option(help="Method variant; default: the method's first.")] = None,
    preset: Annotated[str, typer.Option(help="smoke | cpu | paper.")] = "cpu",
    seed: Annotated[int, typer.Option(help="Seed of every stage and of the generated pairs.")] = 0,
    option: Annotated[list[str] | None, typer.Option(help="Method option KEY=VALUE (repeatable).")] = None,
    cache: Annotated[
        Path, typer.Option(help="Root of cached method stages, shared with `bench run --out`: CACHE/<dataset>/_cache.")
    ] = Path("runs"),
    device: Annotated[str | None, typer.Option(help="cpu | cuda | cuda:1 ...; default: cuda if available.")] = None,
    force: Annotated[bool, typer.Option(help="Recompute cached stages and replace an earlier output.")] = False,
    inception_weights: Annotated[
        Path | None, typer.Option(help="FID Inception weights file; default $BENCH_FID_WEIGHTS, hub cache, bundled.")
    ] = None,
    evaluate: Annotated[
        str | None,
        typer.Option(
            help="Seeds, comma-separated: also measure the paired downstream Dice Δ vs origin on held-back splits "
            "(the method refitted per seed on 90 %, as `bench run` does)."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
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
    from bench import runner
    from bench.expand import ExpandRequest
    from bench.expand import expand as run_expansion

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    req = ExpandRequest(
        method=method,
        dataset=dataset,
        n=n,
        out=out,
        ablation=ablation,
        preset=preset,
        seed=seed,
        method_options=_pairs(option, "--option"),
        device=device,
        force=force,
        cache=cache,
        inception_weights=inception_weights,
        evaluate=_numbers(evaluate, "--evaluate") if evaluate else (),
    )
    progress = _progress()

    def planned(overview) -> None:  # progress bars only once every check passed
        _say_expand_plan(overview)
        progress.start()

    def done() -> None:
        if progress.live.is_started:
            progress.stop()

    try:
        outcome = run_expansion(req, progress=progress, on_warning=_warn, on_plan=planned)
    except (ConfigError, DatasetError, runner.RunError, OSError) as e:
        done()
        _fail(_os_error(e) if isinstance(e, OSError) else str(e))
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
        _warn(f"no pair passed the method's filter: {where} holds the report, records and galleries only")
    console.print(f"written: {where} (images/ + masks/: {c.get('written', '?')} pairs; records.csv)", highlight=False)
    console.print(f"report: {where / 'report.html'}", highlight=False)
    console.print(f"summary: {where / 'expansion.json'}", highlight=False)
    real = escape(str(s.get("source", {}).get("path", dataset)))
    console.print(
        f"next: train your segmenter on {real} + {escape(str(out))}, or: bench export nnunet --real {real} "
        f"--synthetic {escape(str(out))} --dataset-id 501 --name NAME --out nnUNet_raw/",
        highlight=False,
    )


def _say_expand_plan(o) -> None:
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


@app.command()
def methods() -> None:
    """List expansion methods, their versions and ablation variants."""
    from methods import METHODS

    table = Table("method", "version", "ablations (first = default)", "description")
    for name, entry in METHODS.items():
        table.add_row(name, entry.version, ", ".join(entry.variants), entry.description)
    console.print(table)


REPORT_EPILOG = """Examples:

  bench report --runs runs/ --out reports/                  # every run, one row per setting

  bench report table1 --runs runs/ --out reports/table1     # the paper's Table 1 (Markdown, CSV, LaTeX)

  bench report fewshot --runs runs/ --out reports/fewshot   # Dice vs train ratio (PNG, CSV, Markdown)
"""

REPORT_KINDS = ("results", "table1", "table2", "fewshot", "tau-vs-s", "gallery")


@app.command(epilog=REPORT_EPILOG)
def report(
    kind: Annotated[
        str, typer.Argument(help="results (all runs) | table1 | table2 | fewshot | tau-vs-s | gallery.")
    ] = "results",
    runs: Annotated[Path, typer.Option(help="Folder searched for results.json files.")] = Path("runs"),
    out: Annotated[Path, typer.Option(help="Where the tables and figures are written.")] = Path("reports"),
    wandb: Annotated[
        str, typer.Option(help="Also log the tables and figures to W&B: disabled | auto | online | offline.")
    ] = ("disabled"),
    group: Annotated[str, typer.Option(help="W&B group of the report run (e.g. a sweep's group).")] = "reports",
) -> None:
    """Build tables and figures from stored results.json files: the flat results table or one of the paper's
    artifacts. Missing runs show as "–" with a note, never as numbers."""
    from bench import tracking

    if kind not in REPORT_KINDS:
        hint = f"; to read runs from {kind}, use --runs {kind}" if Path(kind).is_dir() else ""
        _fail(f"unknown report '{kind}'; available: {', '.join(REPORT_KINDS)}{hint}")
    if wandb not in tracking.MODES:
        _fail(f"unknown --wandb mode '{wandb}'; available: {', '.join(tracking.MODES)}")
    files = _build_report(kind, runs, out, tracking.resolve_mode(wandb), group)
    if files and files[0].suffix == ".md":
        console.print(files[0].read_text(), highlight=False, markup=False)
    for f in files:
        console.print(f"written: {f.resolve()}", highlight=False)


def _build_report(kind: str, runs: Path, out: Path, mode: str, group: str) -> list[Path]:
    """Write a report (``results`` or a paper artifact), log an artifact to W&B unless ``mode`` is disabled."""
    from bench import artifacts, tracking
    from bench import report as rep

    try:
        if kind == "results":
            return rep.build(runs, out)
        artifact = artifacts.build_artifact(kind, runs, out)
    except OSError as e:  # no results.json under --runs, one that cannot be read, a full or read-only --out
        _fail(_os_error(e))
    except ValueError as e:
        _fail(str(e))
    for note in artifact.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    where = tracking.log_artifact(artifact, mode, group, out)
    if where["mode"] != "disabled":
        console.print(f"W&B report run ({where['mode']}): {where['url'] or where['dir']}", highlight=False)
    return artifact.files


SWEEP_EPILOG = """Examples:

  bench sweep table1 --dataset ../data/montgomery_lung --seeds 0,1,2 --dry-run

  bench sweep fewshot --dataset ../data/montgomery_lung --methods diffuseexpand,xlsor --no-wandb

  bench sweep table2 --preset paper --launcher submitit --launcher-option partition=gpu \\
      --launcher-option gpus_per_node=1 --launcher-option timeout_min=720
"""


@app.command(epilog=SWEEP_EPILOG)
def sweep(
    name: Annotated[str, typer.Argument(help="table1 | table2 | fewshot | tau-vs-s.")],
    dataset: Annotated[str, typer.Option(help="Dataset card name or a folder with images/ and masks/.")] = "demo",
    preset: Annotated[str, typer.Option(help="smoke | cpu | paper.")] = "cpu",
    seeds: Annotated[
        str, typer.Option(help="Seeds, comma-separated (the paper repeats every run 3 times).")
    ] = "0,1,2",
    models: Annotated[
        str | None, typer.Option(help="Downstream models; default: the artifact's (table2: all three, else unet).")
    ] = None,
    methods: Annotated[
        str | None, typer.Option(help="table2 / fewshot: generating methods to include; default: all of them.")
    ] = None,
    ratios: Annotated[str | None, typer.Option(help="fewshot: train ratios; default 0.1,0.3,0.5,0.7,0.9.")] = None,
    out: Annotated[Path, typer.Option(help="Output root for run folders (shared with bench run).")] = Path("runs"),
    wandb: Annotated[str, typer.Option(help="auto (online if logged in, else offline) | online | offline.")] = "auto",
    no_wandb: Annotated[bool, typer.Option("--no-wandb", help="Do not log to W&B.")] = False,
    device: Annotated[str | None, typer.Option(help="cpu | cuda | cuda:1 ...; default: cuda if available.")] = None,
    force: Annotated[bool, typer.Option(help="Recompute finished runs and cached stages.")] = False,
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
            help="submitit KEY=VALUE (repeatable): cluster=slurm|local, partition, timeout_min, gpus_per_node, ..."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
) -> None:
    """Run every run a paper artifact needs, skipping finished ones, then build the artifact into OUT/reports/NAME.

    Runs share cached method stages; a sweep that was stopped, started again, resumes where it stopped. Exit code 1
    when some runs failed (they are listed; the artifact shows them as missing).
    """
    import dataclasses

    from bench import runner, tracking
    from bench import sweep as sw

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if launcher not in sw.LAUNCHERS:
        _fail(f"unknown --launcher '{launcher}'; available: {', '.join(sw.LAUNCHERS)}")
    if launcher_option and launcher != "submitit":
        _fail("--launcher-option applies to --launcher submitit")
    base = runner.Request(
        dataset=dataset,
        models=_csv(models) if models else (),
        seeds=_numbers(seeds, "--seeds"),
        preset=preset,
        out=out,
        wandb="disabled" if no_wandb else wandb,
        force=force,
        device=device,
    )
    try:
        chosen = _csv(methods) if methods else None
        plan = sw.build_sweep(name, base, chosen, _numbers(ratios, "--ratios", float) if ratios else None)
        sw.check_sweep(plan)
        statuses = sw.status(plan)
    except (ConfigError, DatasetError) as e:
        _fail(str(e))
    console.print(_sweep_table(plan, statuses))
    for m in plan.missing:
        _warn(f"method '{m}' is not registered here; its cells of {name} will show as missing")
    if dry_run:
        return
    mode = tracking.resolve_mode(base.wandb)
    group = sw.new_group(plan)
    plan.runs = [dataclasses.replace(r, request=dataclasses.replace(r.request, group=group)) for r in plan.runs]
    total = len(plan.runs)

    def started(i: int, r) -> None:
        console.rule(f"[{i + 1}/{total}] {escape(r.label)}, seed {r.request.seeds[0]}")

    try:
        if launcher == "local":
            with _progress() as progress:
                outcome = sw.run_local(plan, progress, on_start=started, on_warning=_warn)
        else:
            outcome = sw.run_submitit(plan, out / "_submitit", _pairs(launcher_option, "--launcher-option"))
    except (ConfigError, DatasetError, runner.RunError) as e:
        _fail(str(e))
    except OSError as e:
        _fail(_os_error(e))
    console.print(f"{len(outcome.paths)} results written or reused under {out.resolve()}", highlight=False)
    if outcome.paths:
        _sweep_report(name, out, mode, group)
    for r, why in outcome.failed:
        console.print(f"[red]failed:[/] {escape(r.label)}, seed {r.request.seeds[0]}: {escape(why)}", highlight=False)
    if outcome.failed:
        raise typer.Exit(1)


def _sweep_report(name: str, out: Path, mode: str, group: str) -> None:
    """Build the sweep's artifact into OUT/reports/NAME (and W&B); one that cannot be built yet is a warning."""
    from bench import artifacts, tracking

    try:
        artifact = artifacts.build_artifact(name, out, out / "reports" / name)
    except (FileNotFoundError, ValueError) as e:
        _warn(f"{name} not built: {e}")
        return
    for note in artifact.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    tracking.log_artifact(artifact, mode, group, out / "reports" / name)
    for f in artifact.files:
        console.print(f"written: {f.resolve()}", highlight=False)


def _sweep_table(plan, statuses) -> Table:
    """The runs of a sweep with what is done and how long the rest should take."""
    table = Table("#", "run", "seed", "models", "status", "estimate", title=f"sweep {plan.name}: {len(statuses)} runs")
    for i, s in enumerate(statuses):
        req = s.run.request
        seconds = "–" if s.done else ("?" if s.estimate is None else _duration(s.estimate))
        table.add_row(
            str(i + 1), s.run.label, str(req.seeds[0]), ",".join(req.models), "done" if s.done else "to run", seconds
        )
    todo = [s for s in statuses if not s.done]
    known = [s.estimate for s in todo if s.estimate is not None]
    if not known:
        estimate = "no estimate (none of them ran under --out before)" if todo else "nothing to run"
    else:
        unknown = len(todo) - len(known)
        estimate = f"about {_duration(sum(known))}" + (
            f" for {len(known)} of them ({unknown} never ran before)" if unknown else ""
        )
        estimate += " (from past runs under --out; cached stages make runs shorter)"
    table.caption = f"{len(statuses) - len(todo)} done, {len(todo)} to run; {estimate}"
    return table


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


METRICS_EPILOG = """Examples:

  bench metrics --real ../data/montgomery_lung --generated runs/montgomery/_cache/diffuseexpand/samples/<hash>

  bench metrics --real train_images/ --generated my_generator_out/ --json > metrics.json
"""


@app.command(epilog=METRICS_EPILOG)
def metrics(
    real: Annotated[Path, typer.Option(help="Real images: a folder of images or a pair set (its images/ is used).")],
    generated: Annotated[Path, typer.Option(help="Generated images: a folder of images or a pair set.")],
    image_size: Annotated[int, typer.Option(help="Both sets are read at this size (square).")] = 256,
    inception_weights: Annotated[
        Path | None, typer.Option(help="FID Inception weights file; default $BENCH_FID_WEIGHTS, hub cache, bundled.")
    ] = None,
    closest_png: Annotated[Path | None, typer.Option(help="Save the closest generated/real pairs here.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
    device: Annotated[str | None, typer.Option(help="Default: cuda if available.")] = None,
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
        _fail(str(e))
    with nullcontext() if json_out else _progress() as progress:
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


@app.command(
    epilog="""Examples:

  bench speed --preset paper --flops-only        # FLOPs per generated pair, any preset, on a CPU

  bench speed --compare released,preset,every2,order2-15 \\
      --run runs/demo/diffuseexpand__cf+cg+cs__unet__none__real+synthetic/ratio_0.9/seed_0

  bench speed --compare released,solver_order=2+steps=10+guidance_every=2 --run RUN_FOLDER --n 64 --device cuda
"""
)
def speed(
    method: Annotated[str, typer.Option(help="Expansion method (see `bench methods`).")] = "diffuseexpand",
    preset: Annotated[str | None, typer.Option(help="smoke | cpu | paper (default cpu; not with --compare).")] = None,
    steps: Annotated[int | None, typer.Option(help="Timed repetitions per measurement (default 3).")] = None,
    device: Annotated[str | None, typer.Option(help="Default: cuda if available.")] = None,
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
    import json
    import math

    import torch

    from bench.config import preset as check_preset
    from methods import get_method

    if compare is not None or run_dir is not None:
        # Sampling configurations compared on a finished run's networks
        from bench.runner import RunError
        from bench.compare import compare as compare_configs
        from bench.compare import load_run, sampling_configs
        from methods.diffuseexpand.cost import SamplingConfig

        if compare is None or run_dir is None:
            _fail("--compare and --run go together: --compare CONFIGS --run RUN_FOLDER")
        for flag, value in (("--preset", preset), ("--steps", steps), ("--flops-only", flops_only)):
            if value not in (None, False):
                _fail(f"{flag}: not with --compare, which uses the run's own preset and networks")
        if method != "diffuseexpand":
            _fail(f"--compare: compares sampling configurations of diffuseexpand runs, not of method '{method}'")
        pairs = 32 if n is None else n
        if pairs < 1:
            _fail(f"--n must be >= 1 (pairs per configuration), got {pairs}")
        try:
            loaded = load_run(run_dir, device, warn=_warn)
            configs = sampling_configs(_csv(compare), SamplingConfig.from_options(loaded.method.options))
            with nullcontext() if json_out else _progress() as progress:
                rows = compare_configs(loaded, configs, pairs, progress, fid=fid)
        except (ConfigError, DatasetError, RunError) as e:
            _fail(str(e))
        except OSError as e:
            _fail(_os_error(e))
        if json_out:
            finite = [{k: None if isinstance(v, float) and math.isinf(v) else v for k, v in r.items()} for r in rows]
            print(json.dumps(finite))
            return

        def cell(value: float | None, spec: str) -> str:
            return "n/a" if value is None else "∞" if math.isinf(value) else format(value, spec)

        o, size = loaded.method.options, loaded.config["image_size"]
        table = Table(
            "configuration",
            "options",
            "NFE/pair (denoiser / seg fwd / seg bwd)",
            "GFLOP/pair",
            "pass rate",
            "kept as generated",
            "mean filter Dice",
            "GFLOP/kept pair",
            "× released",
            "guidance/ε (mask / image)",
            "s/pair",
            title=f"{run_dir}: {pairs} pairs per configuration, the same seeds ({size}x{size}, "
            f"η {o.eta:g}, {loaded.device})",
        )
        table.columns[0].overflow = "fold"
        if fid:
            table.add_column("FID all / kept")
        for r in rows:
            calls = r["nfe"]
            measured = [f"{cell(r['fid'], '.1f')} / {cell(r['fid_kept'], '.1f')}"] if fid else []
            table.add_row(
                r["configuration"],
                r["options"],
                f"{calls['denoiser']} / {calls['segmenter_fwd']} / {calls['segmenter_bwd']}",
                cell(r["gflop_per_pair"], ",.4g"),
                cell(r["pass_rate"], ".3f"),
                cell(r["kept_share"], ".3f"),
                cell(r["mean_dice"], ".3f"),
                cell(r["gflop_per_kept"], ",.4g"),
                cell(r["vs_released"], ".2f"),
                f"{cell(r.get('guidance_ratio_mask'), '.2g')} / {cell(r.get('guidance_ratio_image'), '.2g')}",
                cell(r["seconds_per_pair"], ".4f"),
                *measured,
            )
        console.print(table)
        console.print(
            "pass rate: kept + relabelled share; GFLOP/kept pair = GFLOP/pair ÷ pass rate (∞: nothing passed); "
            "× released: GFLOP per kept pair against `released` (n/a: not compared, or none of its pairs passed); "
            "guidance/ε: mean over steps and pairs of ‖s·σ_t·∇ log p‖ / ‖ε‖ (0: unguided)",
            style="dim",
            highlight=False,
        )
        return

    if n is not None:
        _fail("--n: only with --compare (pairs per configuration)")
    for flag, value in (("--json", json_out), ("--fid", fid)):
        if value:
            _fail(f"{flag}: only with --compare")
    preset = preset or "cpu"
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        check_preset(preset)
        cls = get_method(method)
        rows = [] if flops_only else cls.speed(preset, dev, 3 if steps is None else steps)
        tables = cls.flops(preset)
    except KeyError as e:
        _fail(e.args[0])
    except (ConfigError, NotImplementedError, ValueError) as e:
        _fail(str(e))
    if flops_only and not tables:
        _fail(f"method '{method}' has no FLOP accounting")
    if rows:
        table = Table("stage", "what", "seconds", "unit", title=f"{method}, preset {preset} on {dev}")
        memory = any(r.get("peak_gib") is not None for r in rows)
        if memory:
            table.add_column("peak GiB")
        for r in rows:
            seconds = "out of memory" if r["seconds"] is None else f"{r['seconds']:.4f}"
            peak = [] if not memory else ["–" if r.get("peak_gib") is None else f"{r['peak_gib']:.1f}"]
            table.add_row(r["stage"], r["what"], seconds, r["unit"], *peak)
        console.print(table)
    for title, trows in tables.items():
        table = Table(title=f"{method}, preset {preset}: {title}")
        for column in trows[0]:
            table.add_column(column, overflow="fold")
        for r in trows:
            table.add_row(
                *(
                    (f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}") if isinstance(v, float) else str(v)
                    for v in r.values()
                )
            )
        console.print(table)


@datasets_app.command("list")
def datasets_list() -> None:
    """Show the dataset cards and where each dataset is expected."""
    from bench.data import CARDS_DIR, load_cards

    table = Table(
        "name", "pairs", "present", "expected at", caption=f"details: {CARDS_DIR}/<name>.yaml; root: $BENCH_DATA"
    )
    table.columns[3].overflow = "fold"
    for card in load_cards().values():
        path = card.default_path
        present = "generated on use" if card.synthetic and not path.is_dir() else ("yes" if path.is_dir() else "no")
        name = card.name + (" (synthetic)" if card.synthetic else "")
        table.add_row(name, str(card.pairs or "?"), present, str(path.resolve()))
    console.print(table)


@datasets_app.command("check", epilog="Example:\n\n  bench datasets check ../data/montgomery_lung --preset paper")
def datasets_check(
    path: Annotated[Path, typer.Argument(help="Folder with images/ and masks/.")],
    preset: Annotated[
        str, typer.Option(help="smoke | cpu | paper: images smaller than its image size are a warning.")
    ] = "cpu",
) -> None:
    """Validate a pair-set folder and report every problem at once; exit 1 on errors."""
    from bench.config import preset as preset_values
    from bench.data import check

    try:
        image_size = preset_values(preset)["image_size"]
    except ConfigError as e:
        _fail(str(e))
    rep = check(path, image_size=image_size)
    for w in rep.warnings:
        _warn(w)
    for e in rep.errors:
        console.print(f"[red]error:[/] {escape(e)}", highlight=False)
    kind = f"{len(rep.ids)} pairs, {rep.mask_kind} masks"
    if rep.errors:
        readable = f"; {kind} readable" if rep.ids else ""
        console.print(
            f"[bold red]FAILED[/] {escape(str(path.resolve()))}: {len(rep.errors)} error(s), {len(rep.warnings)} "
            f"warning(s){escape(readable)}",
            highlight=False,
        )
        raise typer.Exit(1)
    console.print(f"[bold green]OK[/] {path.resolve()}: {kind}, {len(rep.warnings)} warning(s)", highlight=False)


@datasets_app.command(
    "prepare",
    epilog="""Examples:

  bench datasets prepare covid19 --images covid-chestxray-dataset/

  bench datasets prepare cgmh-pelvis --root CGMH_PelvisSegment/
""",
)
def datasets_prepare(
    name: Annotated[str, typer.Argument(help="covid19 | cgmh-pelvis")],
    images: Annotated[Path | None, typer.Option(help="covid19: clone of ieee8023/covid-chestxray-dataset.")] = None,
    masks_zip: Annotated[
        Path | None, typer.Option(help="covid19: v7labs lung mask zip (default: torchxrayvision's).")
    ] = None,
    keep_supine: Annotated[bool, typer.Option(help="covid19: also keep 'AP Supine' views.")] = False,
    root: Annotated[Path | None, typer.Option(help="cgmh-pelvis: folder with Image/ and Label/.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder; default $BENCH_DATA/<name>.")] = None,
) -> None:
    """Convert a public dataset into the pair-set layout."""
    from bench import prepare
    from bench.data import load_cards

    cards = load_cards()
    if name not in ("covid19", "cgmh-pelvis"):
        _fail(f"no converter for {name!r}; available: covid19, cgmh-pelvis")
    dest = out or cards[name].default_path
    try:
        if name == "covid19":
            if images is None:
                _fail("covid19 needs --images DIR (a clone of ieee8023/covid-chestxray-dataset)")
            rep = prepare.prepare_covid19(images, dest, masks_zip=masks_zip, keep_supine=keep_supine)
        else:
            if root is None:
                _fail("cgmh-pelvis needs --root DIR (with Image/ and Label/)")
            rep = prepare.prepare_cgmh_pelvis(root, dest)
    except StorageError as e:
        _fail(_os_error(e))
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    console.print(f"kept {rep.kept} pairs; skipped: {rep.skipped_by_reason or 'none'}", highlight=False)
    console.print(f"written: {Path(dest).resolve()}", highlight=False)


@export_app.command(
    "nnunet",
    epilog="""Example:

  bench export nnunet --real ../data/montgomery_lung --synthetic expanded/ --dataset-id 501 --name Lungs \\
      --labels lung --out $nnUNet_raw
""",
)
def export_nnunet(
    real: Annotated[Path, typer.Option(help="Real pairs (images/ + masks/): the only cases nnU-Net validates on.")],
    dataset_id: Annotated[int, typer.Option(help="nnU-Net data set number, 1..999.")],
    name: Annotated[str, typer.Option(help="Data set name: DatasetXXX_<name>.")],
    out: Annotated[Path, typer.Option(help="The nnUNet_raw folder.")],
    synthetic: Annotated[
        Path | None, typer.Option(help="Generated pairs (e.g. a `bench expand` folder); training folds only.")
    ] = None,
    labels: Annotated[str | None, typer.Option(help="Names of labels 1..K, comma-separated (e.g. lung).")] = None,
    folds: Annotated[int, typer.Option(help="Folds over the real cases.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the fold assignment.")] = 0,
) -> None:
    """nnU-Net v2 raw data set (imagesTr/, labelsTr/, dataset.json) plus splits_final.json whose validation folds
    hold real cases only, so nnU-Net's validation Dice is never measured on generated images."""
    from bench.export import export_nnunet as export

    try:
        done = export(real, synthetic, dataset_id, name, out, _csv(labels) if labels else (), folds, seed)
    except StorageError as e:
        _fail(_os_error(e))
    except (DatasetError, ValueError) as e:
        _fail(str(e))
    console.print(
        f"written: {done.folder.resolve()} ({done.real} real + {done.synthetic} generated cases, labels "
        f"{done.labels}, {done.folds} folds)",
        highlight=False,
    )
    console.print(
        "next: nnUNetv2_plan_and_preprocess -d {id} --verify_dataset_integrity, then copy {split} to "
        "$nnUNet_preprocessed/{name}/ before training, so no fold validates on generated cases".format(
            id=dataset_id, split=done.folder / "splits_final.json", name=done.folder.name
        ),
        highlight=False,
    )


def main() -> None:
    """The ``bench`` console script: the app, with command-line usage errors (a value of the wrong type, an
    unknown flag) printed as one ``error:`` line with exit code 2, like every other user error.

    Click's exceptions are matched by their interface (``format_message``, ``exit_code``) because Typer may
    bring its own copy of Click.
    """
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        console.print("aborted")
        code = 1
    except Exception as e:
        if not (hasattr(e, "format_message") and isinstance(getattr(e, "exit_code", None), int)):
            raise
        if type(e).__name__ == "NoArgsIsHelpError":
            e.show()
            sys.exit(0)
        context = getattr(e, "ctx", None)
        where = f" (see `{context.command_path} --help`)" if context is not None else ""
        console.print(f"[bold red]error:[/] {e.format_message()}{where}", highlight=False)
        code = 2
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
