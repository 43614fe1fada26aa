"""The reference network: trained on real pairs, saved in the stage-IV cache's format, loaded back identical."""

import json

import pytest
import torch
from synthetic_pairs import disc_pairs

from bench.config import PRESETS, TrainConfig, merge_options
from bench.segmentation.reference import ReferenceNetwork


def test_saved_network_keeps_the_stage_iv_format_and_predicts_the_same(tmp_path):
    cfg = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"], {"epochs": 1})
    pairs = disc_pairs(n=8, size=32)
    trained = ReferenceNetwork("unet", cfg).fit(pairs, seed=0)
    trained.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["filter.json", "model.pt"]
    meta = json.loads((tmp_path / "filter.json").read_text())
    assert sorted(meta) == ["channels", "model_name", "seconds", "size", "train"]  # binary: no num_classes
    assert (meta["model_name"], meta["channels"], meta["size"]) == ("unet", 1, 32)
    loaded = ReferenceNetwork.load(tmp_path)
    assert loaded.cfg == cfg and loaded.num_classes == 2 and not loaded.model.training
    assert torch.equal(trained.predict(pairs.images), loaded.predict(pairs.images))
    with pytest.raises(RuntimeError, match="before fit"):
        ReferenceNetwork("unet", cfg).predict(pairs.images)
