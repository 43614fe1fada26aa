"""DiffuseExpand end to end on a 3-label set made from real Montgomery lungs: left lung 1, right lung 2."""

import json
from pathlib import Path

import pytest
import torch

from bench.config import PRESETS, TrainConfig, merge_options
from bench.images import read_image, read_mask
from bench.pairs import PairSet
from methods.base import DECISIONS, MethodContext
from methods.diffuseexpand import DiffuseExpand

SIZE, PAIRS, GENERATED = 32, 8, 8


def _left_right_lungs(root: Path) -> PairSet:
    """The first Montgomery pairs at 32 x 32, each lung mask split at the image's vertical midline."""
    ids = sorted(p.stem for p in (root / "images").iterdir())[:PAIRS]
    images = torch.stack([read_image(root / "images" / f"{k}.png", SIZE) for k in ids])
    masks = torch.stack([read_mask(root / "masks" / f"{k}.png", SIZE) for k in ids])
    right_half = (torch.arange(SIZE) >= SIZE // 2).long()
    return PairSet(ids, images, masks * (1 + right_half), "montgomery-left-right")


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_three_label_masks_end_to_end(montgomery, tmp_path, one_thread):
    real = _left_right_lungs(montgomery)
    assert real.num_classes == 3 and all(set(m.unique().tolist()) == {0, 1, 2} for m in real.masks)
    train = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"])
    ctx = MethodContext(workdir=tmp_path, seed=0, device=torch.device("cpu"), train=train, preset="smoke")
    method = DiffuseExpand("cf+cg+cs", merge_options(DiffuseExpand.Options, {}, DiffuseExpand.presets["smoke"]))
    method.fit(real, ctx)
    exp = method.expand(GENERATED, ctx)

    f = method.fitted
    assert (f.denoiser.mask_channels, f.segmenter.num_classes, f.filter.num_classes) == (2, 3, 3)
    # every generated mask is decoded to the three labels; a binary decoding would never give label 2
    generated = exp.generated.masks
    assert generated.shape == (GENERATED, SIZE, SIZE) and generated.dtype == torch.int64
    assert set(generated.unique().tolist()) == {0, 1, 2}
    assert exp.generated.images.shape == (GENERATED, 1, SIZE, SIZE)
    assert len(exp.records) == GENERATED and all(r.decision in DECISIONS for r in exp.records)
    assert set(exp.pairs.masks.unique().tolist()) <= {0, 1, 2}
    assert 0 <= method.stats["mean_dice_all"] <= 1
    # K > 1 is part of every trained stage's key; the harness gets no binary network for U-Net features
    for role in ("denoiser", "segmenter", "filter"):
        key = json.loads((next((tmp_path / role).iterdir()) / "key.json").read_text())
        assert key["data"]["num_classes"] == 3
    assert method.real_data_network() is None
    # the cached stages give the same pairs again
    again = method.expand(GENERATED, ctx)
    assert torch.equal(again.generated.masks, generated) and torch.equal(again.pairs.masks, exp.pairs.masks)
