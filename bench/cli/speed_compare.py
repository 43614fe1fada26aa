"""``bench speed --compare CONFIGS --run RUN``: the same pairs sampled under each sampling configuration on a
finished DiffuseExpand run's networks and filtered by its stage IV; what a generated and a kept pair cost, as a
table or JSON."""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from pathlib import Path

from rich.table import Table

from bench.cli.console import console, fail, os_error, progress_bar, warn
from bench.cli.values import split_csv


def compare_sampling(
    method: str, compare: str, run_dir: Path, n: int | None, device: str | None, json_out: bool, fid: bool
) -> None:
    """Compare the sampling configurations ``compare`` names on the networks of ``run_dir``, ``n`` pairs each."""
    from bench.compare import compare as compare_configs
    from bench.compare import load_run, sampling_configs
    from bench.config import ConfigError
    from bench.pairs import DatasetError
    from bench.runner import RunError
    from methods.diffuseexpand.cost import SamplingConfig

    if method != "diffuseexpand":
        fail(f"--compare: compares sampling configurations of diffuseexpand runs, not of method '{method}'")
    pairs = 32 if n is None else n
    if pairs < 1:
        fail(f"--n must be >= 1 (pairs per configuration), got {pairs}")
    try:
        loaded = load_run(run_dir, device, warn=warn)
        configs = sampling_configs(split_csv(compare), SamplingConfig.from_options(loaded.method.options))
        with nullcontext() if json_out else progress_bar() as progress:
            rows = compare_configs(loaded, configs, pairs, progress, fid=fid)
    except (ConfigError, DatasetError, RunError) as e:
        fail(str(e))
    except OSError as e:
        fail(os_error(e))
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
