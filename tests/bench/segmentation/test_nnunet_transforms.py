"""``--augment nnunet``: nnU-Net v2's own training transforms, seeded from the trainer's generator, on training
batches only, labels kept."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from bench.config import AUGMENTS, PRESETS, TrainConfig, merge_options
from bench.pairs import PairSet
from bench.segmentation.augment import augment_batch, nnunet
from bench.segmentation.nnunet_transforms import nnunet_transforms
from bench.segmentation.trainer import evaluate, train_segmentation

pytestmark = pytest.mark.heavy(30)  # importing nnunetv2's trainer, and a fresh interpreter, take most of it

CPU = torch.device("cpu")


def _labelled(n=8, size=32):
    """Dark images with a bright square (label 1), a dimmer bar (label 2) and a small spot (label 3)."""
    images = 0.05 * torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(0))
    masks = torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        y, x = 4 + i % 6, 6 + (3 * i) % 10
        masks[i, y : y + 10, x : x + 10] = 1
        masks[i, 20:24, 2:30] = 2
        masks[i, 26:29, 26:29] = 3
    images[:, 0] += torch.tensor([0.0, 1.0, 0.6, 0.8])[masks]
    return images.clamp(0, 1), masks


def test_the_transforms_are_nnunets_own_defaults():
    """Built from the installed nnunetv2's ``get_training_transforms`` with what it gives a square 2D patch, the
    pipeline is ours but for the blur's timing benchmark, and draws the same augmentations from the same seeds."""
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    theirs = nnUNetTrainer.get_training_transforms((32, 32), (-math.pi, math.pi), None, (0, 1), False)
    ours = nnunet_transforms(32, 32)
    assert "benchmark = True" in repr(theirs)
    assert repr(theirs).replace("benchmark = True", "benchmark = False") == repr(ours)
    blur = next(t.transform for t in theirs.transforms if "GaussianBlur" in type(getattr(t, "transform", t)).__name__)
    blur.benchmark = False
    images, masks = _labelled()
    for i in range(len(images)):
        outs = []
        for transform in (theirs, ours):
            torch.manual_seed(i)
            np.random.seed(i)
            outs.append(transform(image=images[i].clone(), segmentation=masks[i, None].clone()))
        assert torch.equal(outs[0]["image"], outs[1]["image"])
        assert torch.equal(outs[0]["segmentation"], outs[1]["segmentation"])


def test_labels_kept_images_changed_and_moved_with_their_masks():
    images, masks = _labelled(16)
    out_images, out_masks = nnunet(images, masks, torch.Generator().manual_seed(1))
    assert out_images.shape == images.shape and out_images.dtype == images.dtype
    assert out_masks.shape == masks.shape and out_masks.dtype == masks.dtype
    assert set(out_masks.unique().tolist()) == {0, 1, 2, 3}  # no label lost, merged or made up
    for i in range(16):
        assert set(out_masks[i].unique().tolist()) <= set(masks[i].unique().tolist())
    assert not torch.equal(out_images, images) and not torch.equal(out_masks, masks)
    bright, square = out_images[:, 0] > 0.9 * out_images.amax(dim=(1, 2, 3))[:, None, None], out_masks == 1
    assert (bright & square).sum() / (bright | square).sum() > 0.6  # intensity transforms keep the order


def test_same_seed_same_bytes_and_nothing_else_disturbed():
    images, masks = _labelled()
    before = images.clone(), masks.clone()
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()
    a = augment_batch("nnunet", images, masks, torch.Generator().manual_seed(3))
    b = augment_batch("nnunet", images, masks, torch.Generator().manual_seed(3))
    c = augment_batch("nnunet", images, masks, torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert torch.equal(images, before[0]) and torch.equal(masks, before[1])
    assert torch.equal(torch_state, torch.random.get_rng_state())
    after = np.random.get_state()
    assert numpy_state[0] == after[0] and np.array_equal(numpy_state[1], after[1]) and numpy_state[2:] == after[2:]


def test_it_runs_without_nnunetv2():
    """batchgeneratorsv2 is a dependency of its own: the augmentation imports and runs with nnunetv2 made
    unimportable."""
    code = (
        "import sys; sys.modules['nnunetv2'] = None\n"
        "import torch\n"
        "from bench.segmentation.nnunet_transforms import nnunet_transforms\n"
        "out = nnunet_transforms(32, 32)(image=torch.rand(1, 32, 32), segmentation=torch.zeros(1, 32, 32).long())\n"
        "assert out['image'].shape == (1, 32, 32)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def _pairs(n, seed, name):
    images, masks = _labelled(n)
    shift = 0.01 * torch.rand(n, 1, 1, 1, generator=torch.Generator().manual_seed(seed))
    return PairSet([f"{name}{i}" for i in range(n)], (images + shift).clamp(0, 1), masks.clamp(max=1), name)


def test_training_batches_only_real_and_generated_alike(monkeypatch):
    """Every batch the trainer augments holds training pairs (real and generated, as they come); evaluation never
    augments; two fits of one seed give the same weights."""
    import bench.segmentation.trainer as trainer

    real, generated, test = _pairs(6, 1, "r"), _pairs(6, 2, "g"), _pairs(3, 3, "t")
    seen = []
    augment = trainer.augment_batch

    def spy(name, images, masks, generator):
        assert name == "nnunet"
        seen.append(images.clone())
        return augment(name, images, masks, generator)

    monkeypatch.setattr(trainer, "augment_batch", spy)
    cfg = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"], {"epochs": 2, "batch_size": 4})
    fits = [train_segmentation(real, "unet", cfg, 0, CPU, "nnunet", generated=generated) for _ in range(2)]
    assert len(seen) == 2 * 2 * math.ceil(12 / 4)
    pool = torch.cat([real.images, generated.images])
    for batch in seen:
        for image in batch:
            assert any(torch.equal(image, p) for p in pool)
            assert not any(torch.equal(image, t) for t in test.images)
    calls = len(seen)
    evaluate(fits[0].model, test, CPU)
    assert len(seen) == calls
    weights = [torch.cat([p.detach().flatten() for p in f.model.parameters()]) for f in fits]
    assert torch.equal(weights[0], weights[1])


def test_the_choice_is_declared_once():
    assert "nnunet" in AUGMENTS
    with pytest.raises(ValueError, match="unknown augmentation 'nnunett'"):
        augment_batch("nnunett", *_labelled(2), torch.Generator())
