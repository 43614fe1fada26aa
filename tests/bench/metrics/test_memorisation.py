import torch
from PIL import Image

from bench.metrics.memorisation import cosine_distances, nearest_real, save_closest_pairs


def test_exact_copies_are_flagged(xrays, xray_features, tmp_path):
    real, feats = xrays["montgomery"], xray_features["montgomery"].pool
    copies = [3, 0, 7, 7, 12]
    memo = nearest_real(feats[copies], feats, real.images[copies], real.images)
    assert memo.share_close == 1.0
    assert memo.neighbour.tolist() == copies
    torch.testing.assert_close(memo.ssim, torch.ones(5, dtype=torch.float64), atol=1e-4, rtol=0)
    assert memo.copies.all() and memo.copy_threshold < 0.99
    torch.testing.assert_close(memo.pixel_ssim, torch.ones(5, dtype=torch.float64), atol=1e-4, rtol=0)
    save_closest_pairs(tmp_path / "closest.png", memo, real.images[copies], real.images, shown=4)
    with Image.open(tmp_path / "closest.png") as im:
        assert im.size[0] < im.size[1]  # 4 rows of generated | real


def test_other_data_set_is_not_flagged(xrays, xray_features):
    memo = nearest_real(
        xray_features["shenzhen_a"].pool,
        xray_features["montgomery"].pool,
        xrays["shenzhen_a"].images,
        xrays["montgomery"].images,
    )
    assert memo.share_close <= 0.05
    summary = memo.summary(xrays["shenzhen_a"].ids, xrays["montgomery"].ids, shown=3)
    assert len(summary["closest"]) == 3 and summary["closest"][0]["distance"] == round(summary["nn_distance_min"], 6)
    assert summary["nn_ssim_max"] < 0.99
    assert summary["share_copies"] <= 0.05 and summary["pixel_ssim_median"] < summary["real_pixel_ssim_max"]


def test_a_generator_that_redraws_its_training_images_is_caught_in_pixels(xrays, xray_features):
    """Copies shifted by a pixel, noised and dimmed (what an overfitted generator draws) are caught in pixels, while
    unseen real images of the same set are not."""
    real, feats = xrays["montgomery"], xray_features["montgomery"].pool
    train, unseen = real.images[:12], real.images[12:]
    redrawn = (
        0.95 * torch.roll(train, 1, dims=-1)
        + 0.02 * torch.randn(train.shape, generator=torch.Generator().manual_seed(0))
    ).clamp(0, 1)
    memo = nearest_real(feats[:12], feats[:12], redrawn, train)
    assert float(memo.copies.double().mean()) >= 0.9
    held_out = nearest_real(feats[12:], feats[:12], unseen, train)
    assert float(held_out.copies.double().mean()) <= 0.25
    assert held_out.pixel_ssim.median() < memo.pixel_ssim.median()
    # a blurred prototype (the mean image) is near every training image and a copy of none
    average = nearest_real(feats[:1], feats[:12], train.mean(0, keepdim=True), train)
    assert not average.copies.any()


def test_cosine_distance():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    torch.testing.assert_close(cosine_distances(a, a * 3), torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64))


def test_pixel_checks_in_tiny_batches_equal_one_batch(xrays, xray_features, monkeypatch):
    """The copy check compares images a batch at a time; a batch of 1 or 2 gives what one batch of everything
    gives (the old computation), to 1e-6."""
    from bench.metrics import memorisation

    real, gen = xrays["montgomery"], xrays["shenzhen_a"]
    whole = len(real.ids) + len(gen.ids)
    for images, leave_out in ((gen.images[:7], False), (real.images[:9], True)):
        direct = memorisation.best_ssim(images, real.images[:9], leave_out, batch=whole)
        for batch in (1, 2, 4):
            chunked = memorisation.best_ssim(images, real.images[:9], leave_out, batch=batch)
            torch.testing.assert_close(chunked, direct, atol=1e-6, rtol=0)
    feats = (xray_features["shenzhen_a"].pool[:7], xray_features["montgomery"].pool[:9])
    args = (*feats, gen.images[:7], real.images[:9])
    monkeypatch.setattr(memorisation, "BATCH", whole)
    direct = memorisation.nearest_real(*args)
    monkeypatch.setattr(memorisation, "BATCH", 2)
    chunked = memorisation.nearest_real(*args)
    assert torch.equal(chunked.neighbour, direct.neighbour)
    for name in ("distance", "ssim", "pixel_ssim"):
        torch.testing.assert_close(getattr(chunked, name), getattr(direct, name), atol=1e-6, rtol=0)
    assert abs(chunked.copy_threshold - direct.copy_threshold) <= 1e-6
    assert chunked.real_threshold == direct.real_threshold


def test_generation_metrics_in_tiny_batches_equal_one_batch(inception, xrays, monkeypatch):
    """FID, KID and the memorisation figures of a small set, with every batch forced tiny (Inception's too), are
    what one batch of everything gives, to 1e-6."""
    from bench.metrics import memorisation
    from bench.metrics.generation import Images, generation_metrics

    real, gen = xrays["montgomery"], xrays["shenzhen_a"]
    real, gen = Images(real.ids[:6], real.images[:6]), Images(gen.ids[:5], gen.images[:5])
    figures = {}
    for batch in (64, 1):
        monkeypatch.setattr(memorisation, "BATCH", batch)
        figures[batch] = generation_metrics(real, gen, inception=_Batched(inception, batch))[0]
    for key in ("fid", "kid", "kid_std"):
        assert abs(figures[1][key] - figures[64][key]) <= 1e-6 * max(1.0, abs(figures[64][key])), key
    one, many = figures[1]["memorisation"], figures[64]["memorisation"]
    for key, value in many.items():
        if isinstance(value, float):
            assert abs(one[key] - value) <= 1e-6, key
    assert one["closest"] == many["closest"]


class _Batched:
    """An Inception extractor that passes ``batch`` images at a time through the network."""

    def __init__(self, inception, batch):
        self.inception, self.weights, self.batch = inception, inception.weights, batch

    def __call__(self, images, **kw):
        return self.inception(images, **{**kw, "batch_size": self.batch})
