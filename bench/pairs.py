"""Image-mask pairs held in memory (the type every stage passes around; files are ``bench.data``'s business)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the tensors' type; torch itself is imported by the code that makes them
    import torch


class DatasetError(ValueError):
    """A pair set that cannot be used; the message lists every problem, one per line."""


@dataclass
class PairSet:
    """Image-mask pairs held in memory.

    Attributes:
        ids: one identifier per pair (the file stem on disk).
        images: float32 tensor ``N x C x H x W`` in [0, 1].
        masks: int64 tensor ``N x H x W``; 0/1 for binary sets, 0..K for multi-class ones.
        name: a label for logs and tables (dataset name or folder name).
        synthetic: True when the pairs were generated (by a method, or by the demo phantom).
        reading: how the masks were read when not as stored (``mask_threshold=127``, see
            :meth:`bench.masks.MaskReading.tag`); part of the set's fingerprint, so that sets read two ways never
            share a cache. Empty for masks read as stored.
    """

    ids: list[str]
    images: torch.Tensor
    masks: torch.Tensor
    name: str = "pairs"
    synthetic: bool = False
    reading: str = ""

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.images.ndim != 4 or self.masks.ndim != 3:
            raise ValueError(
                f"images must be NxCxHxW and masks NxHxW, got {tuple(self.images.shape)} / {tuple(self.masks.shape)}"
            )
        if self.images.shape[0] != n or self.masks.shape[0] != n:
            raise ValueError(f"{n} ids but {self.images.shape[0]} images and {self.masks.shape[0]} masks")
        if self.images.shape[-2:] != self.masks.shape[-2:]:
            raise ValueError(f"image size {tuple(self.images.shape[-2:])} != mask size {tuple(self.masks.shape[-2:])}")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def num_classes(self) -> int:
        """Number of labels including background (2 for a binary set)."""
        return max(2, int(self.masks.max().item()) + 1) if len(self) else 2

    def subset(self, ids: Sequence[str]) -> PairSet:
        """The pairs with the given ids, in that order."""
        index = {k: i for i, k in enumerate(self.ids)}
        missing = [k for k in ids if k not in index]
        if missing:
            raise KeyError(f"ids not in {self.name}: {missing[:5]}")
        import torch

        rows = torch.tensor([index[k] for k in ids], dtype=torch.long)
        return PairSet(list(ids), self.images[rows], self.masks[rows], self.name, self.synthetic, self.reading)

    @staticmethod
    def concat(sets: Sequence[PairSet], name: str) -> PairSet:
        """Concatenate pair sets; ids must stay unique."""
        ids = [k for s in sets for k in s.ids]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate ids when concatenating pair sets")
        import torch

        return PairSet(
            ids,
            torch.cat([s.images for s in sets]),
            torch.cat([s.masks for s in sets]),
            name,
            any(s.synthetic for s in sets),
            ";".join(dict.fromkeys(s.reading for s in sets if s.reading)),
        )
