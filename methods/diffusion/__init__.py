"""What the diffusion methods share (DiffuseExpand and joint diffusion); each method builds its own networks and
samplers from these pieces, and none of them knows about a method.

================  =================================================================================================
file              what
================  =================================================================================================
``schedule.py``   :data:`NOISE_SCHEDULE`, the forward process (T = 1000, linear β, ε-prediction), saved beside every
                  trained denoiser as ``scheduler_config.json`` (with its ``prediction_type``); EDM's
                  preconditioning (:func:`edm_coefficients`); :func:`model_input` and :func:`to_epsilon`, what a
                  denoiser is given at (x_t, t) and the ε its output stands for (ε, v or EDM); :func:`dpm_solver`,
                  diffusers' DPM-Solver++ with Imagen dynamic thresholding, one instance per sampling loop
``unet.py``       :func:`unet_config`, an ADM-style diffusers ``UNet2DModel``; :func:`load_model` reads a stage
                  folder back bit for bit
``training.py``   :func:`draw_batch` (uniform t, or EDM's log-normal σ), :func:`noised_input`, :func:`denoising_loss`
                  (ε or v, Min-SNR-γ weighted, or EDM's λ(σ)-weighted loss) and
                  :func:`train_denoiser`, the stage-I recipe (AdamW decaying linearly to 0, EMA, resumable checkpoints)
``augment.py``    non-leaking augmentation: warps of training samples given to the denoiser as a condition that
                  is zero at sampling (``augment_p``)
``options.py``    :class:`DenoiserOptions` and :data:`DENOISER_PRESETS`: the network, budget and solver knobs with
                  their one default, per-preset values and range checks (no torch: refusals stay instant)
``stage.py``      :func:`denoiser_stage`: stage I as a cached stage, keyed by data, seed, schedule and training options
``pretrained.py`` a ``bench pretrain`` folder: its record, fingerprint, the refusal of a test split it saw, and
                  :func:`train_with_schedule`, a denoiser trained into a folder with its forward process
``sampling.py``   :func:`sample_pairs`: any per-seed pair sampler run over the processes of a run
``recipe.py``     the recipe a ``bench pretrain`` folder records (the options its start is fine-tuned and sampled
                  with) and its reading back as a layer of a run's options; the folder's record, read and checked
                  (no torch)
================  =================================================================================================
"""
