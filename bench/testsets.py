"""External test sets (``--test-set``): pair sets from elsewhere on which every downstream model of a run is scored
too, and which no stage ever sees (not the generator, the segmenter, a filter, nor a pretraining).

A set is named by a dataset card (``shenzhen``) or a folder; a card may name default sets (its ``external`` list),
scored when ``--test-set`` is not given and the set is found on this machine. A set that holds an image of the run's
training pairs, under any name, is refused: an "external" Dice on images the model trained on would be no test.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from bench.cards import DATA_ROOT_ENV, DatasetCard, load_cards
from bench.config import ConfigError
from bench.pairs import DatasetError, PairSet

if TYPE_CHECKING:
    import torch

    from bench.masks import MaskReading

FLAG = "--test-set"
NONE = "none"  # ``--test-set none``: no external set, not even the card's defaults
SHOWN = 5  # images named in a refusal before "..."


@dataclass
class ExternalSet:
    """One external set read at a run's size. ``asked``: named by ``--test-set`` (not a card's default)."""

    name: str
    path: Path
    pairs: PairSet
    asked: bool

    @cached_property
    def fingerprint(self) -> str:
        """The set's content hash as read (:func:`bench.data.fingerprint`): a folder changed since a run was scored
        on it is scored again."""
        from bench.data import fingerprint

        return fingerprint(self.pairs)


def resolve(name: str) -> tuple[str, Path]:
    """The name results carry and the folder of ``--test-set name`` (a card name or a folder).

    Raises:
        DatasetError: naming the option, when the card's data or the folder is missing.
    """
    cards = load_cards()
    if name in cards:
        path = cards[name].default_path
        if not path.is_dir():
            raise DatasetError(
                f"{FLAG} {name}: dataset '{name}' not found at {path.resolve()} (set ${DATA_ROOT_ENV} or pass a "
                f"folder). How to obtain it: {cards[name].obtain}"
            )
        return name, path
    path = Path(name)
    if not path.is_dir():
        known = ", ".join(sorted(cards))
        raise DatasetError(f"{FLAG} {name!r}: neither a folder nor a known dataset (known: {known})")
    return path.resolve().name, path


def check_names(names: Iterable[str]) -> None:
    """The checks of ``--test-set`` values that read no pixels: ``none`` alone, every set found, no name twice.

    Raises:
        ConfigError: naming the option. DatasetError: a set that is not found.
    """
    names = tuple(names)
    if NONE in names and len(names) > 1:
        raise ConfigError(f"{FLAG} {NONE} turns every external set off; it cannot be given with others")
    if names == (NONE,):
        return
    seen: dict[str, str] = {}
    for name in names:
        shown, _ = resolve(name)
        if shown in seen:
            raise ConfigError(
                f"{FLAG}: {seen[shown]!r} and {name!r} are both named {shown!r}; results keep one set per name"
            )
        seen[shown] = name


def chosen(names: tuple[str, ...], card: DatasetCard | None) -> tuple[tuple[str, ...], bool]:
    """The sets a run is scored on and whether the user named them (False: the card's defaults, or none)."""
    if names == (NONE,):
        return (), True
    if names:
        return names, True
    return (card.external if card else ()), False


def load(name: str, image_size: int, channels: int, asked: bool, reading: MaskReading | None = None) -> ExternalSet:
    """Check and read one set at the run's size, its masks read as the run's (``--mask-threshold``, ...).

    Raises:
        DatasetError: naming the option and the folder, when the set fails its integrity check.
    """
    from bench.data import read_pairs  # torch: only once a run reads its data
    from bench.integrity import check

    shown, path = resolve(name)
    report = check(path, image_size=image_size, reading=reading)
    try:
        report.raise_for_errors()
    except DatasetError as e:
        raise DatasetError(f"{FLAG} {name}: {e}") from None
    return ExternalSet(shown, path, read_pairs(report, image_size, channels, shown), asked)


def refuse_seen(test_set: ExternalSet, seen: PairSet, what: str) -> None:
    """Refuse ``test_set`` when one of its images is one of ``seen`` (same 8-bit pixels at the loaded size, under
    any name), ``what`` saying what those are (``training images of this run``).

    Raises:
        ConfigError: naming the option, the set and up to ``SHOWN`` of the shared images.
    """
    from bench.data import image_hashes

    known = dict(zip(image_hashes(seen), seen.ids))
    shared = [f"{i} = {known[h]}" for i, h in zip(test_set.pairs.ids, image_hashes(test_set.pairs)) if h in known]
    if shared:
        size = test_set.pairs.images.shape[-1]
        more = ", ..." if len(shared) > SHOWN else ""
        raise ConfigError(
            f"{FLAG} {test_set.name}: {len(shared)} of its {len(test_set.pairs)} images are {what} (same pixels at "
            f"{size} x {size}: {', '.join(shared[:SHOWN])}{more}); an external set must hold none of them"
        )


def scores(test_set: ExternalSet, dice: torch.Tensor) -> dict[str, object]:
    """One set's record under ``metrics["external"]``, shaped as the in-domain test's Dice figures, with the set's
    ``fingerprint``."""
    return {
        "dice": float(dice.mean()),
        "dice_std": float(dice.std(unbiased=False)),
        "dice_per_image": {k: round(float(v), 6) for k, v in zip(test_set.pairs.ids, dice)},
        "n": len(test_set.pairs),
        "fingerprint": test_set.fingerprint,
    }
