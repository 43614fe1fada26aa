"""Dataset cards (``bench/datasets/<name>.yaml``): what ``--dataset NAME`` means, where the data is, how to get it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.files import locked
from bench.pairs import DatasetError

CARDS_DIR = Path(__file__).resolve().parent / "datasets"
DATA_ROOT_ENV = "BENCH_DATA"


@dataclass(frozen=True)
class DatasetCard:
    """A dataset's description, read from ``datasets/<name>.yaml``."""

    name: str
    title: str
    source: str
    licence: str
    citation: str
    layout: str
    pairs: int | None
    obtain: str
    synthetic: bool = False
    version: int = 1
    external: tuple[str, ...] = ()  # card names of the default external test sets (``--test-set``)

    @property
    def default_path(self) -> Path:
        """Where ``bench run --dataset <name>`` looks: ``$BENCH_DATA/<name>`` (default ``./data/<name>``)."""
        return Path(os.environ.get(DATA_ROOT_ENV, "data")) / self.name


def load_cards(folder: Path = CARDS_DIR) -> dict[str, DatasetCard]:
    """All dataset cards, by name. Unknown keys in a card are an error."""
    cards = {}
    known = set(DatasetCard.__dataclass_fields__)
    for path in sorted(folder.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        if not isinstance(raw, dict):
            raise DatasetError(f"{path}: a dataset card must be a YAML mapping")
        unknown = set(raw) - known
        if unknown:
            raise DatasetError(f"{path}: unknown keys {sorted(unknown)}")
        external = raw.get("external", [])
        if not isinstance(external, list) or not all(isinstance(x, str) for x in external):
            raise DatasetError(f"{path}: external must be a list of dataset card names")
        raw["external"] = tuple(external)
        try:
            card = DatasetCard(**raw)
        except TypeError as e:
            raise DatasetError(f"{path}: {e}") from None
        cards[card.name] = card
    return cards


def resolve_dataset(name_or_path: str) -> tuple[Path, DatasetCard | None]:
    """Turn ``--dataset`` into a folder: a card name (looked up under ``$BENCH_DATA``) or a path.

    The embedded ``demo`` set is generated on first use. Raises DatasetError naming what was expected.
    """
    cards = load_cards()
    if name_or_path in cards:
        card = cards[name_or_path]
        path = card.default_path
        if card.name == "demo" and not path.is_dir():
            from bench import phantom  # torch: only when the demo set is first generated

            with locked(path):  # two runs starting at once generate it once
                if not path.is_dir():
                    phantom.write_demo(path)
        if not path.is_dir():
            raise DatasetError(
                f"dataset '{card.name}' not found at {path.resolve()} (set ${DATA_ROOT_ENV} or pass "
                f"a folder). How to obtain it: {card.obtain}"
            )
        return path, card
    path = Path(name_or_path)
    if not path.is_dir():
        raise DatasetError(
            f"--dataset {name_or_path!r}: neither a folder nor a known dataset (known: {', '.join(sorted(cards))})"
        )
    return path, None
