"""What the generation metrics cost: peak resident memory and seconds of :func:`.generation.generation_metrics`
(Inception features for FID / KID / IS, the Inception memorisation check and the pixel copy check) for R real and
G generated images, each G measured in a fresh process so that each peak is its own.

Run: ``OMP_NUM_THREADS=1 python -m bench.metrics.footprint --real 500 --generated 500,2000`` (synthetic images at
256², so no data set is needed; minutes per thousand images on one CPU thread). Memory should stay flat in G and
time grow linearly in it: the printed seconds per generated image should agree across G.
"""

from __future__ import annotations

import argparse
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import torch
import torch.nn.functional as F

GIB = 1024**3


def synthetic_images(n: int, size: int, seed: int) -> torch.Tensor:
    """``n`` smooth grey images (seeded 16 x 16 noise, upsampled): distinct, image-like to SSIM and Inception."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 1, 16, 16, generator=g)
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)


class _Timed:
    """An Inception extractor that adds the seconds of each call to ``seconds[description]``."""

    def __init__(self, inception: Any) -> None:
        self.inception, self.weights = inception, inception.weights
        self.seconds: dict[str, float] = {}

    def __call__(self, images: torch.Tensor, **kw: Any) -> Any:
        start = time.perf_counter()
        out = self.inception(images, **kw)
        what = kw.get("description", "inception")
        self.seconds[what] = self.seconds.get(what, 0.0) + time.perf_counter() - start
        return out


def measure(real: int, generated: int, size: int = 256, weights: str | None = None) -> dict[str, Any]:
    """Peak resident memory (GiB, the whole process) and seconds of the metrics of ``generated`` against ``real``
    synthetic images; the seconds split into Inception features of each set and the rest (the memorisation and copy
    checks, FID, KID, IS)."""
    from bench.metrics.generation import Images, generation_metrics
    from bench.metrics.inception import load_inception

    inception = _Timed(load_inception(weights))
    sets = [synthetic_images(n, size, seed) for seed, n in enumerate((real, generated))]
    start = time.perf_counter()
    figures, unavailable = generation_metrics(
        Images([f"r{i}" for i in range(real)], sets[0]),
        Images([f"g{i}" for i in range(generated)], sets[1]),
        inception=inception,
        unet_reason="not measured here",
    )
    seconds = time.perf_counter() - start
    features = inception.seconds
    real_s = sum(v for k, v in features.items() if "real" in k)
    generated_s = sum(v for k, v in features.items() if "real" not in k)
    return {
        "real": real,
        "generated": generated,
        "size": size,
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB,
        "seconds": seconds,
        "real_features_s": real_s,
        "generated_features_s": generated_s,
        "rest_s": seconds - real_s - generated_s,
        "threads": torch.get_num_threads(),
        "fid": figures["fid"],
        "unavailable": sorted(unavailable),
    }


def line(r: dict[str, Any]) -> str:
    """One printed row."""
    per = (r["generated_features_s"] + r["rest_s"]) / r["generated"]
    return (
        f"{r['real']:>5} real x {r['generated']:>5} generated at {r['size']}²: peak {r['peak_gib']:.2f} GiB, "
        f"{r['seconds']:.0f} s (Inception real {r['real_features_s']:.0f} s, generated "
        f"{r['generated_features_s']:.0f} s, checks and distances {r['rest_s']:.0f} s; {per:.3f} s per generated "
        f"image), {r['threads']} thread(s)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics.footprint", description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=int, default=500, help="Real images (default 500).")
    parser.add_argument("--generated", default="500,2000", help="Generated images, comma-separated (500,2000).")
    parser.add_argument("--size", type=int, default=256, help="Image side in pixels (256).")
    parser.add_argument("--inception-weights", default=None, help="Weights file; default as `bench metrics` finds.")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.generated.split(",")]
    if args.real < 2 or any(n < 2 for n in counts) or args.size < 16:
        parser.error("--real and every --generated count must be >= 2, --size >= 16")
    for n in counts:
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:  # a fresh process: its own peak
            result = pool.submit(measure, args.real, n, args.size, args.inception_weights).result()
        print(line(result), flush=True)


if __name__ == "__main__":
    main()
