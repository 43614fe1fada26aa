"""``bench export nnunet``: real + generated pairs as an nnU-Net v2 raw data set whose validation folds hold real
cases only (:func:`bench.export.export_nnunet`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.cli.console import console, fail, os_error
from bench.cli.options import MASKS, MaskSuffix, MaskThreshold, mask_reading
from bench.cli.values import names

app = typer.Typer(no_args_is_help=True, help="Write real + generated pairs in another tool's layout.")


@app.command(
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
    mask_threshold: MaskThreshold = MASKS.threshold,
    mask_suffix: MaskSuffix = MASKS.suffix,
) -> None:
    """nnU-Net v2 raw data set (imagesTr/, labelsTr/, dataset.json) plus splits_final.json whose validation folds
    hold real cases only, so nnU-Net's validation Dice is never measured on generated images. --mask-threshold and
    --mask-suffix say how --real's masks are read (the generated set's, written by `bench expand`, are as stored)."""
    reading = mask_reading(mask_threshold, mask_suffix)
    from bench.export import export_nnunet as export
    from bench.files import StorageError
    from bench.pairs import DatasetError

    try:
        labelled = names(labels, "--labels") if labels is not None else ()
        done = export(real, synthetic, dataset_id, name, out, labelled, folds, seed, reading=reading)
    except StorageError as e:
        fail(os_error(e))
    except (DatasetError, ValueError) as e:
        fail(str(e))
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
