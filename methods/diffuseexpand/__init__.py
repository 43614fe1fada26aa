"""DiffuseExpand (Shao et al., 2023, arXiv 2304.13416): expand a 2D segmentation dataset with diffusion pairs.

A mask is sampled from noise, then an image conditioned on it, by one denoiser; a noise-aware segmenter
guides both phases; a network trained on the real pairs keeps, relabels or drops each generated pair.

=========  ==============================  ================================================================
paper      file                            role
=========  ==============================  ================================================================
Stage I    ``denoiser.py``                 train the conditional ε-predictor for masks (y1 = 1) and images
                                           (y1 = 0, conditioned on the mask y2); classifier-free (§3.2)
Stage II   ``segmenter.py``                train the noise-aware segmenter f_ψ with mode head g_ω (§3.3, Eq. 4)
Stage III  ``guidance.py``, ``sampler.py`` segmenter guidance ε̃ = ε − s·σ_t·∇ log p_τ and the two-phase
                                           DPM-Solver++ sampler (§3.4, Eq. 5, Lemma 3.3)
Stage IV   ``filter.py``                   keep / relabel / drop by the Dice loss of a real-data network (§3.5)
—          ``labels.py``                   masks in diffusion space: binary ones on the image channels, labels
                                           0..K as K one-hot channels decoded by argmax; the mask filters
—          ``networks.py``                 the denoiser and segmenter networks (diffusers models) and the
                                           noise schedule they share
—          ``options.py``                  every option with its one default, and the per-preset overrides
                                           (imports no torch: a bad ``--option`` is refused at once)
—          ``sampling_config.py``          the sampling knobs the sampler, the cost counter and ``bench speed
                                           --compare`` share, checked once
—          ``mask_source.py``              the image phase's masks from augmented real masks instead of the
                                           mask phase (``mask_source=augmented``)
—          ``method.py``                   :class:`DiffuseExpand`: the stages composed behind
                                           ``ExpansionMethod``, each a cached stage folder
—          ``cost.py``                     network calls and FLOPs per generated pair of a sampling
                                           configuration, counted on the meta device
—          ``speed.py``                    seconds per step / per pair of each stage, FLOPs per pair
                                           (``bench speed``)
=========  ==============================  ================================================================

Ablation variants (paper Table 1): ``cf`` = classifier-free conditioning only, ``cf+cg`` = + segmenter
guidance, ``cf+cg+cs`` = + stage-IV selection.
"""

__all__ = ["DiffuseExpand"]


def __getattr__(name: str):
    """``DiffuseExpand`` on first use: its options module must import without torch (refusals stay instant)."""
    if name == "DiffuseExpand":
        from methods.diffuseexpand.method import DiffuseExpand

        return DiffuseExpand
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
