"""Deterministic train/test splits of a pair set: sorted ids, a seeded shuffle, a fixed test set per seed."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from bench.pairs import DatasetError

MIN_SPLIT_PAIRS = 2
TEST_FRACTION = 0.1
FULL_RATIO = 1 - TEST_FRACTION  # the default train ratio: every pair that is not in the test set


def check_train_ratio(train_ratio: float, name: str = "train_ratio", test_fraction: float = TEST_FRACTION) -> None:
    """Refuse a ratio outside (0, 1 - test_fraction], naming it ``name``: the rest of the pairs is the test set."""
    if not 0 < train_ratio <= 1 - test_fraction + 1e-9:
        raise ValueError(
            f"{name} must be in (0, {1 - test_fraction:g}] (the rest is the test set), got {train_ratio:g}"
        )


def check_train_pairs(train_pairs: int, available: int, name: str = "train_pairs") -> None:
    """Refuse a count of training pairs below ``MIN_SPLIT_PAIRS`` or above the ``available`` pairs a split leaves
    after its test set, naming it ``name``."""
    if not MIN_SPLIT_PAIRS <= train_pairs <= available:
        raise ValueError(
            f"{name} must be in [{MIN_SPLIT_PAIRS}, {available}] (the pairs the split leaves beside its test set; "
            f"at least {MIN_SPLIT_PAIRS} to train), got {train_pairs}"
        )


def _split_sizes(n: int, train_ratio: float, test_fraction: float) -> tuple[int, int]:
    """(training pairs, test pairs) that :func:`make_split` takes from ``n`` pairs."""
    n_test = max(1, round(n * test_fraction))
    return min(max(0, n - n_test), max(1, round(n * train_ratio))), n_test


@dataclass(frozen=True)
class Split:
    """Ids of one train/test split. ``test`` depends only on the seed, never on ``train_ratio`` or ``train_pairs``
    (an exact count of training pairs, when one was asked for instead of a ratio; ``train_ratio`` is then None)."""

    seed: int
    train_ratio: float | None
    test_fraction: float
    train: tuple[str, ...]
    test: tuple[str, ...]
    train_pairs: int | None = None

    def to_json(self) -> dict:
        counted = {"train_pairs": self.train_pairs} if self.train_pairs is not None else {}
        return {
            "seed": self.seed,
            "train_ratio": self.train_ratio,
            **counted,
            "test_fraction": self.test_fraction,
            "train": list(self.train),
            "test": list(self.test),
        }


def make_split(
    ids: Iterable[str],
    seed: int,
    train_ratio: float = FULL_RATIO,
    test_fraction: float = TEST_FRACTION,
    train_pairs: int | None = None,
) -> Split:
    """Sorted, seeded split; few-shot ratios (or exact pair counts) subsample the training part only.

    The ids are sorted, shuffled with ``seed``, and the first ``round(N * test_fraction)`` form the test set.
    The training set is the first ``round(N * train_ratio)`` of the rest, or its first ``train_pairs`` when a count
    is given (``train_ratio`` is then ignored), so for one seed the test set is the same at every ratio and count,
    and smaller training sets are nested in larger ones.

    Both parts need at least ``MIN_SPLIT_PAIRS`` pairs: a Dice measured on one test image is no result, and a
    single training pair makes a batch of one, which BatchNorm cannot train on.

    Raises:
        DatasetError: too few pairs for a test split of ``MIN_SPLIT_PAIRS`` (the message gives the minimum).
        ValueError: a ratio outside (0, 1 - test_fraction], one that leaves too few training pairs, or a
            ``train_pairs`` outside [``MIN_SPLIT_PAIRS``, the pairs beside the test set].
    """
    ordered = sorted(ids)
    n = len(ordered)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if train_pairs is None:
        check_train_ratio(train_ratio, test_fraction=test_fraction)
    sizes = _split_sizes(n, 1 - test_fraction if train_pairs is not None else train_ratio, test_fraction)
    if sizes[1] < MIN_SPLIT_PAIRS or n - sizes[1] < MIN_SPLIT_PAIRS:
        least = next(
            m for m in range(n + 1, 10**6) if min(_split_sizes(m, 1 - test_fraction, test_fraction)) >= MIN_SPLIT_PAIRS
        )
        raise DatasetError(
            f"{n} pairs are too few to split: the test split ({test_fraction:.0%} of the pairs) would hold "
            f"{sizes[1]} image(s) and at least {MIN_SPLIT_PAIRS} are needed; the set needs at least {least} pairs"
        )
    n_train, n_test = sizes
    if train_pairs is not None:
        check_train_pairs(train_pairs, n - n_test)
        n_train = train_pairs
    elif n_train < MIN_SPLIT_PAIRS:
        raise ValueError(
            f"train_ratio {train_ratio:g} leaves {n_train} training pair(s) of {n}; at least {MIN_SPLIT_PAIRS} are "
            f"needed (train_ratio >= {MIN_SPLIT_PAIRS / n:.3g})"
        )
    perm = ordered[:]
    random.Random(seed).shuffle(perm)
    test, pool = perm[:n_test], perm[n_test:]
    ratio = None if train_pairs is not None else train_ratio
    return Split(seed, ratio, test_fraction, tuple(sorted(pool[:n_train])), tuple(sorted(test)), train_pairs)
