"""The verdict and the per-pair rows of an expansion, from hand-made expansions (no training)."""

from __future__ import annotations

import pytest
from synthetic_pairs import disc_pairs

from bench.expand.downstream import interval
from bench.expand.records import pair_rows
from bench.expand.verdict import DOWNSTREAM, make_verdict
from bench.pairs import PairSet
from bench.stats import over_seeds
from methods.base import Expansion, PairRecord


def _expansion(dice: list[float], decisions: list[str]) -> Expansion:
    generated = disc_pairs(len(dice))
    generated = PairSet([f"syn_{i:05d}" for i in range(len(dice))], generated.images, generated.masks, "g", True)
    records = [
        PairRecord(k, 10 + i, d, {"tau": 1.0, "dice_loss": round(1 - x, 6)})
        for i, (k, x, d) in enumerate(zip(generated.ids, dice, decisions))
    ]
    keep = [k for k, d in zip(generated.ids, decisions) if d != "dropped"]
    return Expansion(generated.subset(keep), records, generated=generated)


def test_rows_and_verdict_of_a_filtered_expansion():
    expansion = _expansion([0.95, 0.6, 0.2], ["kept", "relabelled", "dropped"])
    nearest = [
        {"generated": f"syn_{i:05d}", "real": "d00", "distance": 0.1 * i, "ssim": 0.5, "close": i == 0}
        for i in range(3)
    ]
    rows = pair_rows(expansion, nearest)
    assert [(r["decision"], r["dice"], r["nn_distance"], r["file"]) for r in rows] == [
        ("kept", 0.95, 0.0, "images/syn_00000.png"),
        ("relabelled", 0.6, 0.1, "images/syn_00001.png"),
        ("dropped", 0.2, 0.2, None),
    ]
    counts = {"generated": 3, **expansion.counts(), "written": 2}
    kw = dict(method="diffuseexpand", ablation="cf+cg+cs", dataset="d", preset="cpu", filters=True, real_pairs=20)
    memo = {"share_closer_than_real": 2 / 3, "share_copies": 1 / 3}
    v = make_verdict(counts=counts, generated_dice=[0.95, 0.6, 0.2], real_dice=0.9, memorisation=memo, **kw)
    assert v["masks"]["dice_generated"] == 0.5833 and "much less well than" in v["masks"]["text"]
    assert v["copies"]["near_copies"] == 2 and "near-copies" in v["copies"]["text"]
    assert v["copies"]["pixel_copies"] == 1 and "1 of 3 generated images (33%) are closer in pixels" in v["lines"][1]
    assert v["filter"]["enough"] and "1 kept + 1 relabelled of 3" in v["filter"]["text"]
    assert v["downstream"]["text"].startswith(DOWNSTREAM) and "bench run --method diffuseexpand" in v["lines"][3]

    assert not v["recommendation"]["recommended"] and "not measured (--evaluate" in v["lines"][4]
    assert "2 generated image(s) are near-copies" in v["lines"][4]

    gain = {"seeds": [0, 1, 2], "model": "unet", "train_pairs": 18, "test_pairs": 2, "dice_origin": [0.8, 0.8, 0.8]}
    gain |= {"dice_expanded": [0.85, 0.86, 0.84], "delta": [0.05, 0.06, 0.04], "delta_mean": 0.05, "delta_std": 0.01}
    gain |= interval(over_seeds(gain["delta"]))
    assert gain["p_value"] == pytest.approx(0.0131, abs=1e-4)  # t = 0.05 / (0.01 / sqrt 3) = 8.66, 2 dof, two-sided
    clean = {"share_closer_than_real": 0.0, "share_copies": 0.0}
    v = make_verdict(counts=counts, generated_dice=[0.9], real_dice=0.9, memorisation=clean, evaluation=gain, **kw)
    assert v["recommendation"] == {"recommended": True, "failed": [], "text": v["lines"][4]}
    assert "paired Δ +0.0500 [+0.0252, +0.0748] p=0.013 over 3 seed(s) (paired t-test over seeds): a gain" in (
        v["lines"][3]
    )
    # mean above one std is not enough with three seeds: t = 0.0015 / (0.0011 / sqrt 3) = 2.3, p = 0.15
    small = [0.0005, 0.0027, 0.0012]
    noise = gain | {"delta": small, "delta_mean": 0.0015, "delta_std": 0.0011, **interval(over_seeds(small))}
    v = make_verdict(counts=counts, generated_dice=[0.9], real_dice=0.9, memorisation=clean, evaluation=noise, **kw)
    assert v["recommendation"]["failed"] == ["the paired downstream Δ is not positive beyond the seed spread"]
    assert "[-0.0013, +0.0043] p=0.15" in v["lines"][3] and "detect a Δ of 0.0037 with 80% power" in v["lines"][3]
    worse = gain | {"delta_mean": -0.05, **interval(over_seeds([-0.05, -0.06, -0.04]))}
    v = make_verdict(counts=counts, generated_dice=[0.9], real_dice=0.9, memorisation=clean, evaluation=worse, **kw)
    assert v["lines"][3].endswith(": no gain") and not v["recommendation"]["recommended"]
    one = gain | {"seeds": [0], "delta_std": None, **interval(over_seeds([0.05]))}
    assert one["delta_low"] is None and one["p_value"] is None and one["detectable"] is None
    v = make_verdict(counts=counts, generated_dice=[0.9], real_dice=0.9, memorisation=clean, evaluation=one, **kw)
    assert not v["recommendation"]["recommended"] and "evaluate two or more seeds" in v["lines"][3]
    assert "+0.0500, 1 seed, no interval" in v["lines"][3]

    nothing = {"generated": 3, "kept": 0, "relabelled": 0, "dropped": 3, "written": 0}
    v = make_verdict(counts=nothing, generated_dice=[0.1] * 3, real_dice=0.5, memorisation=None, **kw)
    assert not v["filter"]["enough"] and "none passed" in v["filter"]["text"]
    assert v["masks"]["weak_network"] and "says little" in v["masks"]["text"]
    assert not v["copies"]["available"] and "not measured" in v["copies"]["text"]
