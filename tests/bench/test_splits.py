"""Train/test splits (bench/splits.py): a fixed test set per seed, nested train sets, range checks."""

from __future__ import annotations

import pytest

from bench.splits import FULL_RATIO, make_split

IDS = [f"case{i:03d}" for i in range(50)]


def test_split_ignores_input_order() -> None:
    a = make_split(IDS, seed=3, train_ratio=0.5)
    b = make_split(reversed(IDS), seed=3, train_ratio=0.5)
    c = make_split(sorted(IDS, key=lambda k: k[::-1]), seed=3, train_ratio=0.5)
    assert a == b == c
    assert list(a.train) == sorted(a.train) and list(a.test) == sorted(a.test)


def test_split_test_set_fixed_across_ratios_and_train_sets_nested() -> None:
    ratios = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    splits = [make_split(IDS, seed=7, train_ratio=r) for r in ratios]
    assert all(s.test == splits[0].test for s in splits)
    assert len(splits[0].test) == 5
    for small, big in zip(splits, splits[1:], strict=False):
        assert set(small.train) < set(big.train)
    for s, r in zip(splits, ratios, strict=True):
        assert len(s.train) == round(50 * r)
        assert not set(s.train) & set(s.test)
        assert set(s.train) | set(s.test) <= set(IDS)
    assert set(splits[-1].train) | set(splits[-1].test) == set(IDS)


def test_split_seeds_differ_and_repeat() -> None:
    assert make_split(IDS, seed=0).test != make_split(IDS, seed=1).test
    assert make_split(IDS, seed=0) == make_split(IDS, seed=0)
    assert make_split(IDS, seed=0).to_json()["test"] == list(make_split(IDS, seed=0).test)


@pytest.mark.parametrize(
    ("ratio", "test_fraction"), [(0.0, 0.1), (-0.2, 0.1), (0.95, 0.1), (1.0, 0.1), (0.5, 0.0), (0.5, 1.0)]
)
def test_split_invalid_ratio_raises(ratio: float, test_fraction: float) -> None:
    with pytest.raises(ValueError):
        make_split(IDS, seed=0, train_ratio=ratio, test_fraction=test_fraction)


@pytest.mark.parametrize("ratio", [0.0, 0.95, 0.9000001])
def test_the_harness_refuses_the_ratios_a_split_refuses_naming_the_option(ratio: float) -> None:
    from bench.config import ConfigError
    from bench.runner import check_ratio

    with pytest.raises(ValueError, match=r"^train_ratio must be in \(0, 0\.9\]") as split_error:
        make_split(IDS, seed=0, train_ratio=ratio)
    with pytest.raises(ConfigError, match=r"^--ratios must be in \(0, 0\.9\]") as option_error:
        check_ratio(ratio, "--ratios")
    assert str(option_error.value).removeprefix("--ratios") == str(split_error.value).removeprefix("train_ratio")
    make_split(IDS, seed=0, train_ratio=FULL_RATIO)
    check_ratio(FULL_RATIO)


def test_split_too_few_pairs_raises() -> None:
    with pytest.raises(ValueError, match="too few"):
        make_split(["only"], seed=0)


def test_exact_pair_counts_are_nested_per_seed_and_keep_the_ratio_splits_test_set():
    ids = [f"id{i:03d}" for i in range(138)]
    for seed in (0, 1):
        counted = [make_split(ids, seed, train_pairs=n) for n in (5, 9, 14, 28, 56, 124)]
        assert [len(s.train) for s in counted] == [5, 9, 14, 28, 56, 124]
        assert all(set(a.train) <= set(b.train) for a, b in zip(counted, counted[1:])), "the 9 are among the 14"
        full = make_split(ids, seed)
        assert {s.test for s in counted} == {full.test} and counted[-1].train == full.train
        assert counted[1].train_ratio is None and counted[1].to_json()["train_pairs"] == 9
    assert "train_pairs" not in make_split(ids, 0).to_json(), "ratio splits are written as before"


@pytest.mark.parametrize("count", [0, 1, 125])
def test_a_count_below_training_needs_or_beyond_the_split_is_refused(count):
    with pytest.raises(ValueError, match=rf"train_pairs must be in \[2, 124\] .*got {count}"):
        make_split([f"id{i:03d}" for i in range(138)], 0, train_pairs=count)
