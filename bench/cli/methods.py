"""``bench methods``: the registry's rows, read without importing any method (or torch)."""

from __future__ import annotations

from rich.table import Table

from bench.cli.console import console


def methods() -> None:
    """List expansion methods, their versions and ablation variants."""
    from methods import METHODS

    table = Table("method", "version", "ablations (first = default)", "description")
    for name, entry in METHODS.items():
        table.add_row(name, entry.version, ", ".join(entry.variants), entry.description)
    console.print(table)
