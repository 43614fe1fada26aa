"""Tiny Synthmed options, a run context and pair tensors shared by the Synthmed tests."""

import torch

from bench.config import PRESETS, TrainConfig, merge_options
from methods.base import MethodContext
from methods.synthmed.options import PRESETS as SYNTHMED_PRESETS
from methods.synthmed.options import SynthmedOptions

TINY = merge_options(SynthmedOptions, {}, SYNTHMED_PRESETS["smoke"], {"checkpoint_every": 2, "mask_gan_steps": 6})


def run_context(workdir, seed=0) -> MethodContext:
    train = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"])
    return MethodContext(workdir=workdir, seed=seed, device=torch.device("cpu"), train=train, preset="smoke")


def gan_tensors(pairs):
    return pairs.images.float() * 2 - 1, pairs.masks[:, None].float() * 2 - 1
