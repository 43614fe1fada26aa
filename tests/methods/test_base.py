import csv
import subprocess
import sys

import pytest

from bench.config import PRESETS
from methods import METHODS, get_method, method_options
from methods.base import ExpansionMethod, PairRecord, register_method, write_records


def test_registry_rejects_duplicates_and_non_methods():
    origin = get_method("origin")
    with pytest.raises(ValueError, match="already registered"):

        @register_method("origin")
        class Other(origin):
            pass

    with pytest.raises(TypeError, match="not an ExpansionMethod"):
        register_method("x")(dict)


def test_unknown_names_suggest_the_closest():
    with pytest.raises(KeyError, match="Did you mean 'origin'"):
        get_method("origni")
    with pytest.raises(KeyError, match="unknown ablation 'cg'"):
        get_method("origin")("cg")


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_declares_its_interface(name):
    cls = get_method(name)
    assert issubclass(cls, ExpansionMethod) and cls.name == name
    assert cls.variants and cls.version and cls.description
    assert set(cls.presets) <= set(PRESETS)
    cls(cls.variants[0])  # default options construct


def test_write_records_is_one_row_per_pair(tmp_path):
    recs = [PairRecord("syn_0", 10, "kept", {"dice_loss": 0.01}), PairRecord("syn_1", 11, "dropped", {"tau": 1.0})]
    write_records(recs, tmp_path / "records.csv")
    rows = list(csv.DictReader((tmp_path / "records.csv").open()))
    assert [r["id"] for r in rows] == ["syn_0", "syn_1"]
    assert rows[0]["dice_loss"] == "0.01" and rows[1]["tau"] == "1.0" and rows[1]["decision"] == "dropped"


@pytest.mark.parametrize("name", [n for n, e in METHODS.items() if e.options])
def test_a_light_options_row_is_what_the_class_uses_and_imports_no_torch(name):
    script = (
        "import sys; from methods import method_options; "
        f"cls, presets = method_options({name!r}); cls(); "
        "print('torch' in sys.modules, sorted(presets))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "False"
    method = get_method(name)
    assert (method.Options, method.presets) == method_options(name)
    assert method.Options is method_options(name)[0]
