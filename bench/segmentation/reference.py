"""A reference network: a downstream segmentation model trained on the real training split only.

It judges generated pairs by what real data teaches: DiffuseExpand's stage IV keeps, relabels or drops a pair by
the Dice of its prediction with the generated mask (``methods.diffuseexpand.filter``), and ``bench run`` takes
its features for the paper's U-Net FID / IS (``bench.metrics.unet_features``) when a method trains none.

On disk (:meth:`ReferenceNetwork.save`) a folder holds ``filter.json`` (model name, input channels and size, the
training config, training seconds, and ``num_classes`` for multi-class masks only) and ``model.pt`` (the weights,
written last), the format DiffuseExpand's stage-IV cache has always used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.config import TrainConfig
from bench.files import load_torch, reading, save_torch, write_json
from bench.pairs import PairSet
from bench.segmentation.models import build_model
from bench.segmentation.trainer import predict, train_segmentation

META_JSON = "filter.json"
WEIGHTS = "model.pt"


class ReferenceNetwork:
    """Train on real pairs, predict the masks of other images (one logit for binary masks, K + 1 for labels
    0..K, as ``bench.segmentation`` builds it for the training pairs).

    Args:
        model_name: a downstream model of ``bench.config.MODELS`` (paper: ``unet``).
        cfg: its training config (the run's downstream config).
        device: compute device.
    """

    description = "reference network"  # the progress bar's label while it trains

    def __init__(self, model_name: str, cfg: TrainConfig, device: torch.device | str = "cpu") -> None:
        self.model_name = model_name
        self.cfg = cfg
        self.device = torch.device(device)
        self.model: nn.Module | None = None
        self.seconds = 0.0
        self.num_classes = 2
        self._shape: tuple[int, int] | None = None

    def fit(self, train: PairSet, seed: int, progress: Any = None, description: str | None = None) -> ReferenceNetwork:
        """Train on the real training pairs (images float ``N x C x H x W`` in [0, 1], masks int64 ``N x H x W``)."""
        result = train_segmentation(
            train,
            self.model_name,
            self.cfg,
            seed,
            self.device,
            progress=progress,
            description=description or self.description,
        )
        self.model, self.seconds = result.model, result.seconds
        self.num_classes = train.num_classes
        self._shape = (int(train.images.shape[1]), int(train.images.shape[-1]))
        return self

    def predict(self, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
        """Masks int64 ``N x H x W`` of images float ``N x C x H x W`` in [0, 1]."""
        if self.model is None:
            raise RuntimeError(f"{type(self).__name__}.predict called before fit or load")
        return predict(self.model, images, self.device, batch_size)

    def save(self, folder: Path) -> None:
        """Write ``filter.json`` (with ``num_classes`` for multi-class masks only, as binary networks were written
        before those existed) and ``model.pt`` (last)."""
        if self.model is None or self._shape is None:
            raise RuntimeError(f"{type(self).__name__}.save called before fit")
        channels, size = self._shape
        write_json(
            folder / META_JSON,
            {
                "model_name": self.model_name,
                "channels": channels,
                "size": size,
                "train": self.cfg.to_dict(),
                "seconds": self.seconds,
                **({"num_classes": self.num_classes} if self.num_classes > 2 else {}),
            },
        )
        save_torch(folder / WEIGHTS, {k: v.detach().cpu() for k, v in self.model.state_dict().items()})

    @classmethod
    def load(cls, folder: Path, device: torch.device | str = "cpu") -> ReferenceNetwork:
        """Rebuild a network written by :meth:`save`, in eval mode.

        Raises:
            bench.files.CorruptFileError: a torn or foreign file, named, with how to make the stage again.
        """
        remedy = f"delete {folder} (or run with --force) to make it again"
        with reading(folder / META_JSON, "a reference network's settings (JSON)", remedy):
            meta = json.loads((folder / META_JSON).read_text())
            cfg = TrainConfig(**meta["train"])
        self = cls(meta["model_name"], cfg, device)
        self.num_classes = meta.get("num_classes", 2)
        model = build_model(meta["model_name"], meta["channels"], self.num_classes, meta["size"], cfg)
        with reading(folder / WEIGHTS, f"the weights of a {meta['model_name']} reference network", remedy):
            model.load_state_dict(load_torch(folder / WEIGHTS))
        self.model = model.to(self.device).eval()
        self._shape, self.seconds = (meta["channels"], meta["size"]), meta["seconds"]
        return self
