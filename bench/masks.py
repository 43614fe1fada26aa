"""How a folder's mask files are read: as stored (the default), or as public sets ship them, with a threshold for
lossy (JPEG) masks and a name suffix that pairs ``<id>_segmentation.png`` with ``<id>.jpg``.

The options' names, defaults and checks live here once; every verb that reads a pair-set folder takes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

THRESHOLD_FLAG = "--mask-threshold"
SUFFIX_FLAG = "--mask-suffix"
THRESHOLD_RANGE = (0, 254)  # foreground is value > T on 8-bit masks: 255 would leave none
SUGGESTED_THRESHOLD = 127  # half-way between the 0 and 255 a lossy binary mask blurs


class MaskReadingError(ValueError):
    """A mask-reading option with a bad value; the message names the option."""


@dataclass(frozen=True)
class MaskReading:
    """How mask files are read.

    Attributes:
        threshold: None to read the values as stored (binary 0/v or labels 0..K); T to read every mask as binary
            with foreground where value > T (lossy JPEG masks, whose edges hold values between 0 and 255).
        suffix: what a mask's file stem adds to its image's (``_segmentation``: ``masks/a_segmentation.png`` is the
            mask of ``images/a.jpg``); empty: the same stem.
    """

    threshold: int | None = None
    suffix: str = ""

    def __post_init__(self) -> None:
        low, high = THRESHOLD_RANGE
        t = self.threshold
        if t is not None and (isinstance(t, bool) or not isinstance(t, int) or not low <= t <= high):
            raise MaskReadingError(
                f"{THRESHOLD_FLAG} must be an integer in {low}..{high} (foreground: mask value > T), "
                f"got {self.threshold!r}"
            )
        if not isinstance(self.suffix, str) or not re.fullmatch(r"[A-Za-z0-9._+-]*", self.suffix):
            raise MaskReadingError(
                f"{SUFFIX_FLAG} {self.suffix!r}: letters, digits, '_', '-', '.' and '+' only (no folder separators)"
            )

    @property
    def default(self) -> bool:
        return self == MaskReading()

    def settings(self) -> dict[str, Any]:
        """The options that differ from their defaults, as a settings tag writes them (empty at the defaults, so
        runs on masks read as stored keep their names and keys)."""
        return {
            **({"mask_threshold": self.threshold} if self.threshold is not None else {}),
            **({"mask_suffix": self.suffix} if self.suffix else {}),
        }

    def tag(self) -> str:
        """One string of :meth:`settings` (``mask_threshold=127``), empty at the defaults."""
        return ",".join(f"{k}={v}" for k, v in self.settings().items())

    @classmethod
    def from_tag(cls, tag: str) -> MaskReading:
        """The reading :meth:`tag` wrote (a run's recorded ``dataset.reading``); the defaults for an empty tag."""
        items = dict(item.split("=", 1) for item in tag.split(",") if item)
        threshold = items.get("mask_threshold")
        return cls(int(threshold) if threshold is not None else None, items.get("mask_suffix", ""))

    def mask_id(self, stem: str) -> str | None:
        """The pair id of a mask file stem: the stem less the suffix; None when the stem lacks the suffix."""
        if not self.suffix:
            return stem
        return stem[: -len(self.suffix)] if stem.endswith(self.suffix) and len(stem) > len(self.suffix) else None

    def mask_name(self, pair_id: str) -> str:
        """The mask file stem expected for a pair id."""
        return pair_id + self.suffix
