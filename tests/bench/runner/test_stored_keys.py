"""Run keys, run folder names and the options that stage keys are made of, for every method and preset at its
defaults and for a few options set: recorded once (``stored_keys.json``) and compared here byte for byte, so that
no change to how options are declared or resolved can make a stored run or a cached stage unreachable."""

import json
from pathlib import Path

from bench.config import PRESETS, config_hash
from bench.runner.planning import plan, run_configs
from bench.runner.request import Request
from methods import METHODS
from methods.base import options_dict
from methods.diffuseexpand.sampling_config import SamplingConfig

STORED = Path(__file__).with_name("stored_keys.json")

OPTIONS_SET = [
    ("diffuseexpand", "cf+cg+cs", {"tau": 0.5, "guidance_scale": 0.1}),
    ("diffuseexpand", "cf", {"cfg_dropout": 0.1, "cf_weight": 1, "dynamic_thresholding": False, "sampling_steps": 30}),
    ("diffuseexpand", "cf+cg", {"denoiser_widths": "8,16", "guidance_every": 2, "mask_source": "augmented"}),
    ("diffuseexpand", "cf+cg+cs", {"pretrained": "pretrained/shenzhen-cpu", "prediction": "edm"}),
    ("joint", "default", {"sampling_steps": 30, "dynamic_thresholding": False, "pretrained": "pretrained/joint"}),
    ("joint", "default", {"snr_gamma": 5.0, "augment_p": 0.1}),
    ("synthmed", "pix2pix", {}),
]


def cases():
    """``(method, ablation, preset, options)`` of every recorded key."""
    for preset in PRESETS:
        for method, entry in METHODS.items():
            for ablation in entry.variants:
                yield method, ablation, preset, {}
        for method, ablation, options in OPTIONS_SET:
            yield method, ablation, preset, options


def keys(method, ablation, preset, options):
    """What a stored run and its cached stages are found by."""
    req = Request(method=method, ablation=ablation, dataset="demo", preset=preset, method_options=dict(options))
    pl = plan(req)
    ((cfg, folder),) = run_configs(req, pl, "demo", 0)
    found = {"run_key": cfg.key(), "run_folder": folder.as_posix(), "options": config_hash(options_dict(pl.options))}
    if method == "diffuseexpand":
        sampling = SamplingConfig.from_options(pl.options)
        found["sampling"] = f"{sampling.name} {config_hash(sampling.__dict__)}"
    return found


def case_name(method, ablation, preset, options):
    return f"{preset} {method} {ablation} {json.dumps(options, sort_keys=True)}"


def test_every_run_and_stage_key_is_as_recorded():
    stored = json.loads(STORED.read_text())
    found = {case_name(*case): keys(*case) for case in cases() if case_name(*case) in stored}  # a new method: none
    assert set(found) == set(stored), f"cases no longer made: {sorted(set(stored) - set(found))[:3]}"
    changed = {name: (stored[name], now) for name, now in found.items() if now != stored[name]}
    assert not changed, f"{len(changed)} of {len(found)} keys changed, e.g. {next(iter(changed.items()))}"
