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
if __name__ == "__main__":  # the repository first, not this folder: tests/methods would shadow the methods package
    sys.path[0] = str(TESTS.parent)
    sys.path.append(str(TESTS))

from synthetic_pairs import disc_pairs  # noqa: E402

from bench.config import PRESETS, TrainConfig, merge_options  # noqa: E402
from bench.data import save_pairs  # noqa: E402
from bench.generator_training import process_state  # noqa: E402
from bench.pairs import PairSet  # noqa: E402
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
    if command == "fit":
        process_state("cpu")
        train = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"])
        ctx = MethodContext(workdir=workdir, seed=0, device=torch.device("cpu"), train=train, preset="smoke")
        method = DiffuseExpand("cf", _options())
        method.fit(disc_pairs(8), ctx)
        method.expand(N_PAIRS, ctx)
    else:
        sample(workdir, Path(sys.argv[3]))


def _options() -> DiffuseExpand.Options:
    return merge_options(DiffuseExpand.Options, {}, DiffuseExpand.presets["smoke"], OPTIONS)


def sample(workdir: Path, out: Path) -> None:
    """Stage III again with the denoiser trained in ``workdir``, on this process or on every process of a
    torchrun group; the main process writes the pairs to ``out`` (the test also calls it in its own process)."""
    state = process_state("cpu")
    options = _options()
    denoiser = load_model(Denoiser, next((workdir / "denoiser").glob("[0-9a-f]*")))
    samples = next((workdir / "samples").glob("[0-9a-f]*"))
    seeds = [int(line.split(",")[1]) for line in (samples / "records.csv").read_text().splitlines()[1:]]
    pairs = sample_pairs(
        PairSampler(denoiser, mixed_precision=options.mixed_precision),
        seeds=seeds,
        batch_size=options.sample_batch,
        config=dataclasses.replace(SamplingConfig.from_options(options), guidance_scale=0.0),
    )
    if state.is_main_process:
        ids = [f"syn_{i:05d}" for i in range(len(seeds))]
        save_pairs(PairSet(ids, (pairs.images * 255).round() / 255, pairs.masks, "samples", True), out)


if __name__ == "__main__":
    main()
