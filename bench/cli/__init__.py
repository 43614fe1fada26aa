"""The ``bench`` command line: one short module per verb over the Python API (runner, expand, sweep, report,
data, prepare, export); :mod:`bench.cli.app` registers them."""

from bench.cli.app import app, main

__all__ = ["app", "main"]
