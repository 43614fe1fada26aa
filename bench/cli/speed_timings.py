"""``bench speed`` without --compare: seconds per training step and per generated pair for each stage of a
method (:meth:`ExpansionMethod.speed`), and its FLOP tables (:meth:`ExpansionMethod.flops`)."""

from __future__ import annotations

from rich.table import Table

from bench.cli.console import console, fail


def stage_timings(method: str, preset: str, steps: int | None, device: str | None, flops_only: bool) -> None:
    """Time ``method``'s stages at ``preset`` (``steps`` repetitions each, 3 by default) unless ``flops_only``,
    then print its FLOP tables."""
    import torch

    from bench.config import ConfigError
    from bench.config import preset as check_preset
    from methods import get_method

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        check_preset(preset)
        cls = get_method(method)
        rows = [] if flops_only else cls.speed(preset, dev, 3 if steps is None else steps)
        tables = cls.flops(preset)
    except KeyError as e:
        fail(e.args[0])
    except (ConfigError, NotImplementedError, ValueError) as e:
        fail(str(e))
    if flops_only and not tables:
        fail(f"method '{method}' has no FLOP accounting")
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
