"""``bench pretrain``: a method's generator trained on a larger pair set of the same modality, through
:func:`bench.pretraining.pretrain`, for runs to fine-tune from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench import interrupts
from bench.cli.console import console, fail, log_level, os_error, progress_bar
from bench.cli.options import (
    MASKS,
    Dataset,
    Device,
    MaskSuffix,
    MaskThreshold,
    Method,
    MethodOption,
    Preset,
    Verbose,
    mask_reading,
)
from bench.cli.values import key_values

EPILOG = """Examples:

  bench pretrain --dataset ../data/shenzhen_lung --out pretrained/shenzhen-cpu --steps 4000

  bench run --dataset ../data/montgomery_lung --option pretrained=pretrained/shenzhen-cpu
"""


def pretrain(
    out: Annotated[Path, typer.Option(help="Folder to write the pretrained generator to.")],
    dataset: Dataset = "demo",
    method: Method = "diffuseexpand",
    preset: Preset = "cpu",
    steps: Annotated[int | None, typer.Option(help="Optimiser steps; default: the preset's stage-I steps.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of initialisation and batches.")] = 0,
    option: MethodOption = None,
    device: Device = None,
    force: Annotated[bool, typer.Option(help="Train again over a finished pretraining in --out.")] = False,
    mask_threshold: MaskThreshold = MASKS.threshold,
    mask_suffix: MaskSuffix = MASKS.suffix,
    verbose: Verbose = False,
) -> None:
    """Train a method's stage-I generator on every pair of a larger data set of the same modality (once per
    modality), for `bench run --option pretrained=OUT` to fine-tune from within its own stage-I budget.

    The run refuses a pretraining that saw one of its test images (same pixels, any name). OUT/pretrain.json,
    written last, records the data set, the pairs' content hashes, what the pretraining cost and the recipe
    (options) that `--option pretrained=OUT` applies unless given otherwise.
    """
    log_level(verbose)
    masks = mask_reading(mask_threshold, mask_suffix)
    from bench.config import ConfigError
    from bench.pairs import DatasetError
    from bench.pretraining import PretrainRequest, check_pretrain

    req = PretrainRequest(
        method, dataset, out, preset, steps, seed, key_values(option, "--option"), device, force, masks
    )
    try:
        check_pretrain(req)
    except ConfigError as e:
        fail(str(e))

    from bench.pretraining import pretrain as run_pretraining

    try:
        with progress_bar() as progress, interrupts.step(f"pretraining {method} into {out}"):
            record = run_pretraining(req, progress)
    except (ConfigError, DatasetError) as e:
        fail(str(e))
    except OSError as e:
        fail(os_error(e))
    console.print(
        f"pretrained {record['method']} on {record['dataset']} ({record['pairs']} pairs at {record['size']}²): "
        f"{record['steps']} steps in {record['seconds']:.0f} s -> {out}",
        highlight=False,
    )
    from methods.diffusion.recipe import spelled

    recipe = f" (applies the recipe it records: {spelled(record['recipe'])})" if record["recipe"] else ""
    console.print(f"fine-tune from it: bench run --method {method} --option pretrained={out}{recipe}", highlight=False)
