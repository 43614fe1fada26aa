"""Stage III's hypergradient against a finite-difference estimate of the same unrolled objective."""

import torch
from torch import nn

from methods.genseg.hypergradient import architecture_gradient
from methods.genseg.networks import SearchableUNet


def _loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    return ((torch.sigmoid(logits[:, 0]) - masks) ** 2).mean()


def test_matches_a_central_difference_of_the_unrolled_validation_loss():
    torch.manual_seed(0)
    generator = SearchableUNet(8, 1, 2).double()
    generator.arch.requires_grad_(True)
    with torch.no_grad():
        generator.arch.normal_(0, 0.5)
    segmenter = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 1, 3, padding=1)).double()
    params = list(segmenter.parameters())
    masks = (torch.rand(3, 8, 8, dtype=torch.float64) > 0.5).double()
    val_images, val_masks = torch.rand(2, 1, 8, 8, dtype=torch.float64), (torch.rand(2, 8, 8) > 0.5).double()
    step = 0.5

    def generated_loss() -> torch.Tensor:
        return _loss(segmenter(torch.tanh(generator(masks[:, None] * 2 - 1))), masks)

    def val_loss() -> torch.Tensor:
        return _loss(segmenter(val_images), val_masks)

    grad, seg_grads, _ = architecture_gradient(
        params, generator.arch, generated_loss, generated_loss, val_loss, step, epsilon=1e-4
    )
    before = [p.detach().clone() for p in params]

    def unrolled(arch: torch.Tensor) -> float:
        with torch.no_grad():
            generator.arch.copy_(arch)
        grads = torch.autograd.grad(generated_loss(), params)
        with torch.no_grad():
            stepped = [p - step * g for p, g in zip(params, grads)]
            return float(_loss(torch.func.functional_call(segmenter, dict(zip(
                [n for n, _ in segmenter.named_parameters()], stepped)), (val_images,)), val_masks))  # fmt: skip

    arch0, h = generator.arch.detach().clone(), 1e-5
    numeric = torch.zeros_like(arch0)
    for i in range(arch0.numel()):
        e = torch.zeros_like(arch0).view(-1)
        e[i] = h
        numeric.view(-1)[i] = (unrolled(arch0 + e.view_as(arch0)) - unrolled(arch0 - e.view_as(arch0))) / (2 * h)
    assert numeric.abs().max() > 1e-6, "the test needs a hypergradient that is not zero"
    assert torch.allclose(grad, numeric, rtol=1e-4, atol=1e-4 * float(numeric.abs().max()))
    assert all(torch.equal(a, b) for a, b in zip(params, before)), "the segmenter's weights are restored"
    assert len(seg_grads) == len(params) and all(g.shape == p.shape for g, p in zip(seg_grads, params))


def test_a_zero_validation_gradient_gives_a_zero_hypergradient():
    generator = SearchableUNet(8, 1, 2)
    generator.arch.requires_grad_(True)
    segmenter = nn.Conv2d(1, 1, 1)
    masks = torch.ones(1, 8, 8)

    def generated_loss() -> torch.Tensor:
        return _loss(segmenter(torch.tanh(generator(masks[:, None]))), masks)

    grad, _, val = architecture_gradient(
        list(segmenter.parameters()), generator.arch, generated_loss, generated_loss, lambda: segmenter.bias.sum() * 0,
        step=0.1, epsilon=0.01,
    )  # fmt: skip
    assert val == 0 and torch.equal(grad, torch.zeros_like(generator.arch))
