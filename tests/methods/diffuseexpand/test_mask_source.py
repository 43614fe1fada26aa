"""``mask_source="augmented"``: masks are warped real training masks, the image phase runs unchanged on them."""

import numpy as np
import pytest
import torch
from synthetic_pairs import disc_pairs

from bench.config import PRESETS, ConfigError, TrainConfig, merge_options
from bench.pairs import PairSet
from bench.segmentation.xlsor import warp_pair
from methods.base import MethodContext, options_dict, pair_seeds
from methods.diffuseexpand import DiffuseExpand
from methods.diffuseexpand.mask_source import WARP, WARP_RECORD, augmented_masks
from methods.diffuseexpand.sampler import PairSampler
from methods.diffuseexpand.sampling_config import SamplingConfig


def _regenerated(train: PairSet, record: dict, seed: int) -> tuple[torch.Tensor, dict]:
    """The mask and warp that a record's source pair and seed give, drawn afresh."""
    j = train.ids.index(record["source"])
    _, mask, params = warp_pair(train.images[j], train.masks[j], WARP, np.random.default_rng(seed))
    return mask, params


def test_each_mask_is_its_recorded_source_under_its_recorded_warp():
    train = disc_pairs(4)
    seeds = pair_seeds(3, 9)
    masks, records = augmented_masks(train, seeds)
    assert masks.shape == (9, 32, 32) and masks.dtype == torch.long
    assert [r["source"] for r in records] == [train.ids[i % 4] for i in range(9)]
    for mask, record, seed in zip(masks, records, seeds):
        again, params = _regenerated(train, record, seed)
        iou = ((again > 0) & (mask > 0)).sum() / ((again > 0) | (mask > 0)).sum()
        assert iou == 1 and torch.equal(again, mask)
        assert {k: record[k] for k in WARP_RECORD} == pytest.approx(params, abs=1e-6)
    assert len({r["rotate"] for r in records}) == 9  # every pair draws its own warp
    assert not all(torch.equal(m, train.masks[i % 4]) for i, m in enumerate(masks))


def test_multi_class_masks_keep_their_labels():
    train = disc_pairs(2)
    labels = train.masks + (torch.arange(32)[None, None, :] > 16).long() * train.masks
    masks, _ = augmented_masks(PairSet(train.ids, train.images, labels, "three"), pair_seeds(0, 4))
    assert set(masks.unique().tolist()) == {0, 1, 2}


def test_given_masks_skip_the_mask_phase_and_keep_each_pairs_image_noise(nets):
    denoiser, _ = nets
    sampler = PairSampler(denoiser, None, mixed_precision=False)
    config = SamplingConfig(steps=3, guidance_scale=0.0)
    seeds = pair_seeds(1, 3)
    sampled = sampler(seeds=seeds, config=config, batch_size=2)
    given = sampler(seeds=seeds, config=config, batch_size=2, masks=sampled.masks)
    assert torch.equal(given.masks, sampled.masks)
    assert torch.equal(given.images, sampled.images)  # same noise, same masks: the same images
    other = torch.zeros_like(sampled.masks)
    assert not torch.equal(sampler(seeds=seeds, config=config, batch_size=2, masks=other).images, sampled.images)
    with pytest.raises(ValueError, match="one N x H x W label map per seed"):
        sampler(seeds=seeds, config=config, batch_size=2, masks=other[:2])


def test_bench_option_is_checked_and_out_of_the_key_at_its_default():
    with pytest.raises(ConfigError, match="mask_source must be one of"):
        DiffuseExpand.Options(mask_source="x")
    assert "mask_source" not in options_dict(DiffuseExpand.Options())
    assert options_dict(DiffuseExpand.Options(mask_source="augmented"))["mask_source"] == "augmented"


def test_diffuseexpand_generates_images_for_warped_training_masks(tmp_path):
    train_cfg = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"])
    ctx = MethodContext(workdir=tmp_path, seed=0, device=torch.device("cpu"), train=train_cfg, preset="smoke")
    options = merge_options(DiffuseExpand.Options, {}, DiffuseExpand.presets["smoke"], {"mask_source": "augmented"})
    real = disc_pairs()
    method = DiffuseExpand("cf+cg+cs", options)
    method.fit(real, ctx)
    expansion = method.expand(6, ctx)
    generated = expansion.generated
    assert len(expansion.records) == 6 and generated is not None
    for record, mask in zip(expansion.records, generated.masks):
        again, params = _regenerated(real, record.info, record.seed)
        assert torch.equal(again, mask)
        assert {k: record.info[k] for k in WARP_RECORD} == pytest.approx(params, abs=1e-6)
    assert set(method.stats["guidance"]) == {"image"}  # no mask phase was sampled
    header = next((tmp_path / "samples").iterdir()).joinpath("records.csv").read_text().splitlines()[0]
    assert header.endswith("foreground,source," + ",".join(WARP_RECORD))
