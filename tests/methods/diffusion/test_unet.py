"""A stage folder whose network is torn (a crash of the disk, a copy cut short) is named with how to remake it."""

from __future__ import annotations

import pytest
from diffusers import UNet2DModel

from bench.files import CorruptFileError
from methods.diffusion.unet import load_model

WEIGHTS = "diffusion_pytorch_model.safetensors"


@pytest.fixture
def stage(tmp_path):
    folder = tmp_path / "_cache" / "denoiser" / "3c4118715b50"
    UNet2DModel(
        sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8,), layers_per_block=1, norm_num_groups=4,
        down_block_types=("DownBlock2D",), up_block_types=("UpBlock2D",),
    ).save_pretrained(folder)
    return folder


def test_a_torn_cached_network_names_the_file_and_how_to_remake_it(stage):
    weights = stage / WEIGHTS
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CorruptFileError) as info:
        load_model(UNet2DModel, stage)
    assert str(info.value).startswith(f"{weights}: not a trained UNet2DModel (")
    assert str(info.value).endswith(f"; delete {stage} (or run with --force) to make it again")


def test_a_pretrained_folder_without_its_config_names_the_option(stage):
    (stage / "config.json").write_text("{ torn")
    with pytest.raises(CorruptFileError, match=r"^--option pretrained: .*: not a trained UNet2DModel .*; pretrain"):
        load_model(UNet2DModel, stage, origin="--option pretrained", remedy="pretrain it again")
