"""Shared by the artifact tests: which methods generate pairs, answered without importing them."""

import pytest

from bench.artifacts import table2


@pytest.fixture(autouse=True)
def _no_method_imports(monkeypatch):
    """Which registered methods generate pairs, without importing their modules (torch, diffusers: seconds)."""
    monkeypatch.setattr(table2, "generates_pairs", lambda name: name != "origin")
