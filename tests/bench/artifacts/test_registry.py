"""The artifact registry: its kinds, and what it refuses before writing anything."""

import subprocess
import sys

import pytest
from stored_runs import fake_run

from bench.artifacts import ARTIFACTS, build_artifact


def test_kinds_empty_folders_and_irrelevant_results_are_refused(tmp_path):
    runs = tmp_path / "runs"
    with pytest.raises(ValueError, match="table1, table2, fewshot, tau-vs-s, gallery"):
        build_artifact("table3", runs, tmp_path / "out")
    with pytest.raises(FileNotFoundError):
        build_artifact("table1", runs, tmp_path / "out")
    fake_run(runs, "synthmed", 0, 0.5, ablation="dual", train_on="synthetic")
    with pytest.raises(ValueError, match="table1 needs UNet runs of origin"):
        build_artifact("table1", runs, tmp_path / "out")
    with pytest.raises(ValueError, match="filter_dice"):
        build_artifact("tau-vs-s", runs, tmp_path / "out")
    assert ARTIFACTS == ("table1", "table2", "fewshot", "tau-vs-s", "gallery", "leaderboard")
    assert not (tmp_path / "out").exists()  # a refused artifact writes nothing


def test_importing_the_registry_loads_no_plotting_library_nor_torch():
    """``bench report`` and ``bench sweep`` read the kinds from the registry: importing it must stay light."""
    heavy = "{'matplotlib', 'PIL', 'torch'}"
    code = f"import sys, bench.artifacts; print(sorted({{m.split('.')[0] for m in sys.modules}} & {heavy}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
