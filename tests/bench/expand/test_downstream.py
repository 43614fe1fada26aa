"""The paired Dice of an expansion's runs vs origin on an external set: per-seed values over the seeds the interval
pairs."""

from __future__ import annotations

import pytest

from bench.expand.downstream import outside


def result(dice: float, version: str, split: str = "s") -> dict:
    per_image = {"a.png": dice - 0.01, "b.png": dice + 0.01}
    external = {"other": {"dice": dice, "dice_per_image": per_image, "fingerprint": version, "n": 2}}
    return {"dataset": {"fingerprint": split}, "metrics": {"dice": dice, "external": external}}


def test_a_seed_whose_origin_saw_another_version_of_the_set_is_left_out_of_every_figure():
    runs = {0: result(0.80, "v2"), 1: result(0.70, "v2"), 2: result(0.90, "v2")}
    origins = {0: result(0.75, "v2"), 1: result(0.60, "v2"), 2: result(0.10, "v1")}  # seed 2: an older set
    x = outside(runs, origins, "other")
    assert x["seeds"] == [0, 1]
    assert x["dice_origin"] == [0.75, 0.6] and x["dice_expanded"] == [0.8, 0.7]
    assert x["delta"] == pytest.approx([0.05, 0.1]) and x["delta_mean"] == pytest.approx(0.075)
    assert x["delta_low"] < x["delta_mean"] < x["delta_high"]  # the interval over the same two seeds


def test_a_seed_trained_on_other_real_pairs_is_left_out_and_no_seed_leaves_no_figures():
    runs = {0: result(0.80, "v2", split="a")}
    x = outside(runs, {0: result(0.75, "v2", split="b")}, "other")
    assert x["seeds"] == [] and x["delta"] == [] and x["delta_mean"] is None and x["delta_low"] is None
