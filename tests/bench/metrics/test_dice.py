import pytest
import torch

from bench.metrics.dice import dice_loss, dice_per_image


def test_binary_known_overlap():
    # P has 2 pixels, G has 3, they share 1: Dice = 2 * 1 / (2 + 3) = 0.4.
    pred = torch.tensor([[[1, 1], [0, 0]]])
    target = torch.tensor([[[1, 0], [1, 1]]])
    assert dice_per_image(pred, target).item() == pytest.approx(0.4, abs=1e-4)


def test_binary_4x4_batch_and_bool_input():
    a = torch.zeros(2, 4, 4, dtype=torch.bool)
    b = torch.zeros(2, 4, 4, dtype=torch.bool)
    a[0, :2, :2] = True  # 4 pixels
    b[0, :2, :] = True  # 8 pixels, overlap 4 -> 8/12
    a[1, :, :] = True  # 16 pixels
    b[1, :, :] = True  # identical -> 1
    d = dice_per_image(a, b)
    assert d.dtype == torch.float32 and d.shape == (2,)
    assert torch.allclose(d, torch.tensor([2 / 3, 1.0]), atol=1e-4)


def test_empty_masks():
    empty = torch.zeros(1, 4, 4, dtype=torch.long)
    full = torch.ones(1, 4, 4, dtype=torch.long)
    assert dice_per_image(empty, empty).item() == pytest.approx(1.0)
    assert dice_per_image(full, empty).item() < 1e-5
    assert dice_per_image(empty, full).item() < 1e-5


def test_multiclass_means_foreground_classes():
    target = torch.tensor([[[1, 1, 2, 2], [0, 0, 0, 0]]])
    pred = torch.tensor([[[1, 0, 2, 2], [0, 0, 0, 0]]])
    # class 1: 2*1/(1+2) = 2/3; class 2: 1 -> mean 5/6 (background is not scored)
    assert dice_per_image(pred, target, num_classes=3).item() == pytest.approx(5 / 6, abs=1e-4)
    # a class absent from both maps scores 1: (2/3 + 1 + 1) / 3
    assert dice_per_image(pred, target, num_classes=4).item() == pytest.approx(8 / 9, abs=1e-4)


def test_dice_loss_is_one_minus_dice():
    pred = torch.tensor([[[1, 1], [0, 0]]])
    target = torch.tensor([[[1, 0], [1, 1]]])
    assert dice_loss(pred, target).item() == pytest.approx(0.6, abs=1e-4)


@pytest.mark.parametrize(
    "pred, target, num_classes",
    [
        (torch.zeros(1, 4, 4, dtype=torch.long), torch.zeros(1, 4, 5, dtype=torch.long), 2),
        (torch.zeros(4, 4, dtype=torch.long), torch.zeros(4, 4, dtype=torch.long), 2),
        (torch.zeros(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long), 2),
        (torch.zeros(1, 4, 4, dtype=torch.long), torch.zeros(1, 4, 4, dtype=torch.long), 1),
    ],
)
def test_bad_input_raises(pred, target, num_classes):
    with pytest.raises(ValueError):
        dice_per_image(pred, target, num_classes)
