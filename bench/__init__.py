"""DiffuseExpand bench: the harness (data, configs, downstream segmentation, runs, reports)."""

__version__ = "0.14.0"  # the one place the version is written: pyproject reads it, results record it
