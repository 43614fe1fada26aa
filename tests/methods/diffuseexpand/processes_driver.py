"""Run DiffuseExpand stages in one process or under ``torchrun`` (used by test_processes.py).

python processes_driver.py fit WORKDIR      # stage I (data-parallel) + stage III (sharded), variant cf
python processes_driver.py sample WORKDIR OUT   # stage III with the trained denoiser, pairs written to OUT
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch

TESTS = Path(__file__).resolve().parents[2]
sys.path[0] = str(TESTS.parent)  # the repository, not this folder: tests/methods would shadow the methods package
sys.path.append(str(TESTS))

from synthetic_pairs import disc_pairs  # noqa: E402

from bench.config import PRESETS, TrainConfig, merge_options  # noqa: E402
from bench.data import save_pairs  # noqa: E402
from bench.pairs import PairSet  # noqa: E402
from bench.training import process_state  # noqa: E402
from methods.base import MethodContext  # noqa: E402
from methods.diffuseexpand import DiffuseExpand  # noqa: E402
from methods.diffuseexpand.networks import Denoiser  # noqa: E402
from methods.diffuseexpand.sampler import PairSampler  # noqa: E402
from methods.diffuseexpand.sampling_config import SamplingConfig  # noqa: E402
from methods.diffusion.sampling import sample_pairs  # noqa: E402
from methods.diffusion.unet import load_model  # noqa: E402

N_PAIRS = 10
OPTIONS = {"denoiser_steps": 40, "checkpoint_every": 5, "sample_batch": 4, "sampling_steps": 3}


def main() -> None:
    command, workdir = sys.argv[1], Path(sys.argv[2])
    state = process_state("cpu")
    options = merge_options(DiffuseExpand.Options, {}, DiffuseExpand.presets["smoke"], OPTIONS)
    if command == "fit":
        train = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"])
        ctx = MethodContext(workdir=workdir, seed=0, device=torch.device("cpu"), train=train, preset="smoke")
        method = DiffuseExpand("cf", options)
        method.fit(disc_pairs(8), ctx)
        method.expand(N_PAIRS, ctx)
        return
    denoiser = load_model(Denoiser, next((workdir / "denoiser").glob("[0-9a-f]*")))
    samples = next((workdir / "samples").glob("[0-9a-f]*"))
    seeds = [int(line.split(",")[1]) for line in (samples / "records.csv").read_text().splitlines()[1:]]
    out = sample_pairs(
        PairSampler(
            denoiser, dynamic_thresholding=options.dynamic_thresholding, mixed_precision=options.mixed_precision
        ),
        seeds=seeds,
        batch_size=options.sample_batch,
        config=dataclasses.replace(SamplingConfig.from_options(options), guidance_scale=0.0),
    )
    if state.is_main_process:
        ids = [f"syn_{i:05d}" for i in range(len(seeds))]
        save_pairs(PairSet(ids, (out.images * 255).round() / 255, out.masks, "samples", True), Path(sys.argv[3]))


if __name__ == "__main__":
    main()
