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
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

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


def _csv(value: str, cast=str) -> tuple:
    try:
        return tuple(cast(v.strip()) for v in value.split(",") if v.strip())
    except ValueError:
        _fail(f"cannot parse {value!r} as a comma-separated list")


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
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
) -> None:
    """Fit a method, expand, train and evaluate downstream models; write one results.json per run.

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
        seeds=_csv(seeds, int),
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
    try:
        with _progress() if main else nullcontext() as progress:
            outcome = runner.run(req, progress=progress, on_warning=_warn)
    except (ConfigError, DatasetError, runner.RunError) as e:
        _fail(str(e))
    except OSError as e:  # disk full, read-only or missing file, met after planning
        _fail(_os_error(e))
    if not main:
        return
    rows = report.make_rows(outcome.results)
    console.print(report.to_markdown(rows), highlight=False, markup=False)
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


@app.command()
def methods() -> None:
    """List expansion methods, their versions and ablation variants."""
    from methods import METHODS

    table = Table("method", "version", "ablations (first = default)", "description")
    for name, entry in METHODS.items():
        table.add_row(name, entry.version, ", ".join(entry.variants), entry.description)
    console.print(table)


REPORT_EPILOG = "Example:\n\n  bench report runs/ --out reports/"


@app.command(epilog=REPORT_EPILOG)
def report(
    root: Annotated[Path, typer.Argument(help="Folder searched for results.json files.")] = Path("runs"),
    out: Annotated[Path, typer.Option(help="Where results.md and results.csv are written.")] = Path("reports"),
) -> None:
    """Build tables (Markdown + CSV) from stored results.json files."""
    from bench import report as rep

    try:
        files = rep.build(root, out)
    except StorageError as e:
        _fail(_os_error(e))
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    console.print(files[0].read_text(), highlight=False, markup=False)
    for f in files:
        console.print(f"written: {f.resolve()}", highlight=False)


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


@app.command()
def speed(
    method: Annotated[str, typer.Option(help="Expansion method (see `bench methods`).")] = "diffuseexpand",
    preset: Annotated[str, typer.Option(help="smoke | cpu | paper.")] = "cpu",
    steps: Annotated[int, typer.Option(help="Timed repetitions per measurement.")] = 3,
    device: Annotated[str | None, typer.Option(help="Default: cuda if available.")] = None,
) -> None:
    """Print seconds per training step and per generated pair for each stage of a method."""
    import torch

    from bench.config import preset as check_preset
    from methods import get_method

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        check_preset(preset)
        rows = get_method(method).speed(preset, dev, steps)
    except KeyError as e:
        _fail(e.args[0])
    except (ConfigError, NotImplementedError, ValueError) as e:
        _fail(str(e))
    table = Table("stage", "what", "seconds", "unit", title=f"{method}, preset {preset} on {dev}")
    for r in rows:
        table.add_row(r["stage"], r["what"], f"{r['seconds']:.4f}", r["unit"])
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


@datasets_app.command("check", epilog="Example:\n\n  bench datasets check ../data/montgomery_lung")
def datasets_check(path: Annotated[Path, typer.Argument(help="Folder with images/ and masks/.")]) -> None:
    """Validate a pair-set folder and report every problem at once; exit 1 on errors."""
    from bench.data import check

    rep = check(path)
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
