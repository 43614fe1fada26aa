"""What Inception FID means on Montgomery at 64x64: real images against other real images, and the same real images
degraded (downsampled and upsampled, or with Gaussian noise), 69 vs the other 69, three random halvings.

Run from the repository root: python reports/montgomery-recipe/fid_calibration.py (writes fid_calibration.json here).
"""

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.data import read_pairs
from bench.integrity import check
from bench.metrics.fid import frechet_distance
from bench.metrics.inception import load_inception

torch.set_num_threads(1)
pairs = read_pairs(check("../shared/datasets/montgomery_lung", image_size=64), 64, 1, "montgomery")
net = load_inception()
x = pairs.images.float()


def blur(x, size):
    return F.interpolate(F.interpolate(x, size=size, mode="bilinear", antialias=True), size=64, mode="bilinear").clamp(
        0, 1
    )


def noise(x, s, seed=0):
    return (x + s * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))).clamp(0, 1)


variants = {
    "real": lambda x: x,
    "down to 48, up to 64": lambda x: blur(x, 48),
    "down to 32, up to 64": lambda x: blur(x, 32),
    "down to 16, up to 64": lambda x: blur(x, 16),
    "Gaussian noise sd 0.02": lambda x: noise(x, 0.02),
    "Gaussian noise sd 0.05": lambda x: noise(x, 0.05),
    "Gaussian noise sd 0.1": lambda x: noise(x, 0.1),
    "contrast halved (grey)": lambda x: (x - 0.5) * 0.5 + 0.5,
}
ref = net(x).pool
out = {}
for name, fn in variants.items():
    feats = net(fn(x)).pool if name != "real" else ref
    vals = []
    for seed in range(3):
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
        vals.append(frechet_distance(feats[perm[:69]], ref[perm[69:]]))
    out[name] = [round(v, 1) for v in vals]
    print(name, out[name], flush=True)
Path(__file__).with_name("fid_calibration.json").write_text(json.dumps(out, indent=1))
