import pytest
import torch

from bench.config import MODELS, PRESETS, TrainConfig, merge_options
from bench.segmentation.models import build_model, count_parameters

SMOKE = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"])


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [32, 64])
def test_forward_shape_binary(name, channels, size):
    model = build_model(name, channels, 2, size, SMOKE).eval()
    with torch.no_grad():
        out = model(torch.rand(2, channels, size, size))
    assert out.shape == (2, 1, size, size)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", MODELS)
def test_multiclass_output_channels_are_logits(name):
    model = build_model(name, 1, 4, 32, SMOKE).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, 32, 32))
    assert out.shape == (2, 4, 32, 32)
    # logits: no softmax applied, so the channels do not sum to one
    assert not torch.allclose(out.sum(1), torch.ones(2, 32, 32), atol=1e-3)


def test_transunet_scales_with_vit_settings():
    small = count_parameters(build_model("transunet", 1, 2, 32, SMOKE))
    deeper = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"], {"vit_layers": 3})
    assert count_parameters(build_model("transunet", 1, 2, 32, deeper)) > small > 0


def test_unknown_name_lists_known():
    with pytest.raises(ValueError, match="unet, attnunet, transunet"):
        build_model("segformer", 1, 2, 32, SMOKE)


@pytest.mark.parametrize("name, size", [("unet", 48), ("attnunet", 40), ("transunet", 24)])
def test_bad_size_raises(name, size):
    with pytest.raises(ValueError, match="divisible"):
        build_model(name, 1, 2, size, SMOKE)


def test_bad_channels_and_classes_raise():
    with pytest.raises(ValueError, match="in_channels"):
        build_model("unet", 2, 2, 32, SMOKE)
    with pytest.raises(ValueError, match="num_classes"):
        build_model("unet", 1, 1, 32, SMOKE)
    with pytest.raises(ValueError, match="vit_heads"):
        build_model("transunet", 1, 2, 32, merge_options(TrainConfig, {}, {"vit_dim": 30, "vit_heads": 4}))


def test_count_parameters():
    assert count_parameters(torch.nn.Linear(3, 2)) == 8
