import dataclasses

import pytest

from bench.config import (
    PRESETS,
    ConfigError,
    RunConfig,
    TrainConfig,
    check_type,
    config_hash,
    merge_options,
    preset,
    settings_tag,
)
from bench.runner import Request, plan


def test_merge_options_layers_and_rejects_unknown_keys():
    cfg = merge_options(TrainConfig, {}, {"epochs": 3}, {"lr": 0.5})
    assert (cfg.epochs, cfg.lr, cfg.batch_size) == (3, 0.5, 16)
    with pytest.raises(ConfigError, match="unknown training option.*epoch_count"):
        merge_options(TrainConfig, {}, {"epoch_count": 3}, where="training")


def test_every_preset_resolves_to_a_valid_training_config():
    for name in PRESETS:
        cfg = merge_options(TrainConfig, {}, preset(name)["train"])
        assert cfg.epochs > 0
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("huge")


def test_config_hash_changes_with_any_field():
    base = RunConfig(method="origin", ablation="none", dataset="d", model="unet", seed=0)
    assert base.key() == RunConfig(**dataclasses.asdict(base) | {"train": TrainConfig()}).key()
    assert base.key() != dataclasses.replace(base, seed=1).key()
    assert base.key() != dataclasses.replace(base, train=TrainConfig(lr=0.1)).key()
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})


@pytest.mark.parametrize(
    "change",
    [
        {"preset": "smoke"},
        {"train_options": {"epochs": 7}},
        {"image_size": 48},
        {"n_synthetic": 3},
    ],
)
def test_request_options_change_the_resolved_plan(change):
    base = plan(Request(method="origin"))
    other = plan(Request(method="origin", **change))
    assert base != other


def test_plan_rejects_bad_values_with_suggestions():
    with pytest.raises(ConfigError, match="Did you mean 'origin'"):
        plan(Request(method="orign"))
    with pytest.raises(ConfigError, match="unknown model 'unett'"):
        plan(Request(method="origin", models=("unett",)))
    with pytest.raises(ConfigError, match="unknown augment"):
        plan(Request(method="origin", augment="mixup"))
    with pytest.raises(ConfigError, match="generates no pairs"):
        plan(Request(method="origin", train_on="synthetic"))
    with pytest.raises(ConfigError, match="unknown origin method option"):
        plan(Request(method="origin", method_options={"tau": 0.5}))


def test_list_options_take_the_comma_form_of_the_list_flags():
    hint = tuple[int, ...]
    assert check_type("16,32,64", hint, "denoiser_widths") == check_type([16, 32, 64], hint, "x") == (16, 32, 64)
    assert check_type(8, hint, "x") == (8,)
    with pytest.raises(ConfigError, match="denoiser_widths: must be a whole number, got 'a'"):
        check_type("16,a", hint, "denoiser_widths")


def test_origin_always_trains_on_real_data():
    assert plan(Request(method="origin")).train_on == "real"


def test_overrides_name_the_run_folder_so_sweeps_do_not_collide():
    default = plan(Request(method="diffuseexpand"))
    half = plan(Request(method="diffuseexpand", method_options={"tau": 1 / 2}))
    third = plan(Request(method="diffuseexpand", method_options={"tau": 1 / 3}, train_options={"epochs": 40}))
    assert default.settings == "" and half.settings == "tau=0.5"
    assert third.settings == "tau=0.333333,train.epochs=40"
    widths = [plan(Request(method="diffuseexpand", method_options={"denoiser_widths": w})) for w in ("8,16", [8, 16])]
    assert widths[0].settings == widths[1].settings == "denoiser_widths=8-16"
    run = RunConfig(method="diffuseexpand", ablation="cf", dataset="d", model="unet", seed=0)
    assert run.run_name == "diffuseexpand__cf__unet__none__real+synthetic"
    assert dataclasses.replace(run, settings=half.settings).run_name.endswith("__tau=0.5")


def test_settings_tag_is_file_name_safe_and_bounded():
    tag = settings_tag({"pretrained": "/models/adm unet", "n_synthetic": None})
    assert tag.startswith("pretrained=adm_unet-") and "models" not in tag
    assert tag != settings_tag({"pretrained": "/other/adm unet"})  # two folders of one name stay apart
    assert settings_tag({"pretrained": "C:\\models\\adm"}).startswith("pretrained=adm-")
    assert settings_tag({"denoiser_widths": (16, 32)}) == "denoiser_widths=16-32"
    long = settings_tag({f"option_{i}": i for i in range(20)})
    assert len(long) <= 80 and long != settings_tag({f"option_{i}": i + 1 for i in range(20)})


@pytest.mark.parametrize("folder", ["runs/de,half", "de,half", "pre/a=b", "C:\\pre\\x,y=z"])
def test_a_comma_or_equals_sign_in_a_folder_name_does_not_split_the_settings_tag(folder):
    from bench.artifacts.cells import settings_keys

    tag = settings_tag({"pretrained": folder, "tau": 0.5})
    assert settings_keys(tag) == {"pretrained", "tau"}, tag
    name = folder.replace("\\", "/").rpartition("/")[2]
    assert tag.startswith(f"pretrained={name.replace(',', '_').replace('=', '_')}")
    assert settings_tag({"pretrained": "runs/de-half"}).startswith("pretrained=de-half-"), "other names as they were"
