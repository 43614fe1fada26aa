"""The data set of a planned request: found, checked and read at the planned size, then split per seed.

Every problem with the data surfaces here as a DatasetError naming the folder, before anything is trained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.cards import DatasetCard, resolve_dataset
from bench.config import ConfigError
from bench.data import read_pairs
from bench.integrity import CheckReport, check
from bench.masks import MaskReading
from bench.pairs import DatasetError, PairSet
from bench.runner.planning import Plan
from bench.runner.request import Request
from bench.splits import Split, make_split

SHOWN_WARNINGS = 10  # dataset warnings shown before "... and N more"


@dataclass
class LoadedData:
    """A data set read for a planned request: its folder, card (None for a plain folder), name, the integrity
    check's report and the pairs at the planned size."""

    path: Path
    card: DatasetCard | None
    name: str
    report: CheckReport
    pairs: PairSet


def load_data(
    dataset: str,
    pl: Plan,
    channels: int,
    warn: Callable[[str], None],
    checked: CheckReport | None = None,
    reading: MaskReading | None = None,
) -> LoadedData:
    """Find, check and read ``--dataset`` (a card name or a folder) for a planned request, its masks read as
    ``reading`` says (default: as stored).

    The check's warnings go to ``warn`` (the first ``SHOWN_WARNINGS``, then a count). ``checked``: the folder's
    report at the planned size, when the caller made it already.

    Raises:
        bench.data.DatasetError: a missing data set, one that fails its integrity check, or multi-class masks for
            a method that handles binary masks only.
    """
    path, card = resolve_dataset(dataset)
    name = card.name if card else path.name
    report = checked if checked is not None else check(path, image_size=pl.image_size, reading=reading)
    for w in _shown(report.warnings, f"`bench datasets check {path}` lists them all"):
        warn(f"{name}: {w}")
    report.raise_for_errors()
    pairs = read_pairs(report, pl.image_size, channels, name, synthetic=bool(card and card.synthetic))
    if pl.method_cls.binary_masks_only and pairs.num_classes > 2:
        raise DatasetError(
            f"{path}: masks hold labels 0..{pairs.num_classes - 1} (multi-class), but method "
            f"'{pl.method_cls.name}' handles binary masks only"
        )
    return LoadedData(path, card, name, report, pairs)


def _shown(warnings: list[str], more: str) -> list[str]:
    """The first ``SHOWN_WARNINGS`` warnings, plus one line counting the rest."""
    extra = len(warnings) - SHOWN_WARNINGS
    return warnings[:SHOWN_WARNINGS] + ([f"... and {extra} more warning(s); {more}"] if extra > 0 else [])


def seed_splits(
    req: Request, pairs: PairSet, path: Path, warn: Callable[[str], None]
) -> tuple[dict[int, Split], dict[int, list[str]]]:
    """Every seed's split, checked before any training, and the notes its results will carry.

    A test split without a single foreground pixel is refused unless ``req.allow_empty_test``: Dice scores a
    model that predicts nothing as perfect on it, so its number would look like a result and mean nothing.
    """
    splits, notes = {}, {}
    for seed in req.seeds:
        try:
            split = make_split(pairs.ids, seed, req.train_ratio, train_pairs=req.train_pairs)
        except DatasetError as e:
            raise DatasetError(f"{path}: {e}") from None
        except ValueError as e:
            raise ConfigError(f"{'--train-pairs' if req.train_pairs is not None else '--train-ratio'}: {e}") from None
        if not bool((pairs.subset(split.test).masks > 0).any()):
            problem = (
                f"the test split of seed {seed} ({len(split.test)} images) has no foreground pixel, so a model "
                "that predicts nothing scores Dice 1.0 on it"
            )
            if not req.allow_empty_test:
                raise DatasetError(
                    f"{path}: {problem}; check the masks (`bench datasets check {path}`) or pass --allow-empty-test"
                )
            warn(problem)
            notes[seed] = [f"{problem} (run with --allow-empty-test): this Dice is not a segmentation result"]
        splits[seed] = split
    return splits, notes
