"""Joint image + mask diffusion: the one-pass alternative to DiffuseExpand's two-phase design (masks first, then
images conditioned on them).

One unconditional ε-prediction denoiser, of the architecture and training budget of DiffuseExpand's stage I
(the shared ``denoiser_*`` options and per-preset values of :mod:`methods.diffusion`), learns image and mask
stacked as channels: x₀ = [image, mask] in [-1, 1], ``C + 1`` channels. A pair is sampled in one DPM-Solver++
loop (the shared solver setup, :func:`methods.diffusion.dpm_solver`) and its mask channel is binarised at 0. At
the ``cpu`` preset joint keeps the shared solver (order 3, 15 steps), where DiffuseExpand has a cheaper one of its
own (order 2, 10 steps) that was measured on DiffuseExpand's pairs only. Whether mask
and image agree is left entirely to the network: no conditioning, no guidance, no filter.

======================  ============================================================================
folder                  contents
======================  ============================================================================
``denoiser/<hash>``     the trained ``UNet2DModel`` (``save_pretrained``), ``scheduler_config.json``,
                        ``train_log.json``; ``checkpoints/step_<n>/`` while training (a killed run resumes)
``samples/<hash>``      all n pairs (``images/``, ``masks/``), ``records.csv``, ``gallery.png``
======================  ============================================================================

===============  =========================================================================================
file             what
===============  =========================================================================================
``denoiser.py``  the network (DiffuseExpand's stage-I architecture, C + 1 channels), its training samples, loss
                 and fit
``sampler.py``   :class:`JointSampler`, one DPM-Solver++ loop per batch of pairs
``method.py``    :class:`Joint`: the denoiser and the sampler as cached stages behind ``ExpansionMethod``
===============  =========================================================================================
"""

__all__ = ["Joint"]


def __getattr__(name: str):
    """``Joint`` on first use, as ``methods.diffuseexpand`` does."""
    if name == "Joint":
        from methods.joint.method import Joint

        return Joint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
