"""The documentation: the MkDocs site builds in strict mode (every page in the nav, no broken link or anchor), every
CLI verb has its generated reference page, and the README's links resolve on a plain checkout (as GitHub shows it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml

from bench.cli import app

pytestmark = pytest.mark.heavy(25)

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_site_builds_in_strict_mode(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "site" / "reference" / "cli" / "run" / "index.html").read_text().count("--train-ratio") >= 1


def _nav_pages(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [p for value in node.values() for p in _nav_pages(value)]
    return [p for item in node for p in _nav_pages(item)]


def test_every_cli_verb_has_a_generated_reference_page():
    nav = _nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"])
    verbs = typer.main.get_command(app).commands
    assert verbs
    for verb in verbs:
        page = ROOT / "docs" / "reference" / "cli" / f"{verb}.md"
        assert page.is_file(), f"`bench {verb}` has no reference page {page.relative_to(ROOT)}"
        assert f":command: {verb}\n" in page.read_text(), f"{page.name} does not generate `bench {verb}`'s options"
        assert f"reference/cli/{verb}.md" in nav


def test_readme_links_resolve_and_it_stays_short():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    for target in LINK.findall(readme):
        if "://" in target or target.startswith("#"):
            continue
        assert (ROOT / target.partition("#")[0]).exists(), f"README.md links to missing {target}"


def test_findings_index_every_report():
    findings = (ROOT / "docs" / "findings.md").read_text()
    reports = sorted(p.name for p in (ROOT / "reports").iterdir() if p.is_dir() or p.suffix == ".md")
    assert reports
    missing = [name for name in reports if f"../reports/{name}" not in findings]
    assert not missing, f"docs/findings.md does not index {missing}"
