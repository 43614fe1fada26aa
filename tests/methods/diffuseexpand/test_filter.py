"""Stage IV: the keep / relabel / drop rule and the real-data filter network."""

import pytest
import torch

from bench.config import PRESETS, TrainConfig, merge_options
from bench.pairs import PairSet
from methods.diffuseexpand.filter import MaskFilter, decide, select_pairs


def test_decision_bands():
    losses = torch.tensor([0.0, 0.064, 0.065, 0.1, 0.129, 0.13, 0.5], dtype=torch.float64)
    assert decide(losses, 0.065) == ["kept", "kept", "relabelled", "relabelled", "relabelled", "dropped", "dropped"]
    assert decide(torch.tensor([0.15]), eta=0.1) == ["relabelled"]
    with pytest.raises(ValueError, match="eta"):
        decide(losses, 0.0)


def _with_extra(mask: torch.Tensor, extra: int) -> torch.Tensor:
    """``mask`` plus ``extra`` foreground pixels taken from its first background pixels."""
    out = mask.clone().flatten()
    out[(out == 0).nonzero()[:extra, 0]] = 1
    return out.view_as(mask)


def test_select_pairs_on_hand_made_predictions():
    mask = torch.zeros(20, 20, dtype=torch.long)
    mask[5:15, 5:15] = 1  # 100 pixels
    generated = torch.stack([mask] * 4)
    # Dice = 200 / (200 + extra): 0 -> 1.0, 10 -> 0.952, 20 -> 0.909, 100 -> 0.667
    predictions = torch.stack([_with_extra(mask, k) for k in (0, 10, 20, 100)])
    out = select_pairs(predictions, generated, eta=0.065)
    assert out.decisions == ["kept", "kept", "relabelled", "dropped"]
    assert torch.allclose(out.dice_loss, torch.tensor([0.0, 10 / 210, 20 / 220, 100 / 300]), atol=1e-4)
    assert torch.equal(out.masks[2], predictions[2])
    assert torch.equal(out.masks[0], generated[0]) and torch.equal(out.masks[1], generated[1])
    assert out.pass_rate == 0.75
    with pytest.raises(ValueError, match="shape"):
        select_pairs(predictions[:, :10], generated, eta=0.065)


def _squares(n: int = 16, size: int = 32) -> PairSet:
    g = torch.Generator().manual_seed(2)
    images, masks = [], []
    for _ in range(n):
        y, x = torch.randint(4, size - 16, (2,), generator=g).tolist()
        m = torch.zeros(size, size, dtype=torch.long)
        m[y : y + 12, x : x + 12] = 1
        images.append((0.1 + 0.8 * m + 0.05 * torch.rand(size, size, generator=g)).clamp(0, 1)[None])
        masks.append(m)
    return PairSet([f"s{i:02d}" for i in range(n)], torch.stack(images), torch.stack(masks), "squares")


def test_filter_network_trains_saves_and_loads(tmp_path):
    cfg = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"])
    pairs = _squares()
    trained = MaskFilter("unet", cfg).fit(pairs, seed=0)
    trained.save(tmp_path / "f")
    loaded = MaskFilter.load(tmp_path / "f")
    assert loaded.model_name == "unet" and loaded.cfg == cfg
    assert torch.equal(trained.predict(pairs.images), loaded.predict(pairs.images))
    out = loaded(pairs, eta=0.065)
    assert len(out.decisions) == len(pairs) and out.predictions.shape == pairs.masks.shape
    with pytest.raises(RuntimeError, match="before fit"):
        MaskFilter("unet", cfg).predict(pairs.images)


def test_multiclass_selection_uses_the_per_class_dice():
    generated = torch.zeros(2, 20, 20, dtype=torch.long)
    generated[:, 5:15, 2:10] = 1
    generated[:, 5:15, 10:18] = 2  # two classes of 80 pixels each
    swapped = generated.clone()
    swapped[1][generated[1] > 0] = 3 - generated[1][generated[1] > 0]  # pair 1: left and right swapped
    out = select_pairs(swapped, generated, eta=0.065, num_classes=3)
    assert out.decisions == ["kept", "dropped"]
    assert torch.allclose(out.dice_loss, torch.tensor([0.0, 1.0]), atol=1e-4)
    # a prediction missing class 2 altogether: Dice 1 on class 1, 0 on class 2, mean 0.5
    no_right = torch.where(generated == 2, 0, generated)
    assert torch.allclose(select_pairs(no_right, generated, 0.065, 3).dice_loss, torch.tensor([0.5, 0.5]), atol=1e-4)
