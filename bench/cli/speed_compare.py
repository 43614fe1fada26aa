"""``bench speed --compare CONFIGS --run RUN``: the same pairs sampled under each sampling configuration on a
finished DiffuseExpand run's networks and filtered by its stage IV; what a generated and a kept pair cost, as a
table or JSON."""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bench.cli.console import console, fail, os_error, progress_bar, warn
from bench.cli.values import names


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
    named = names(compare, "--compare")
    try:
        loaded = load_run(run_dir, device, warn=warn)
        configs = sampling_configs(named, SamplingConfig.from_options(loaded.method.options))
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

    o, size = loaded.method.options, loaded.config["image_size"]
    console.print(
        f"{run_dir}: {pairs} pairs per configuration, the same seeds ({size}x{size}, η {o.eta:g}, {loaded.device})",
        highlight=False,
        soft_wrap=True,
    )
    parts, legend = comparison_tables(rows, fid)
    for part in parts:
        console.print(part, highlight=False, soft_wrap=False)
    console.print(escape(legend), style="dim", highlight=False, soft_wrap=False)


def _cell(value: float | None, spec: str) -> str:
    return "n/a" if value is None else "∞" if math.isinf(value) else format(value, spec)


def comparison_tables(rows: list[dict[str, Any]], fid: bool) -> tuple[list[Text | Table], str]:
    """The rows of :func:`bench.compare.compare` as what fits an 80-column terminal or log file: which options each
    configuration name stands for, a table of what a pair costs, a table of how its pairs came out, and a legend."""
    width = max(len(r["configuration"]) for r in rows)
    parts: list[Text | Table] = [
        Text("\n".join(f"{r['configuration']:<{width}}  {r['options']}" for r in rows), style="bold")
    ]
    cost = {
        "NFE": lambda r: "{denoiser}/{segmenter_fwd}/{segmenter_bwd}".format(**r["nfe"]),
        "GFLOP/pair": lambda r: _cell(r["gflop_per_pair"], ",.4g"),
        "pass": lambda r: _cell(r["pass_rate"], ".3f"),
        "GFLOP/kept": lambda r: _cell(r["gflop_per_kept"], ",.4g"),
        "× rel.": lambda r: _cell(r["vs_released"], ".2f"),
        "s/pair": lambda r: _cell(r["seconds_per_pair"], ".4f"),
    }
    pairs = {
        "kept": lambda r: _cell(r["kept_share"], ".3f"),
        "filter Dice": lambda r: _cell(r["mean_dice"], ".3f"),
        "guidance/ε": lambda r: (
            f"{_cell(r.get('guidance_ratio_mask'), '.2g')} / {_cell(r.get('guidance_ratio_image'), '.2g')}"
        ),
    }
    if fid:
        pairs["FID all / kept"] = lambda r: f"{_cell(r['fid'], '.1f')} / {_cell(r['fid_kept'], '.1f')}"
    for caption, columns in (("cost", cost), ("pairs", pairs)):
        table = Table(title=caption, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
        table.add_column("configuration", width=min(width, 20), overflow="fold")  # numbers are never cut
        for column in columns:
            table.add_column(column, no_wrap=True)
        for r in rows:
            table.add_row(escape(r["configuration"]), *(cell(r) for cell in columns.values()))
        parts.append(table)
    legend = (
        "NFE: denoiser / segmenter forward / segmenter backward calls per pair; pass: kept + relabelled share; "
        "GFLOP/kept = GFLOP/pair ÷ pass (∞: nothing passed); × rel.: GFLOP/kept against `released` (n/a: not "
        "compared, or none of its pairs passed); guidance/ε: mean over steps and pairs of ‖s·σ_t·∇ log p‖ / ‖ε‖ in "
        "the mask / image phase (0: unguided); kept: share kept as generated; filter Dice: mean Dice of the stage-IV "
        "network's prediction with the generated mask"
    )
    return parts, legend
