"""``bench datasets list | check | prepare``: the dataset cards, the integrity check of a pair-set folder
(:func:`bench.data.check`) and the converters of public datasets (:mod:`bench.prepare`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bench.cli.console import console, fail, os_error, warn
from bench.cli.options import MASKS, MaskSuffix, MaskThreshold, mask_reading

app = typer.Typer(no_args_is_help=True, help="List, check and prepare datasets.")


@app.command("list")
def datasets_list() -> None:
    """Show the dataset cards and where each dataset is expected."""
    from bench.cards import CARDS_DIR, load_cards

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


@app.command(
    "check",
    epilog="Examples:\n\n  bench datasets check ../data/montgomery_lung --preset paper\n\n"
    "  bench datasets check ../data/kvasir --mask-threshold 127\n\n"
    "  bench datasets check ../data/isic2018 --mask-suffix _segmentation",
)
def datasets_check(
    path: Annotated[Path, typer.Argument(help="Folder with images/ and masks/.")],
    preset: Annotated[
        str, typer.Option(help="smoke | cpu | gpu | paper: images smaller than its image size are a warning.")
    ] = "cpu",
    mask_threshold: MaskThreshold = MASKS.threshold,
    mask_suffix: MaskSuffix = MASKS.suffix,
) -> None:
    """Validate a pair-set folder and report every problem at once, one line per kind with its count and the first
    files; exit 1 on errors."""
    from bench.config import ConfigError
    from bench.config import preset as preset_values
    from bench.integrity import check

    reading = mask_reading(mask_threshold, mask_suffix)
    try:
        image_size = preset_values(preset)["image_size"]
    except ConfigError as e:
        fail(str(e))
    rep = check(path, image_size=image_size, reading=reading)
    for note in rep.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    for w in rep.warnings:
        warn(w)
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


@app.command(
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
    from bench.cards import load_cards
    from bench.files import StorageError

    cards = load_cards()
    if name not in ("covid19", "cgmh-pelvis"):
        fail(f"no converter for {name!r}; available: covid19, cgmh-pelvis")
    dest = out or cards[name].default_path
    try:
        if name == "covid19":
            if images is None:
                fail("covid19 needs --images DIR (a clone of ieee8023/covid-chestxray-dataset)")
            rep = prepare.prepare_covid19(images, dest, masks_zip=masks_zip, keep_supine=keep_supine)
        else:
            if root is None:
                fail("cgmh-pelvis needs --root DIR (with Image/ and Label/)")
            rep = prepare.prepare_cgmh_pelvis(root, dest)
    except StorageError as e:
        fail(os_error(e))
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    console.print(f"kept {rep.kept} pairs; skipped: {rep.skipped_by_reason or 'none'}", highlight=False)
    console.print(f"written: {Path(dest).resolve()}", highlight=False)
