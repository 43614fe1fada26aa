"""Δ vs origin in W&B summaries: each run's own Δ, and the paired Δ over the seeds of its setting, from stored
``results.json`` files (W&B itself replaced by a recorder)."""

import json

import pytest

from bench import tracking
from bench.results import SCHEMA_VERSION
from bench.runner import deltas
from bench.stats import paired_delta

ORIGIN = {0: 0.80, 1: 0.82, 2: 0.78}
METHOD = {0: 0.83, 1: 0.84, 2: 0.79}


def _store(out, method, seed, dice, settings=""):
    """A finished run's results.json under ``out``, logged offline, with two test images around its mean Dice."""
    ident = {
        "method": method,
        "ablation": "none" if method == "origin" else "full",
        "dataset": "discs",
        "model": "unet",
        "seed": seed,
        "train_ratio": 0.9,
        "augment": "none",
        "train_on": "real" if method == "origin" else "real+synthetic",
        "preset": "smoke",
        "settings": settings,
        "key": f"{method}{seed}{settings}",
    }
    res = {
        "schema_version": SCHEMA_VERSION,
        "run": ident,
        "config": {"train": {"epochs": 1}, "image_size": 32, "channels": 1},
        "dataset": {"synthetic": True},
        "versions": {},
        "git_hash": None,
        "date": "2026-01-01",
        "environment": {},
        "counts": {"real_train": 10, "test": 2},
        "metrics": {"dice": dice, "dice_std": 0.0, "dice_per_image": {"a": dice + 0.05, "b": dice - 0.05}},
        "method_stats": {},
        "timings": {},
        "unavailable": {},
        "tracking": {"mode": "offline", "id": ident["key"]},
    }
    name = f"{method}__{ident['ablation']}__unet__none__{ident['train_on']}" + (f"__{settings}" if settings else "")
    folder = out / "discs" / name / "ratio_0.9" / f"seed_{seed}"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(res))
    return res


def test_each_run_of_a_setting_gets_the_paired_delta_over_every_seed_with_its_origin(tmp_path, monkeypatch):
    out = tmp_path / "runs"
    method = {s: _store(out, "xlsor", s, d) for s, d in METHOD.items()}
    _store(out, "xlsor", 0, 0.99, settings="n=4")  # another setting: neither counted nor updated
    origin = {s: _store(out, "origin", s, ORIGIN[s]) for s in (0, 1)}

    d = deltas.setting_delta(method[2], out)  # seed 2's origin is not there yet: not used
    expected = paired_delta(
        {s: method[s]["metrics"]["dice_per_image"] for s in (0, 1)},
        {s: origin[s]["metrics"]["dice_per_image"] for s in (0, 1)},
    )
    assert d == expected and d.seeds == 2 and d.images == 4 and d.mean == pytest.approx(0.025)

    logged = []
    monkeypatch.setattr(tracking, "log_delta", lambda res, _, dice, setting: logged.append((res, dice, setting)) or 1)
    origin[2] = _store(out, "origin", 2, ORIGIN[2])
    assert deltas.update_paired_runs(origin[2], out) == 3  # every seed of the setting, so all of them agree
    assert sorted((r["run"]["seed"], dice) for r, dice, _ in logged) == [(s, ORIGIN[s]) for s in (0, 1, 2)]
    assert all(r["run"]["settings"] == "" for r, _, _ in logged)
    (setting,) = {s for _, _, s in logged}
    assert setting.seeds == 3 and setting.mean == pytest.approx(sum(METHOD[s] - ORIGIN[s] for s in ORIGIN) / 3)

    summary = tracking.delta_summary(METHOD[2], ORIGIN[2], setting)
    assert summary["delta_vs_origin"] == pytest.approx(0.01) and summary["setting/delta_seeds"] == 3
    assert (summary["setting/delta_low"], summary["setting/delta_high"]) == (setting.low, setting.high)
    assert summary["setting/delta_p"] == setting.p and summary["setting/delta_detectable"] == setting.detectable


def test_one_seed_has_no_interval_in_the_summary(tmp_path):
    out = tmp_path / "runs"
    method = _store(out, "xlsor", 0, 0.83)
    _store(out, "origin", 0, 0.80)
    summary = tracking.delta_summary(0.83, 0.80, deltas.setting_delta(method, out))
    assert summary["setting/delta_seeds"] == 1 and summary["setting/delta_vs_origin"] == pytest.approx(0.03)
    assert not {f"setting/delta_{k}" for k in ("low", "high", "p", "detectable")} & set(summary)
    assert deltas.setting_delta(_store(out, "xlsor", 1, 0.9), out).seeds == 1  # seed 1 has no origin: not used
