"""The nearest real image of each generated one, as the expansion page shows it."""

from __future__ import annotations

import torch


def test_nearest_real_image_of_every_generated_image():
    from bench.metrics.memorisation import nearest_real

    real = torch.eye(4)
    generated = torch.tensor([[1.0, 0.1, 0, 0], [0, 0, 0.2, 1.0]])
    images = torch.rand(4, 1, 16, 16)
    memo = nearest_real(generated, real, images[:2], images)
    per_image = memo.per_image(["a", "b"], ["r0", "r1", "r2", "r3"])
    assert [(p["generated"], p["real"]) for p in per_image] == [("a", "r0"), ("b", "r3")]
    assert [p["distance"] for p in per_image] == [round(float(d), 6) for d in memo.distance]
    assert [p["close"] for p in per_image] == [True, True]  # real images are 1.0 apart, these much closer
