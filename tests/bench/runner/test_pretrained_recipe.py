"""``--option pretrained=FOLDER`` applies the recipe the folder records, below the user's own options: the run
resolves to the options of the spelled-out recipe, is named by the folder alone, and says what it applied. A folder
pretrained before recipes were recorded keeps its old resolution and gets a note."""

import json
from dataclasses import replace

import pytest
from cli_checks import assert_refused, invoke, run_args
from synthetic_pairs import disc_folder

from bench.files import CorruptFileError
from bench.runner.planning import plan
from bench.runner.request import Request, pretrained_recipe
from methods.diffuseexpand.options import DiffuseExpandOptions
from methods.diffusion.recipe import RECORD, recipe_of

RECIPE = {"cfg_dropout": 0.1, "cf_weight": 1.0, "dynamic_thresholding": False, "sampling_steps": 30}


def _folder(tmp_path, method="diffuseexpand", **record):
    folder = tmp_path / "shenzhen-cpu-9600-cfg01"
    folder.mkdir()
    (folder / RECORD).write_text(json.dumps({"method": method, "options": {"cfg_dropout": 0.1}, **record}))
    return str(folder)


def _request(preset="cpu", method="diffuseexpand", **options):
    return Request(method=method, dataset="demo", preset=preset, method_options=options)


def test_the_recipe_is_the_class_declaration_after_the_options_kept_from_the_pretraining():
    assert recipe_of(DiffuseExpandOptions, {"cfg_dropout": 0.1}) == RECIPE
    assert recipe_of(DiffuseExpandOptions, {}) == {k: v for k, v in RECIPE.items() if k != "cfg_dropout"}
    assert recipe_of(DiffuseExpandOptions, {"cfg_dropout": 0.5}) == {**RECIPE, "cfg_dropout": 0.5}


@pytest.mark.parametrize("preset", ["smoke", "cpu", "gpu", "paper"])
def test_the_folder_alone_resolves_as_the_spelled_out_recipe_and_is_named_by_the_folder_only(tmp_path, preset):
    folder = _folder(tmp_path, recipe=RECIPE)
    alone = plan(_request(preset, pretrained=folder))
    spelled = plan(_request(preset, pretrained=folder, **RECIPE))
    assert alone.options == spelled.options, "the same options, so the same stage keys"
    assert [alone.options.cf_weight, alone.options.sampling_steps, alone.options.cfg_dropout] == [1.0, 30, 0.1]
    assert alone.options.dynamic_thresholding is False
    assert alone.settings == f"pretrained=shenzhen-cpu-9600-cfg01-{alone.settings.rsplit('-', 1)[1]}"
    line = pretrained_recipe(_request(preset, pretrained=folder)).line()
    assert line.startswith(f"pretrained: applied the recipe {folder} records, ")
    assert "cfg_dropout=0.1, cf_weight=1, dynamic_thresholding=false, sampling_steps=30" in line


def test_an_option_the_user_gives_wins_over_the_recipe_and_is_shown(tmp_path):
    folder = _folder(tmp_path, recipe=RECIPE)
    req = _request(pretrained=folder, sampling_steps=10, dynamic_thresholding=True)
    pl = plan(req)
    assert pl.options.sampling_steps == 10 and pl.options.dynamic_thresholding is True and pl.options.cf_weight == 1
    assert pl.settings.startswith("dynamic_thresholding=True,pretrained=shenzhen-cpu-9600-cfg01")
    one = plan(_request(pretrained=folder, sampling_steps=10))
    assert one.settings.endswith(",sampling_steps=10") and one.options.dynamic_thresholding is False
    line = pretrained_recipe(req).line()
    assert "applied the recipe" in line and "cfg_dropout=0.1, cf_weight=1 (given instead: " in line
    assert line.endswith("(given instead: dynamic_thresholding=true, sampling_steps=10)")


def test_a_folder_without_a_recipe_resolves_as_before_with_a_note(tmp_path):
    folder = _folder(tmp_path)
    pl = plan(_request(pretrained=folder))
    assert pl.options == replace(plan(_request(pretrained=str(tmp_path / "missing"))).options, pretrained=folder)
    assert (pl.options.cf_weight, pl.options.sampling_steps, pl.options.cfg_dropout) == (5.0, 10, 0.5)
    assert pl.options.dynamic_thresholding is True
    line = pretrained_recipe(_request(pretrained=folder, cf_weight=1)).line()
    assert line == (
        f"note: {folder} records no recipe (pretrained before 0.12.0), so none is applied; its measured start also "
        "takes --option cfg_dropout=0.1 --option dynamic_thresholding=false --option sampling_steps=30"
    )
    assert pretrained_recipe(_request(pretrained=folder, **RECIPE)).line() is None, "nothing left to suggest"


def test_joint_records_an_empty_recipe_and_applies_nothing(tmp_path):
    folder = _folder(tmp_path, method="joint", recipe={})
    pl = plan(_request(method="joint", pretrained=folder))
    assert pl.options == replace(plan(_request(method="joint", pretrained="missing")).options, pretrained=folder)
    assert pretrained_recipe(_request(method="joint", pretrained=folder)).line() is None


def test_a_folder_of_another_method_or_none_at_all_gets_no_recipe(tmp_path):
    joint = _folder(tmp_path, method="joint", recipe={"sampling_steps": 99})
    assert pretrained_recipe(_request(pretrained=joint)) is None, "refused by the run once its data is read"
    assert pretrained_recipe(_request(pretrained=str(tmp_path / "missing"))) is None
    assert pretrained_recipe(_request()) is None


def test_an_unreadable_record_is_refused_naming_it(tmp_path):
    folder = _folder(tmp_path)
    (tmp_path / "shenzhen-cpu-9600-cfg01" / RECORD).write_text("{not json")
    with pytest.raises(CorruptFileError, match=f"--option pretrained: .*{RECORD}: not a `bench pretrain` record"):
        plan(_request(pretrained=folder))
    (tmp_path / "shenzhen-cpu-9600-cfg01" / RECORD).write_text('{"method": "diffuseexpand", "recipe": 3}')
    with pytest.raises(CorruptFileError, match="pretrain it again"):
        plan(_request(pretrained=folder))


def test_bench_run_and_bench_expand_say_what_the_recipe_set_in_one_line(tmp_path):
    folder = _folder(tmp_path, recipe=RECIPE)  # a record without weights: refused once the data is read
    data = disc_folder(tmp_path / "discs")
    run = run_args(data, tmp_path / "runs", "--option", f"pretrained={folder}", method="diffuseexpand")
    expand = ["expand", "--method", "diffuseexpand", "--n", 4, "--dataset", data, "--out", tmp_path / "out"]
    for args in (run, [*expand, "--preset", "smoke", "--cache", tmp_path / "c", "--option", f"pretrained={folder}"]):
        res = invoke(*args, "--option", "sampling_steps=5")
        said = [line for line in res.output.splitlines() if "recipe" in line]
        assert said == [
            f"pretrained: applied the recipe {folder} records, cfg_dropout=0.1, cf_weight=1, "
            "dynamic_thresholding=false (given instead: sampling_steps=5)"
        ], res.output
        assert res.exit_code == 2 and res.output.splitlines()[-1].startswith("error: "), res.output
    assert_refused(invoke(*run), "--option pretrained", "is no finished `bench pretrain` folder")
