"""Stored runs and the cells the tables and figures aggregate them into.

A cell aggregates one value over seeds as mean ± population std, and never averages runs of different downstream
training, method versions or resolved method options, nor Dice on two versions of one external test set (ValueError
naming the runs). Δ vs origin is paired by seed over the seeds both cells have whose runs trained on the same real
pairs and were scored on the same version of the test set, and by test image within a seed (:mod:`bench.stats`: its
interval, p-value and detectable Δ). Every helper that leaves something out says so in ``notes``: an artifact shows
what it could not use.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from bench.report import method_signature, train_steps, training_signature
from bench.results import Results, find_results, load_results
from bench.stats import PairedDelta, SeedScores, paired_delta, run_scores, set_version


@dataclass(eq=False)
class Run:
    """One stored run: its folder, the folder as the artifact's files name it (``runs/<dataset>/...``, never a
    machine's absolute path), and its results (compared by identity)."""

    folder: Path
    shown: Path
    res: Results

    def __getattr__(self, key: str) -> Any:  # run identity: method, ablation, dataset, model, seed, augment...
        run = self.__dict__["res"]["run"] if "res" in self.__dict__ else {}
        if key in run:
            return run[key]
        if key == "settings":
            return ""
        raise AttributeError(key)

    @property
    def ratio(self) -> float | None:
        """The train ratio; None for a run of an exact count of training pairs (:attr:`pairs`)."""
        return self.res["run"]["train_ratio"]

    @property
    def pairs(self) -> int | None:
        """The count of training pairs of a ``--train-pairs`` run; None for a ratio run."""
        return self.res["run"].get("train_pairs")

    def option(self, key: str) -> Any:
        return (self.res["config"].get("method_options") or {}).get(key)

    def metric(self, key: str) -> Any:
        return self.res["metrics"].get(key)

    @cached_property
    def kind(self) -> tuple[str, str | None, str]:
        """What a cell must not mix: the downstream training signature, the method version and its resolved options
        (one settings tag made under a preset that later changed)."""
        return training_signature(self.res), self.res["versions"].get("method"), method_signature(self.res)


def load_runs(runs: Path) -> list[Run]:
    """Every ``results.json`` under ``runs``, each named relative to ``runs`` (under its folder's name).

    Raises:
        FileNotFoundError: no ``results.json`` under ``runs``.
    """
    files = find_results(runs)
    if not files:
        raise FileNotFoundError(f"no results.json under {runs}")
    shown = Path(Path(runs).resolve().name)  # run folders are written relative to --runs, under its name
    return [Run(f.parent, shown / f.parent.relative_to(runs), load_results(f)) for f in files]


@dataclass
class Cell:
    """One aggregated value: ``values`` maps seed -> value; ``kind`` is what its runs share (see ``Run.kind``);
    ``steps`` maps seed -> the downstream model's optimiser steps; ``scores`` maps seed -> the value per test image,
    for a Dice (:func:`bench.stats.run_scores`); ``trained_on`` maps seed -> the recorded fingerprint of its real
    training pairs (``dataset.fingerprint``) and ``scored_on`` seed -> that of the external test set the Dice is on
    (empty for the test split). A fingerprint a run did not record is None, which matches only another None: an
    older run cannot show that it read the same pairs, so :func:`delta` does not pair it with one that recorded
    them."""

    values: dict[int, float]
    kind: tuple[str, str | None, str]
    steps: dict[int, int] = field(default_factory=dict)
    scores: dict[int, SeedScores] = field(default_factory=dict)
    trained_on: dict[int, str | None] = field(default_factory=dict)
    scored_on: dict[int, str | None] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values.values())

    @property
    def std(self) -> float:
        return statistics.pstdev(self.values.values()) if self.n > 1 else 0.0

    @property
    def seeds(self) -> list[int]:
        return sorted(self.values)


def present(cell: Cell | None) -> bool:
    return cell is not None and cell.n > 0


def aggregate(runs: list[Run], value: Callable[[Run], float | None], where: str) -> Cell | None:
    """Aggregate ``value`` over ``runs`` (one per seed); None without runs. Refuses to mix trainings or versions."""
    return _aggregate(runs, value, None, where)


def aggregate_dice(runs: list[Run], where: str, test_set: str | None = None) -> Cell | None:
    """The Dice on the test split (or the external set ``test_set``) over ``runs``, with each seed's Dice per test
    image, which :func:`delta` pairs image by image.

    Raises:
        ValueError: as :func:`aggregate`, or the runs were scored on ``test_set`` while it held different pairs
            (their recorded fingerprints of it differ), which would average two versions of the set into one number.
    """

    def dice(r: Run) -> float | None:
        return _figures(r, test_set).get("dice")

    return _aggregate(runs, dice, lambda r: run_scores(r.res, test_set), where, test_set)


def _figures(r: Run, test_set: str | None) -> dict[str, Any]:
    """A run's figures on the test split (``test_set`` None) or on the external set ``test_set`` (empty without)."""
    return r.res["metrics"] if test_set is None else (r.metric("external") or {}).get(test_set) or {}


def external_sets(runs: Iterable[Run]) -> list[str]:
    """Every external test set (``--test-set``) any of ``runs`` was scored on, sorted: a column or panel each."""
    return sorted({name for r in runs for name in r.metric("external") or {}})


def note_unscored(cell: Cell | None, runs: list[Run], test_set: str, where: str, notes: list[str]) -> None:
    """Say why a cell of ``runs`` on an external set is empty (e.g. a set the run's pretrained start saw, which the
    run left out), so a "–" there is not read as a missing run."""
    if runs and not present(cell):
        notes.append(f"{where}: none of its {len(runs)} runs was scored on {test_set}")


def _aggregate(
    runs: list[Run],
    value: Callable[[Run], float | None],
    scores: Callable[[Run], SeedScores | None] | None,
    where: str,
    test_set: str | None = None,
) -> Cell | None:
    if not runs:
        return None
    mixes = (("downstream training", "training"), ("method version", "version"), ("method options", "options"))
    for i, (what, short) in enumerate(mixes):
        by_kind: dict[Any, list[str]] = defaultdict(list)
        for r in runs:
            by_kind[r.kind[i]].append(str(r.folder))
        if len(by_kind) > 1:
            listed = "; ".join(f"{short} {k}: {', '.join(sorted(f))}" for k, f in sorted(by_kind.items(), key=str))
            raise ValueError(
                f"{where}: the runs differ in {what} and would be averaged into one number ({listed}); "
                "move the runs of one of them to another folder"
            )
    twice = [s for s, k in Counter(r.seed for r in runs).items() if k > 1]
    if twice:
        folders = ", ".join(str(r.folder) for r in runs if r.seed in twice)
        raise ValueError(f"{where}: more than one run of seed {min(twice)} ({folders})")
    values = {r.seed: v for r in runs if (v := value(r)) is not None}
    scored_on = {r.seed: set_version(r.res, test_set) for r in runs if test_set and r.seed in values}
    if len(set(scored_on.values())) > 1:
        by_print: dict[str | None, list[str]] = defaultdict(list)
        for r in runs:
            if r.seed in scored_on:
                by_print[scored_on[r.seed]].append(str(r.folder))
        listed = "; ".join(f"fingerprint {k}: {', '.join(sorted(f))}" for k, f in sorted(by_print.items(), key=str))
        raise ValueError(
            f"{where}: the runs were scored on {test_set} while it held different pairs and would be averaged into "
            f"one number ({listed}); run them again with --test-set {test_set}, which scores a stored run on the set "
            "as it is now"
        )
    scored = {r.seed: v for r in runs if scores is not None and (v := scores(r)) is not None}
    trained_on = {r.seed: r.res["dataset"].get("fingerprint") for r in runs}
    return Cell(values, runs[0].kind, {r.seed: train_steps(r.res) for r in runs}, scored, trained_on, scored_on)


def one_per_seed(runs: list[Run], where: str, notes: list[str]) -> list[Run]:
    """Runs of equivalent settings (``""`` and ``tau=1`` at the default τ) may share a seed: keep one, noted."""
    by_seed: dict[int, list[Run]] = defaultdict(list)
    for r in runs:
        by_seed[r.seed].append(r)
    kept = []
    for seed, rs in sorted(by_seed.items()):
        rs = sorted(rs, key=lambda r: (r.settings != "", str(r.folder)))
        if len(rs) > 1:
            others = ", ".join(str(r.shown) for r in rs[1:])
            notes.append(f"{where}: {len(rs)} runs of seed {seed}; used {rs[0].shown}, not {others}")
        kept.append(rs[0])
    return kept


def delta(cell: Cell | None, base: Cell | None, where: str, notes: list[str]) -> PairedDelta | None:
    """cell - base paired by seed over the seeds both have (and by test image where both cells hold per-image
    values): :func:`bench.stats.paired_delta`; None, noted, where there is no origin to pair with. A seed whose two
    runs trained on different real pairs, or were scored on different versions of the external test set (their
    recorded fingerprints differ, see :class:`Cell`), is not paired, noted: its Δ would not be the data's."""
    if not present(cell) or not present(base):
        return None
    if cell.kind[0] != base.kind[0]:
        notes.append(f"{where}: no Δ, origin was trained with other downstream settings")
        return None
    common = sorted(set(cell.values) & set(base.values))
    if not common:
        notes.append(f"{where}: no Δ, no seed in common with origin")
        return None
    for what, apart in (
        ("trained on other real pairs (another training-data fingerprint)", _apart(cell.trained_on, base.trained_on)),
        ("was scored on another version of the test set (its pairs changed)", _apart(cell.scored_on, base.scored_on)),
    ):
        if left := [s for s in common if s in apart]:
            notes.append(f"{where}: Δ leaves out seed {' '.join(map(str, left))}, whose origin run {what}")
            common = [s for s in common if s not in apart]
    if not common:
        notes.append(f"{where}: no Δ, no seed pairs with its origin run")
        return None
    if len(common) < cell.n:
        notes.append(f"{where}: Δ paired over {len(common)} of {cell.n} seeds ({' '.join(map(str, common))})")
    unequal = sorted(
        {(base.steps.get(s), cell.steps.get(s)) for s in common if base.steps.get(s) != cell.steps.get(s)}
    )
    if unequal:
        pairs = ", ".join(f"{b} vs {c}" for b, c in unequal)
        notes.append(
            f"{where}: Δ compares unequal training lengths (origin vs this run, optimiser steps: {pairs}); part "
            "of it is training length, not data (--train-option steps=N trains every run N steps)"
        )
    return paired_delta(*({s: c.scores.get(s, c.values[s]) for s in common} for c in (cell, base)))


def _apart(a: dict[int, str | None], b: dict[int, str | None]) -> set[int]:
    """The seeds whose recorded fingerprints differ (None, not recorded, matches only None)."""
    return {s for s in a.keys() | b.keys() if a.get(s) != b.get(s)}


def generation_cell(runs: list[Run], key: str, kept: bool, where: str, notes: list[str]) -> Cell | None:
    """A generation metric (``fid``, ``fid_unet``, ``is_unet``); for a filtering method ``kept`` reads the
    ``<key>_kept`` value of the pairs it kept, falling back to all pairs only when no run recorded that."""
    if kept and any(r.metric(f"{key}_kept") is not None for r in runs):
        key = f"{key}_kept"
    elif kept and any(r.metric(key) is not None for r in runs):
        notes.append(f"{where}: {key} of all generated pairs (no run recorded {key}_kept)")
    cell = aggregate(runs, lambda r: r.metric(key), where)
    if cell is not None and cell.n < len(runs):
        reasons = "; ".join(
            sorted({r.res["unavailable"].get(key, "not recorded") for r in runs if r.metric(key) is None})
        )
        notes.append(
            f"{where}: {key} of {cell.n} of {len(runs)} seeds ({reasons})" if cell.n else f"{where}: n/a ({reasons})"
        )
    return cell


def block_title(dataset: str, preset: str, runs: Iterable[Run]) -> str:
    """The heading of one (dataset, preset) block; a synthetic phantom says so."""
    synthetic = any(r.res["dataset"].get("synthetic") for r in runs)
    return f"{dataset} (synthetic phantom), {preset}" if synthetic else f"{dataset}, {preset}"


def largest_ratio(runs: list[Run], where: str, notes: list[str]) -> tuple[float, list[Run]]:
    """The paper's tables use the largest train ratio (0.9); runs at other ratios, or of counts of pairs
    (``--train-pairs``), are left out, noted.

    Raises:
        ValueError: every run is of a count of pairs.
    """
    counted = [r for r in runs if r.ratio is None]
    runs = [r for r in runs if r.ratio is not None]
    if not runs:
        raise ValueError(f"{where}: every run trains on a count of pairs (--train-pairs); this table reads ratio runs")
    if counted:
        notes.append(f"{where}: {len(counted)} runs of counts of pairs (--train-pairs) left out; fewshot shows them")
    ratio = max(r.ratio for r in runs)
    other = [r for r in runs if r.ratio != ratio]
    if other:
        ratios = ", ".join(f"{x:g}" for x in sorted({r.ratio for r in other}))
        notes.append(f"{where}: train ratio {ratio:g} shown; {len(other)} runs at ratio {ratios} left out")
    return ratio, [r for r in runs if r.ratio == ratio]


def settings_keys(tag: str) -> set[str]:
    """Keys of a settings tag (``tau=0.5,train.epochs=40``); a hashed (long) tag counts as unknown changes."""
    if "~" in tag:
        return {"(hashed settings)"}
    return {part.partition("=")[0] for part in tag.split(",") if part}


def order_key(order: list[str], item: str) -> tuple[int, str]:
    """Sort key: ``item``'s place in ``order``, names not in it after, by name."""
    return (order.index(item) if item in order else len(order), item)


def dedup(notes: list[str]) -> list[str]:
    return list(dict.fromkeys(notes))
