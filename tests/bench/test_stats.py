"""The paired Δ's interval, p-value and detectable Δ, checked on simulated designs with a known true Δ: each seed has
its own random effect on Δ (its split and trained networks) and each test image its own noise."""

import numpy as np
import pytest
import scipy.stats

from bench.stats import (
    LEVEL,
    METHOD,
    detectable_delta,
    over_seeds,
    p_text,
    paired_delta,
    results_delta,
    run_scores,
    seeds_to_detect,
    set_version,
)

DESIGNS = 200
SEED_SD, IMAGE_SD = 0.02, 0.03  # seed-level random effect on Δ; per-image noise of a Dice difference


def simulate(true_delta: float, seeds: int, images: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-image Dice of origin and of the run, shape (DESIGNS, seeds, images): origin has its own seed and image
    effects (which pairing removes), the run adds the true Δ, a seed effect and image noise."""
    shape = (DESIGNS, seeds, images)
    origin = 0.85 + rng.normal(0, 0.03, shape[:2])[..., None] + rng.normal(0, 0.05, shape)
    run = origin + true_delta + rng.normal(0, SEED_SD, shape[:2])[..., None] + rng.normal(0, IMAGE_SD, shape)
    return run, origin


def by_seed(dice: np.ndarray) -> dict[int, dict[str, float]]:
    """One design's (seeds, images) array as seed -> image id -> Dice."""
    return {s: {f"img{i:03d}": float(v) for i, v in enumerate(row)} for s, row in enumerate(dice)}


def designs(true_delta: float, seeds: int, images: int, seed: int):
    run, origin = simulate(true_delta, seeds, images, np.random.default_rng(seed))
    return [paired_delta(by_seed(a), by_seed(b)) for a, b in zip(run, origin)], run - origin


@pytest.mark.parametrize("seeds", [3, 5])
def test_the_interval_covers_a_known_delta_in_at_least_90_percent_of_designs(seeds):
    results, _ = designs(0.02, seeds, 14, seed=seeds)
    covered = np.mean([d.low <= 0.02 <= d.high for d in results])
    assert covered >= 0.9
    assert all(d.seeds == seeds and d.images == seeds * 14 and d.method == METHOD for d in results)


@pytest.mark.parametrize("seeds", [3, 5])
def test_a_zero_delta_is_called_significant_in_at_most_10_percent_of_designs(seeds):
    results, _ = designs(0.0, seeds, 14, seed=10 + seeds)
    assert np.mean([d.significant for d in results]) <= 0.1
    assert np.mean([d.p < 1 - LEVEL for d in results]) <= 0.1


def test_treating_seeds_times_images_as_independent_would_fail_the_same_checks():
    """The test above has teeth: an interval over every seed × image difference as if independent is too narrow."""
    _, diffs = designs(0.0, 3, 14, seed=3)
    flat = diffs.reshape(DESIGNS, -1)
    low, high = scipy.stats.ttest_1samp(flat, 0, axis=1).confidence_interval(LEVEL)
    assert np.mean((low <= 0) & (0 <= high)) < 0.8


def test_a_true_delta_of_the_detectable_size_is_found_in_80_percent_of_designs():
    """Per-seed Δ with the spread the detectable Δ was computed for: the paired t rejects about 80 % of the time."""
    rng = np.random.default_rng(7)
    for seeds in (3, 5):
        size = detectable_delta(SEED_SD, seeds)
        deltas = rng.normal(size, SEED_SD, (4000, seeds))
        rejected = scipy.stats.ttest_1samp(deltas, 0, axis=1).pvalue < 1 - LEVEL
        assert abs(rejected.mean() - 0.8) < 0.03
        assert [over_seeds(list(d)).p for d in deltas[:20]] == pytest.approx(
            list(scipy.stats.ttest_1samp(deltas[:20], 0, axis=1).pvalue)
        )
    assert detectable_delta(1.0, 3) > detectable_delta(1.0, 5) > detectable_delta(1.0, 30) > 2.8 / 30**0.5


def test_the_observed_seed_spread_sets_the_detectable_delta_of_a_design():
    d = over_seeds([0.01, 0.03, 0.02], images=42)
    assert d.detectable == pytest.approx(detectable_delta(0.01, 3))
    assert d.text() == "+0.0200 [-0.0048, +0.0448] p=0.074" and d.detectable_text() == f"{d.detectable:.4f}"


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.0479, "p=0.048"), (0.13, "p=0.13"), (0.0071, "p=0.0071"), (0.5, "p=0.50"), (0.001, "p=0.0010")]
    + [(0.000999, "p<0.001"), (0.0499, "p=0.0499"), (0.04996, "p=0.04996"), (0.0504, "p=0.050"), (0.0995, "p=0.10")],
)
def test_p_has_two_significant_digits_and_never_rounds_across_the_level(p, text):
    assert p_text(p) == text


def test_a_delta_whose_interval_just_excludes_0_never_reads_p_at_the_level():
    d = over_seeds([-0.0034, -0.008, -0.0062], images=42)
    assert d.significant and d.high < 0 and 0.045 < d.p < 0.05
    assert d.text() == "-0.0059 [-0.0116, -0.0001] p=0.048"


def test_one_seed_has_no_interval_and_says_so_instead_of_a_number():
    d = paired_delta({0: {"a": 0.9, "b": 0.8}, 1: {"a": 0.7}}, {0: {"a": 0.85, "b": 0.8}})
    assert (d.low, d.high, d.p, d.detectable, d.seeds, d.images) == (None, None, None, None, 1, 2)
    assert d.mean == pytest.approx(0.025) and not d.significant
    assert d.text() == "+0.0250, 1 seed, no interval" and d.detectable_text() == "n/a (1 seed)"
    assert d.record()["delta_low"] is None


def test_seeds_without_their_origin_and_images_scored_by_one_run_only_are_not_used():
    run = {0: {"a": 0.9, "b": 0.5}, 1: {"a": 0.8, "b": 0.6}, 2: {"a": 0.1}}
    origin = {0: {"a": 0.8}, 1: {"a": 0.7, "b": 0.6}, 3: {"a": 0.9}}
    d = paired_delta(run, origin)
    assert d.seeds == 2 and d.images == 3 and d.mean == pytest.approx((0.1 + 0.05) / 2)
    assert paired_delta({0: {"a": 0.9}}, {1: {"a": 0.9}}) is None
    assert paired_delta({0: {"a": 0.9}}, {0: {"b": 0.9}}) is None


def test_identical_deltas_have_no_spread_and_are_never_called_significant():
    d = over_seeds([0.01, 0.01, 0.01])
    assert (d.low, d.high, d.p, d.detectable) == (None, None, None, None) and not d.significant
    assert d.text() == "+0.0100, no spread over seeds, no interval"
    assert not over_seeds([0.0, 0.0]).significant


def test_stored_runs_pair_per_image_on_the_test_split_or_an_external_set_and_fall_back_to_the_mean():
    def res(dice, per_image, external=None):
        metrics = {"dice": dice, "dice_per_image": per_image}
        if external is not None:
            metrics["external"] = {"shenzhen": {"dice": 0.0, "dice_std": 0.0, "dice_per_image": external, "n": 2}}
        return {"metrics": metrics}

    runs = {0: res(0.9, {"a": 1.0, "b": 0.8}, {"x": 0.7, "y": 0.6}), 1: res(0.8, {}, {"x": 0.5, "y": 0.5})}
    origins = {0: res(0.8, {"a": 0.9, "b": 0.7}, {"x": 0.6, "y": 0.6}), 1: res(0.75, {}), 2: res(0.5, {})}
    test = results_delta(runs, origins)
    assert test.seeds == 2 and test.images == 2 and test.mean == pytest.approx((0.1 + 0.05) / 2)
    external = results_delta(runs, origins, "shenzhen")
    assert external.seeds == 1 and external.images == 2 and external.mean == pytest.approx(0.05)
    assert run_scores(res(0.9, {}), "shenzhen") is None and run_scores(res(0.9, {})) == 0.9
    with pytest.raises(ValueError, match="at least one seed"):
        over_seeds([])


def test_stored_runs_pair_on_an_external_set_only_where_both_were_scored_on_the_same_version_of_it():
    """Seed 0: both runs scored on shenzhen as it held the same pairs; seed 1: the origin after they changed; seed 2:
    the run recorded no fingerprint of the set (an older run), its origin did; seed 3: neither recorded one."""

    def res(dice, fingerprint):
        scored = {"dice": dice, "dice_std": 0.0, "dice_per_image": {"x": dice}, "n": 1}
        if fingerprint:
            scored["fingerprint"] = fingerprint
        return {"metrics": {"dice": 0.9, "dice_per_image": {}, "external": {"shenzhen": scored}}}

    runs = {0: res(0.72, "v1"), 1: res(0.9, "v1"), 2: res(0.9, None), 3: res(0.74, None)}
    origins = {0: res(0.7, "v1"), 1: res(0.5, "v2"), 2: res(0.5, "v1"), 3: res(0.7, None)}
    d = results_delta(runs, origins, "shenzhen")
    assert d.seeds == 2 and d.mean == pytest.approx((0.02 + 0.04) / 2)
    assert results_delta(runs, origins).seeds == 4  # the test split has no such version to tell apart
    assert set_version(runs[0], "shenzhen") == "v1" and set_version(runs[0], "jsrt") is None


def test_the_seeds_a_design_would_need_are_the_fewest_that_reach_the_target():
    for sd in (0.001, 0.02, 0.1):
        n = seeds_to_detect(sd, 0.01)
        assert detectable_delta(sd, n) <= 0.01 < (detectable_delta(sd, n - 1) if n > 2 else 1.0)
    assert seeds_to_detect(0.01, 0.01) < seeds_to_detect(0.02, 0.01) < seeds_to_detect(0.1, 0.01)
    d = over_seeds([0.01, 0.05, 0.03])
    assert d.spread == pytest.approx(0.02) and d.seeds_needed(0.01) == seeds_to_detect(0.02, 0.01)
    assert over_seeds([0.02]).seeds_needed() is None
