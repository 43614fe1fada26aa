"""The paired Δ vs origin: its 95 % interval, its p-value and the smallest Δ its design could detect.

Each seed draws its own split and trains its own networks, so the test images of one seed share that seed's
training randomness: they are not independent replicates of it, and a test that counts seeds × images as
independent claims far more certainty than the design has. The seed is the unit of replication. Within a seed, a
run and its origin are scored on the same test images, so the seed's Δ is the mean paired per-image difference;
across seeds these Δ are independent, and a paired t-test over them (df = seeds − 1) gives the interval and the
p-value. docs/explanation/statistics.md says why this test and what the detectable Δ assumes.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LEVEL = 0.95  # two-sided confidence level of every interval
ALPHA = round(1 - LEVEL, 12)  # the test's level, 0.05 (not the float 1 - 0.95 = 0.050000000000000044)
POWER = 0.8  # the power at which the detectable Δ is stated
TARGET = 0.01  # the detectable Δ a reference design aims at; artifacts say how many seeds would reach it
METHOD = "paired t-test over seeds (per-seed mean Δ over the paired test images, df = seeds - 1)"

RECORD = ("delta_vs_origin", "delta_low", "delta_high", "delta_p", "delta_detectable", "delta_seeds", "delta_images")
"""A :class:`PairedDelta` as flat columns (:meth:`PairedDelta.record`)."""

Scores = Mapping[str, float]
"""One run's Dice per test image (image id -> Dice)."""
SeedScores = Scores | float
"""A seed's per-image Dice, or only its mean over the test images for a run that stored no per-image values."""


@dataclass(frozen=True)
class PairedDelta:
    """The paired Δ of a run vs its origin over the seeds both have.

    Attributes:
        mean: mean over seeds of the seed's Δ (mean over its paired test images of run − origin).
        low, high: the two-sided :data:`LEVEL` interval of the mean; None with one seed (no spread to go by).
        p: two-sided p-value of "mean Δ = 0"; None with one seed.
        method: how ``low``, ``high`` and ``p`` were computed (:data:`METHOD`).
        seeds: seeds paired (those both have).
        images: paired test images over those seeds (only seeds stored per image count).
        detectable: the smallest |Δ| this design detects with :data:`POWER` at the test's level, given the
            observed seed spread (:func:`detectable_delta`); None with one seed.
        spread: the sample std of the per-seed Δ; None with one seed or where only the figures above were stored.
    """

    mean: float
    low: float | None
    high: float | None
    p: float | None
    method: str
    seeds: int
    images: int
    detectable: float | None
    spread: float | None = None

    @property
    def significant(self) -> bool:
        """The interval excludes 0 (p below :data:`ALPHA`)."""
        return self.p is not None and self.p < ALPHA

    def text(self, digits: int = 4) -> str:
        """``+0.0057 [-0.0012, +0.0126] p=0.08``; one seed: ``+0.0057, 1 seed, no interval``."""
        mean = f"{self.mean:+.{digits}f}"
        if self.low is None or self.high is None or self.p is None:
            return f"{mean}, 1 seed, no interval" if self.seeds == 1 else f"{mean}, no spread over seeds, no interval"
        return f"{mean} [{self.low:+.{digits}f}, {self.high:+.{digits}f}] {p_text(self.p)}"

    def detectable_text(self, digits: int = 4) -> str:
        """The detectable Δ as a cell: ``0.0123``, or ``n/a (1 seed)`` / ``n/a (no spread)``."""
        if self.detectable is None:
            return "n/a (1 seed)" if self.seeds == 1 else "n/a (no spread)"
        return f"{self.detectable:.{digits}f}"

    def seeds_needed(self, target: float = TARGET) -> int | None:
        """The seeds this spread would need for a detectable Δ of ``target`` (:func:`seeds_to_detect`); None
        without a spread."""
        return None if self.spread is None else seeds_to_detect(self.spread, target)

    def record(self) -> dict[str, Any]:
        """:data:`RECORD`'s flat keys, for CSV files; absent figures are None."""
        return dict(zip(RECORD, (self.mean, self.low, self.high, self.p, self.detectable, self.seeds, self.images)))


def p_text(p: float) -> str:
    """``p=0.13``, ``p=0.048``, ``p=0.0071``, ``p<0.001``: two significant digits, so a p just below the test's
    level never reads as that level beside an interval that excludes 0; more digits where two would still round it
    across the level (0.0499 -> 0.0499, not 0.050)."""
    if p < 0.001:
        return "p<0.001"
    digits = 2
    while (float(f"{p:.{digits}g}") < ALPHA) != (p < ALPHA):
        digits += 1
    return f"p={p:#.{digits}g}"


def seed_delta(run: SeedScores, origin: SeedScores) -> tuple[float, int] | None:
    """One seed's Δ and the test images it pairs: the mean per-image difference over the images both scored, or
    the difference of the means where either run stored only its mean (0 images counted); None when per-image
    values share no image."""
    if isinstance(run, Mapping) and isinstance(origin, Mapping) and run and origin:
        common = sorted(run.keys() & origin.keys())
        if not common:
            return None
        return statistics.fmean(run[k] - origin[k] for k in common), len(common)
    mean = [v if not isinstance(v, Mapping) else statistics.fmean(v.values()) if v else None for v in (run, origin)]
    if mean[0] is None or mean[1] is None:
        return None
    return mean[0] - mean[1], 0


def paired_delta(run: Mapping[int, SeedScores], origin: Mapping[int, SeedScores]) -> PairedDelta | None:
    """The Δ of ``run`` vs ``origin`` (each seed -> its Dice per test image) over the seeds both have; a seed
    without its origin is not used. None when no seed pairs."""
    paired = [d for s in sorted(run.keys() & origin.keys()) if (d := seed_delta(run[s], origin[s])) is not None]
    if not paired:
        return None
    return over_seeds([d for d, _ in paired], sum(n for _, n in paired))


def over_seeds(deltas: Sequence[float], images: int = 0) -> PairedDelta:
    """The paired t-test over per-seed Δ: mean, :data:`LEVEL` interval, two-sided p and detectable Δ.

    Identical Δ on every seed have no spread to measure the design's noise by: no interval and no p, as for one
    seed (a degenerate design, e.g. every run scoring the same, is never called significant).

    Raises:
        ValueError: no Δ.
    """
    import scipy.stats  # here, not at import: the command line's help and refusals load no scipy

    if not deltas:
        raise ValueError("a paired Δ needs at least one seed")
    n, mean = len(deltas), statistics.fmean(deltas)
    if n == 1:
        return PairedDelta(mean, None, None, None, METHOD, 1, images, None)
    sd = statistics.stdev(deltas)
    if math.isclose(sd, 0.0, abs_tol=1e-12):  # equal Δ up to rounding
        return PairedDelta(mean, None, None, None, METHOD, n, images, None)
    half = float(scipy.stats.t.ppf((1 + LEVEL) / 2, n - 1)) * sd / math.sqrt(n)
    p = 2 * float(scipy.stats.t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1))
    return PairedDelta(mean, mean - half, mean + half, p, METHOD, n, images, detectable_delta(sd, n), sd)


def detectable_delta(sd: float, seeds: int, power: float = POWER) -> float | None:
    """The smallest true |Δ| a two-sided paired t-test over ``seeds`` seeds (level 1 - :data:`LEVEL`) rejects with
    probability ``power``, when the per-seed Δ spread (sample std) is ``sd``: the noncentral t's noncentrality
    ``δ·√seeds / sd`` at which the rejection probability reaches ``power``. None below two seeds."""
    import scipy.optimize
    import scipy.stats

    if seeds < 2:
        return None
    if sd == 0:
        return 0.0
    df = seeds - 1
    crit = scipy.stats.t.ppf((1 + LEVEL) / 2, df)

    def shortfall(nc: float) -> float:  # P(T' > crit) + P(T' < -crit), the lower tail by symmetry (cdf gives NaN)
        return scipy.stats.nct.sf(crit, df, nc) + scipy.stats.nct.sf(crit, df, -nc) - power

    upper = 2 * crit + 4
    while shortfall(upper) < 0:
        upper *= 2
    nc = scipy.optimize.brentq(shortfall, 0.0, upper, xtol=1e-10)
    return float(nc * sd / math.sqrt(seeds))


def seeds_to_detect(sd: float, target: float = TARGET, power: float = POWER) -> int:
    """The fewest seeds at which :func:`detectable_delta` of a per-seed spread ``sd`` is at most ``target``: how
    large a design would have to be, not a promise that the spread stays the same with more seeds. The search
    starts at the normal approximation ((z + z_power) · sd / target)², which the t-test never beats.

    Raises:
        ValueError: ``target`` not above 0.
    """
    import scipy.stats

    if target <= 0:
        raise ValueError(f"target must be > 0, got {target}")
    if sd <= 0:
        return 2
    z = scipy.stats.norm.ppf((1 + LEVEL) / 2) + scipy.stats.norm.ppf(power)
    low = max(1, math.ceil((z * sd / target) ** 2) - 1)  # too few (one seed detects nothing)
    high = low + 1
    while detectable_delta(sd, high, power) > target:
        low, high = high, high + max(1, high // 50)
    while high - low > 1:  # the first count that reaches the target lies in (low, high]
        mid = (low + high) // 2
        low, high = (low, mid) if detectable_delta(sd, mid, power) <= target else (mid, high)
    return high


def run_scores(results: Mapping[str, Any], test_set: str | None = None) -> SeedScores | None:
    """A run's Dice per image on its test split (``test_set`` None) or on the external test set ``test_set``
    (``metrics["external"][name]``); its mean Dice where it stored no per-image values; None without it."""
    metrics = results["metrics"]
    if test_set is not None:
        metrics = (metrics.get("external") or {}).get(test_set)
        if not metrics:
            return None
    return metrics.get("dice_per_image") or metrics.get("dice")


def results_delta(
    runs: Mapping[int, Mapping[str, Any]], origins: Mapping[int, Mapping[str, Any]], test_set: str | None = None
) -> PairedDelta | None:
    """:func:`paired_delta` of stored runs (seed -> ``results.json`` dict) vs their origin runs on one test set. A
    seed whose two runs trained on different real pairs (their recorded split fingerprints differ), or were scored
    on different versions of the external set ``test_set`` (:func:`set_version`), is not paired. A fingerprint a run
    did not record (an older run) matches only another one not recorded."""

    def scored(by_seed: Mapping[int, Mapping[str, Any]]) -> dict[int, SeedScores]:
        return {s: v for s, r in by_seed.items() if (v := run_scores(r, test_set)) is not None}

    return paired_delta(scored(comparable(runs, origins, test_set)), scored(origins))


def comparable(
    runs: Mapping[int, Mapping[str, Any]], origins: Mapping[int, Mapping[str, Any]], test_set: str | None = None
) -> dict[int, Mapping[str, Any]]:
    """The runs of ``runs`` that :func:`results_delta` may pair with their seed's origin run: those that trained on
    the same real pairs and, for ``test_set``, were scored on the same version of it."""

    def split_of(r: Mapping[str, Any]) -> Any:
        return (r.get("dataset") or {}).get("fingerprint")

    return {
        s: r
        for s, r in runs.items()
        if s in origins
        and split_of(r) == split_of(origins[s])
        and (test_set is None or set_version(r, test_set) == set_version(origins[s], test_set))
    }


def set_version(results: Mapping[str, Any], test_set: str) -> str | None:
    """The fingerprint of the external set ``test_set`` as a run was scored on it (its pairs as read then); None when
    the run was not scored on it or recorded none."""
    return (((results["metrics"].get("external") or {}).get(test_set)) or {}).get("fingerprint")
