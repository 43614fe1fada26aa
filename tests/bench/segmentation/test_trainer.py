import io
import logging
import math

import pytest
import torch
from rich.console import Console
from rich.progress import Progress

from bench.config import PRESETS, TrainConfig, merge_options
from bench.pairs import PairSet
from bench.segmentation.trainer import (
    SegmentationLoss,
    SegmentationTrainer,
    evaluate,
    predict,
    train_segmentation,
)

CPU = torch.device("cpu")


def _smoke(**overrides) -> TrainConfig:
    return merge_options(TrainConfig, {}, PRESETS["smoke"]["train"], overrides)


def _discs(n: int, seed: int, size: int = 32, classes: int = 2) -> PairSet:
    """Noisy dark images with one bright disc (label 1); with ``classes == 3`` a dimmer square is label 2."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    images = 0.1 * torch.rand(n, 1, size, size, generator=g)
    masks = torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        cy, cx = torch.randint(10, size - 10, (2,), generator=g).tolist()
        r = int(torch.randint(5, 9, (1,), generator=g))
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        images[i, 0][disc] += 0.8
        masks[i][disc] = 1
        if classes == 3:
            sq = torch.zeros(size, size, dtype=torch.bool)
            sq[:4, :4] = True
            images[i, 0][sq] += 0.4
            masks[i][sq] = 2
    return PairSet([f"d{seed}_{i}" for i in range(n)], images.clamp(0, 1), masks, "discs")


def test_unet_learns_discs():
    train, test = _discs(16, 0), _discs(8, 1)
    cfg = _smoke(epochs=6, warmup_epochs=1, batch_size=4)
    result = train_segmentation(train, "unet", cfg, seed=0, device=CPU)
    assert result.steps == 6 * 4 and len(result.losses) == 6
    assert result.losses[-1] < result.losses[0]
    assert not result.model.training
    dice = evaluate(result.model, test, CPU)
    assert dice.shape == (8,)
    assert dice.mean() > 0.8


def test_same_seed_identical_different_seed_differs():
    train, test = _discs(10, 2), _discs(4, 3)
    cfg = _smoke(epochs=2, batch_size=4)
    runs = [train_segmentation(train, "attnunet", cfg, seed=s, device=CPU, augment="randaugment") for s in (5, 5, 6)]
    weights = [torch.cat([p.detach().flatten() for p in r.model.parameters()]) for r in runs]
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], weights[2])
    assert torch.equal(evaluate(runs[0].model, test, CPU), evaluate(runs[1].model, test, CPU))
    assert runs[0].losses == runs[1].losses


@pytest.mark.parametrize("augment", ["cutmix", "xlsor"])
def test_fit_does_not_touch_global_rng(augment):
    state = torch.random.get_rng_state()
    train_segmentation(_discs(4, 4), "transunet", _smoke(epochs=1), seed=0, device=CPU, augment=augment)
    assert torch.equal(state, torch.random.get_rng_state())


def test_augmentation_sees_training_batches_only(monkeypatch):
    """Every batch the augmentation gets is made of training images; evaluation never calls it."""
    import bench.segmentation.trainer as trainer

    train, test = _discs(6, 7), _discs(3, 8)
    seen = []
    augment_batch = trainer.augment_batch

    def spy(name, images, masks, generator):
        seen.append(images.clone())
        return augment_batch(name, images, masks, generator)

    monkeypatch.setattr(trainer, "augment_batch", spy)
    cfg = _smoke(epochs=2, batch_size=4)
    result = train_segmentation(train, "unet", cfg, seed=0, device=CPU, augment="xlsor")
    assert len(seen) == 2 * math.ceil(6 / 4)
    for batch in seen:
        for image in batch:
            assert any(torch.equal(image, t) for t in train.images)
            assert not any(torch.equal(image, t) for t in test.images)
    calls = len(seen)
    evaluate(result.model, test, CPU)
    assert len(seen) == calls


def test_scheduler_warmup_then_cosine():
    cfg = TrainConfig(epochs=50, warmup_epochs=5, lr=1e-2, warmup_lr=1e-4, min_lr=1e-7)  # paper schedule
    trainer = SegmentationTrainer("unet", cfg, CPU)
    steps_per_epoch = 3
    optimizer, scheduler = trainer.configure_optimizers(torch.nn.Linear(2, 1), steps_per_epoch)
    assert isinstance(optimizer, torch.optim.Adam)
    lrs = []
    for t in range(cfg.epochs * steps_per_epoch):
        lrs.append(optimizer.param_groups[0]["lr"])  # the lr used by optimiser step t
        scheduler.step_update(t + 1)
    warm = cfg.warmup_epochs * steps_per_epoch
    assert lrs[0] == pytest.approx(cfg.warmup_lr)
    assert all(a < b for a, b in zip(lrs[:warm], lrs[1 : warm + 1]))  # linear rise
    assert max(lrs) == pytest.approx(cfg.lr, rel=0.05)
    assert all(a >= b for a, b in zip(lrs[warm:], lrs[warm + 1 :]))  # cosine decay
    assert lrs[-1] < 1e-3 * cfg.lr
    assert optimizer.param_groups[0]["lr"] == pytest.approx(cfg.min_lr)


def test_a_step_budget_is_the_same_for_every_set_size():
    """``steps`` trains exactly that many optimiser steps on 5 pairs and on 17 (epochs ignored, the last cut short),
    with the warm-up the same share of training as ``warmup_epochs`` of ``epochs``."""
    cfg = _smoke(epochs=4, warmup_epochs=1, batch_size=4, steps=7)
    small, large = (train_segmentation(_discs(n, n), "unet", cfg, seed=0, device=CPU) for n in (5, 17))
    assert small.steps == large.steps == 7
    assert len(small.losses) == 4 and len(large.losses) == 2  # 2 and 5 batches per epoch
    trainer = SegmentationTrainer("unet", cfg, CPU)
    assert trainer.total_steps(steps_per_epoch=5) == (7, 2)  # round(7 * 1 / 4)
    assert SegmentationTrainer("unet", _smoke(epochs=4, warmup_epochs=1), CPU).total_steps(5) == (20, 5)
    with pytest.raises(ValueError, match="steps must be >= 0"):
        _smoke(steps=-1)


def test_progress_and_epoch_logging(caplog):
    train = _discs(5, 5)
    cfg = _smoke(epochs=2, batch_size=2)
    progress = Progress(console=Console(file=io.StringIO()))
    with caplog.at_level(logging.DEBUG, logger="bench.segmentation.trainer"):
        result = train_segmentation(train, "attnunet", cfg, 0, CPU, progress=progress, description="fit")
    task = progress.tasks[0]
    steps = cfg.epochs * math.ceil(5 / 2)
    assert result.steps == steps and task.total == steps and task.completed == steps
    assert "epoch 2/2" in task.description
    assert len([r for r in caplog.records if "epoch" in r.getMessage()]) == 2


def test_multiclass_fit_and_predict():
    train = _discs(6, 6, classes=3)
    result = train_segmentation(train, "attnunet", _smoke(epochs=1), 0, CPU)
    labels = predict(result.model, train.images, CPU, batch_size=4)
    assert labels.shape == (6, 32, 32) and labels.dtype == torch.int64
    assert labels.min() >= 0 and labels.max() <= 2
    assert evaluate(result.model, train, CPU).shape == (6,)


@pytest.mark.parametrize("kind", ["bce+dice", "l1+dice"])
def test_loss_low_when_right_high_when_wrong(kind):
    masks = _discs(2, 7).masks
    sign = masks[:, None].float() * 2 - 1
    loss = SegmentationLoss(kind)
    assert loss(20 * sign, masks) < 0.01
    assert loss(-20 * sign, masks) > 1.0
    onehot = torch.nn.functional.one_hot(masks, 3).permute(0, 3, 1, 2).float()
    assert loss(40 * onehot - 20, masks) < 0.01


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown model"):
        SegmentationTrainer("vnet", _smoke(), CPU)
    with pytest.raises(ValueError, match="augmentation"):
        SegmentationTrainer("unet", _smoke(), CPU, augment="mixup")
    with pytest.raises(ValueError, match="unknown loss"):
        SegmentationTrainer("unet", _smoke(loss="focal"), CPU).build_loss()
    empty = PairSet([], torch.zeros(0, 1, 32, 32), torch.zeros(0, 32, 32, dtype=torch.long))
    with pytest.raises(ValueError, match="empty"):
        train_segmentation(empty, "unet", _smoke(), 0, CPU)
