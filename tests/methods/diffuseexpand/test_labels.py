"""Label maps in diffusion space: one-hot encoding and decoding, the sample layout, the mask filters."""

import pytest
import torch

from methods.diffuseexpand.labels import (
    PAD,
    binary_median,
    data_channels,
    decode_masks,
    encode_images,
    encode_masks,
    from_one_hot,
    mode_filter,
    one_hot,
)


def _labels(k: int, n: int = 3, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, k + 1, (n, size, size), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("k,channels", [(1, 1), (1, 3), (2, 1), (3, 3), (4, 3)])
def test_encode_decode_round_trip(k, channels):
    labels = _labels(k)
    d = data_channels(channels, k)
    x = encode_masks(labels, k, d)
    assert x.shape == (3, d, 8, 8) and set(x.unique().tolist()) <= {-1.0, 1.0}
    assert torch.equal(decode_masks(x, k), labels)
    assert torch.equal(from_one_hot(one_hot(labels, k)), labels)
    # small noise around the clean sample decodes to the same labels
    noisy = x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    assert torch.equal(decode_masks(noisy, k), labels)


def test_decoding_is_argmax_over_background_and_the_class_channels():
    x = torch.tensor([[-0.2, 0.3, 0.9], [-0.5, 0.1, -0.1]])[None, :, None, :]  # K = 2 channels x 3 pixels
    assert decode_masks(x, 2)[0, 0].tolist() == [0, 1, 1]
    x[0, 1, 0, 2] = 1.5
    assert decode_masks(x, 2)[0, 0].tolist() == [0, 1, 2]


def test_binary_layout_is_the_released_one():
    """K = 1: the {0, 1} mask on every image channel, decoded by the sign of the channel mean."""
    labels = _labels(1)
    assert data_channels(3, 1) == 3
    assert torch.equal(encode_masks(labels, 1, 3), labels[:, None].float().expand(-1, 3, -1, -1) * 2 - 1)
    assert torch.equal(one_hot(labels, 1), labels[:, None].float())
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    assert torch.equal(decode_masks(x, 1), (x.mean(1) > 0).long())


def test_unused_channels_are_padded():
    assert data_channels(1, 3) == 3 and data_channels(3, 2) == 3
    images = torch.rand(2, 1, 8, 8)
    x = encode_images(images, 3)
    assert torch.equal(x[:, :1], images * 2 - 1) and torch.all(x[:, 1:] == PAD)
    masks = encode_masks(_labels(2, n=2), 2, 3)
    assert torch.all(masks[:, 2] == PAD)


def test_binary_median_removes_isolated_pixels_and_keeps_regions():
    mask = torch.zeros(1, 1, 12, 12)
    mask[0, 0, 2:9, 2:9] = 1
    mask[0, 0, 5, 5] = 0  # a hole inside the region
    mask[0, 0, 10, 1] = 1  # a lone pixel outside it
    out = binary_median(mask, 3)
    assert out[0, 0, 5, 5] == 1 and out[0, 0, 10, 1] == 0
    assert out.sum() == 7 * 7 - 4  # the square, hole filled, minus its four corners
    assert torch.equal(binary_median(torch.ones(1, 1, 5, 5), 5), torch.ones(1, 1, 5, 5))


def test_mode_filter_takes_the_majority_label():
    labels = torch.zeros(1, 12, 12, dtype=torch.long)
    labels[0, 1:6, 1:6] = 1
    labels[0, 1:6, 6:11] = 2
    labels[0, 3, 3] = 2  # a stray label inside region 1
    labels[0, 9, 9] = 1  # a lone pixel in the background
    out = mode_filter(labels, 2, 3)
    assert out[0, 3, 3] == 1 and out[0, 9, 9] == 0
    assert out[0, 3, 8] == 2 and out[0, 3, 2] == 1
    assert set(out.unique().tolist()) == {0, 1, 2}
    # a tie keeps the pixel's own label: a 1-wide stripe pattern 0/1/2 has 3 of each label in every window
    stripes = (torch.arange(9) % 3).repeat(9, 1)[None]
    assert torch.equal(mode_filter(stripes, 2, 3)[:, 1:-1, 1:-1], stripes[:, 1:-1, 1:-1])
    with pytest.raises(ValueError, match="odd"):
        mode_filter(labels, 2, 4)


def test_mode_filter_is_the_binary_median_for_binary_masks():
    labels = (torch.rand(4, 16, 16, generator=torch.Generator().manual_seed(3)) > 0.6).long()
    for size in (3, 5):
        expected = binary_median(labels[:, None].float(), size)[:, 0].long()
        assert torch.equal(mode_filter(labels, 1, size), expected)
        # the multi-class rule, run on a binary map, agrees: an odd window never ties two labels
        votes = torch.nn.functional.one_hot(labels, 2).permute(0, 3, 1, 2).float()
        padded = torch.nn.functional.pad(votes, [size // 2] * 4, mode="replicate")
        counts = torch.nn.functional.avg_pool2d(padded, size, stride=1, divisor_override=1)
        assert torch.equal(counts.argmax(1), expected)
