"""What a wheel install needs: dataset cards and the report template inside the package, a light ``bench methods``,
no import cycle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bench
from bench.cards import CARDS_DIR, load_cards
from methods import METHODS, get_method

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("diffusers", "segmentation_models_pytorch", "timm", "monai", "wandb")


def test_dataset_cards_live_in_the_package_and_ship_as_package_data():
    assert CARDS_DIR.parent == Path(bench.__file__).resolve().parent
    assert {"demo", "montgomery", "shenzhen", "covid19", "cgmh-pelvis"} <= set(load_cards())
    package_data = '[tool.setuptools.package-data]\nbench = ["datasets/*.yaml", "templates/*.j2"]'
    assert package_data in (ROOT / "pyproject.toml").read_text()
    assert not (ROOT / "datasets" / "__init__.py").exists()  # would shadow Hugging Face `datasets`


def test_report_template_lives_in_the_package():
    from bench.expand.html_report import TEMPLATE, TEMPLATES_DIR

    assert TEMPLATES_DIR.parent == Path(bench.__file__).resolve().parent
    assert (TEMPLATES_DIR / TEMPLATE).is_file()


def test_bench_methods_imports_no_method_dependencies():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from bench.cli import app\n"
        "res = CliRunner().invoke(app, ['methods'])\n"
        "assert res.exit_code == 0 and 'cf+cg+cs' in res.output, res.output\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_registry_rows_match_the_classes():
    for name, entry in METHODS.items():
        cls = get_method(name)
        assert (cls.version, cls.variants, cls.description) == (entry.version, entry.variants, entry.description)


def test_phantom_and_data_import_in_either_order():
    for first, second in (("bench.phantom", "bench.data"), ("bench.data", "bench.phantom")):
        code = f"import {first}, {second}"
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    source = (ROOT / "bench" / "phantom.py").read_text()
    assert "bench.data" not in source  # phantom depends on bench.pairs only: no data <-> phantom cycle
