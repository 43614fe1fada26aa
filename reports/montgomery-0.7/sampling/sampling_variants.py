"""Sampling-only variants on the networks of a finished DiffuseExpand run: stage-IV pass rate and Inception FID.

The run's denoiser, segmenter and filter are loaded from its cache (nothing is trained), the run's own pair seeds are
sampled under each variant, and the pairs are filtered and measured as `bench run` does. Two knobs here are not
sampling options of the package: a classifier-free weight applied only for t in [lo, hi) (weight 1 elsewhere), and
the rescaling of the guided output to the conditional output's standard deviation (Lin et al. 2023, φ).

    python sampling_variants.py RUN_FOLDER N '[{"name": "preset"},
        {"name": "dt_off", "config": {"dynamic_thresholding": false}},
        {"name": "dt_off_cf3", "config": {"dynamic_thresholding": false, "cf_weight": 3.0}},
        {"name": "dt_off_interval600", "config": {"dynamic_thresholding": false}, "interval": [0, 600]},
        {"name": "rescale0.7", "rescale": 0.7}, ...]'

prints one JSON line per variant ("config" changes fields of the run's SamplingConfig; `bench speed --compare
dynamic_thresholding=false,... --run RUN_FOLDER --fid` measures those alone).
"""

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from bench.compare import _fid, load_run
from bench.generator_training import autocast_context
from bench.pairs import PairSet
from methods.base import PairRecord, pair_seeds, synthetic_ids
from methods.diffuseexpand.filter import select
from methods.diffuseexpand.sampler import PairSampler
from methods.diffuseexpand.sampling_config import SamplingConfig
from methods.diffusion.schedule import model_input, to_epsilon
from methods.stages import stage_seed


class VariantSampler(PairSampler):
    """The package's sampler with a guidance interval and CFG rescaling on the image phase's weighted output."""

    rescale = 0.0
    interval = (0, 1000)

    def _eps_fn(self, mode, cond, cf_weight, cf_double=False):
        lo, hi = self.interval

        def output(x, t):
            w = cf_weight if lo <= int(t) < hi else 1.0
            with autocast_context(self.device, self.mixed_precision):
                if cond is None or w == 1:
                    return self.denoiser(x, t, mode, cond).float()
                null = torch.zeros_like(cond)
                both = self.denoiser(torch.cat([x, x]), t, torch.cat([mode, mode]), torch.cat([cond, null])).float()
            c, u = both.chunk(2)
            g = u + w * (c - u)
            if self.rescale > 0:
                dims = tuple(range(1, g.ndim))
                matched = g * (c.std(dim=dims, keepdim=True) / g.std(dim=dims, keepdim=True))
                g = self.rescale * matched + (1 - self.rescale) * g
            return g

        def eps(x, t):
            x_in, t_in = model_input(x, t, self.alphas_cumprod, self.prediction)
            return to_epsilon(output(x_in, t_in), x, t, self.alphas_cumprod, self.prediction)

        return eps


def main(run_folder: str, n: int, variants: list[dict]) -> None:
    run = load_run(run_folder, device="cpu")
    f, o = run.method.fitted, run.method.options
    seeds = pair_seeds(stage_seed(run.seed, "samples"), n)
    for v in variants:
        sampler = VariantSampler(f.denoiser, f.segmenter, scheduler_config=f.schedule, mixed_precision=False)
        sampler.rescale, sampler.interval = v.get("rescale", 0.0), tuple(v.get("interval", (0, 1000)))
        start = time.perf_counter()
        out = sampler(
            seeds=seeds,
            config=replace(SamplingConfig.from_options(o), **v.get("config", {})),
            batch_size=o.sample_batch,
        )
        ids = synthetic_ids(n)
        samples = PairSet(ids, (out.images * 255).round() / 255, out.masks, "diffuseexpand", True)
        chosen = select(samples, [PairRecord(k, s) for k, s in zip(ids, out.seeds)], f.filter, o.eta)
        m = _fid(run, samples, chosen.pairs)
        row = {
            "name": v["name"],
            "run": "/".join(Path(run_folder).parts[-3:]),
            "pass": chosen.stats["pass_rate"],
            "filter_dice": chosen.stats["mean_dice_all"],
            "fid": m["fid"],
            "fid_kept": m["fid_kept"],
            "fid_unet": m["fid_unet"],
            "seconds": time.perf_counter() - start,
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]))
