"""Stage III's hypergradient: how the inner segmenter's validation loss changes with the architecture weights.

With V the segmenter's weights and A the architecture weights, the segmenter's loss on real + generated pairs
L_train(V, A) depends on A through the generated images, and one gradient step of size ξ gives
V'(A) = V - ξ ∇_V L_train(V, A). The hypergradient of L_val(V'(A)) is, as in DARTS (Liu et al. 2019, Eq. 7-8),
``-ξ ∇²_{A,V} L_train(V, A) · ∇_V' L_val(V')``, and the Hessian-vector product is the central difference
``(∇_A L_train(V⁺, A) - ∇_A L_train(V⁻, A)) / 2ε`` at V± = V ± ε v, v = ∇_V' L_val(V'), ε = fd_epsilon / |v|:
two more backward passes instead of second derivatives. The release gets its hypergradient from Betty's
``darts`` setting with one unrolled step, the same approximation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def architecture_gradient(
    params: list[torch.Tensor],
    arch: torch.Tensor,
    train_loss: Callable[[], torch.Tensor],
    generated_loss: Callable[[], torch.Tensor],
    val_loss: Callable[[], torch.Tensor],
    step: float,
    epsilon: float,
) -> tuple[torch.Tensor, list[torch.Tensor], float]:
    """The hypergradient of the validation loss after one virtual segmenter step, with respect to ``arch``.

    Args:
        params: the segmenter's trainable weights V (changed only while computing; restored on return).
        arch: the architecture weights A (requires grad).
        train_loss: L_train(V, A) on one batch (real + generated pairs), built anew on each call.
        generated_loss: the part of ``train_loss`` that depends on A (its generated pairs), the same batch; its
            graph is kept, so that it may reuse one forward pass of the generator.
        val_loss: L_val at the current weights, on the validation pairs.
        step: ξ, the virtual step's size (the segmenter's learning rate).
        epsilon: the finite difference's step before division by ``|v|``.

    Returns:
        ``d L_val / d A``, ``∇_V L_train(V, A)`` (for the segmenter's own step) and L_val(V').
    """
    saved = [p.detach().clone() for p in params]
    grads = torch.autograd.grad(train_loss(), params)
    with torch.no_grad():
        for p, g in zip(params, grads):
            p.sub_(step * g)
    val = val_loss()
    v = torch.autograd.grad(val, params, allow_unused=True)
    v = [torch.zeros_like(p) if x is None else x for p, x in zip(params, v)]
    norm = torch.sqrt(sum((x.double() ** 2).sum() for x in v))
    if norm == 0:
        _restore(params, saved)
        return torch.zeros_like(arch), list(grads), float(val.detach())
    eps = epsilon / float(norm)

    def arch_grad(sign: float) -> torch.Tensor:
        with torch.no_grad():
            for p, s, x in zip(params, saved, v):
                p.copy_(s + sign * eps * x)
        return torch.autograd.grad(generated_loss(), arch, retain_graph=True)[0]

    plus, minus = arch_grad(1.0), arch_grad(-1.0)
    _restore(params, saved)
    return -step * (plus - minus) / (2 * eps), list(grads), float(val.detach())


def _restore(params: list[torch.Tensor], saved: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for p, s in zip(params, saved):
            p.copy_(s)
