"""The version a result records is the code's that made it: ``bench.__version__``, the one place it is written,
which pyproject reads; an editable install's metadata keeps the version it was installed at."""

from pathlib import Path

import torch

import bench
from bench.runner.provenance import provenance

ROOT = Path(__file__).resolve().parents[3]


def test_results_record_the_version_of_the_code_that_runs():
    assert provenance("1", torch.device("cpu"))["versions"]["package"] == bench.__version__


def test_results_record_the_cpu_a_network_was_trained_on():
    """Another CPU type may round its kernels differently and train another network from the same seed."""
    env = provenance("1", torch.device("cpu"))["environment"]
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and env["cpu_capability"]
    assert env["cpu"] is None or (isinstance(env["cpu"], str) and env["cpu"].strip() == env["cpu"] != "")


def test_pyproject_reads_its_version_from_the_package():
    text = (ROOT / "pyproject.toml").read_text()
    assert '\ndynamic = ["version"]\n' in text and "\nversion = " not in text.split("[tool.setuptools.dynamic]")[0]
    assert '[tool.setuptools.dynamic]\nversion = { attr = "bench.__version__" }' in text


def test_the_changelog_names_the_version_first():
    top = next(line for line in (ROOT / "CHANGELOG.md").read_text().splitlines() if line.startswith("## "))
    assert top.removeprefix("## ").split()[0] in {bench.__version__, _next(bench.__version__)}, top


def _next(version: str) -> str:
    major, minor, _ = version.split(".")
    return f"{major}.{int(minor) + 1}.0"
