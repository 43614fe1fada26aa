"""DiffuseExpand bench: the harness (data, configs, downstream segmentation, runs, reports)."""
