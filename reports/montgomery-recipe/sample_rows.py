"""The first 8 generated images of several sample stages beside 8 real Montgomery images, one row each.

Run from the repository root: python reports/montgomery-recipe/sample_rows.py [OUT.png] "LABEL=STAGE_FOLDER" ...
where each STAGE_FOLDER is a run's `_cache/<method>/samples/<hash>/` (its `key.json` says what made it); writes
OUT.png, by default sample_rows.png here.
"""

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

real = sorted(Path("../shared/datasets/montgomery_lung/images").glob("*.png"))[:8]
rows = [
    ("real, resized to 64×64", [np.array(Image.open(f).convert("L").resize((64, 64), Image.BILINEAR)) for f in real])
]
args = sys.argv[1:]
out = Path(args.pop(0)) if args and args[0].endswith(".png") else Path(__file__).with_name("sample_rows.png")
for arg in args:
    label, folder = arg.rsplit("=", 1)
    images = sorted((Path(folder) / "images").glob("*.png"))[:8]
    rows.append((label, [np.array(Image.open(f).convert("L")) for f in images]))
fig, axes = plt.subplots(len(rows), 1, figsize=(8, 1.2 * len(rows)))
for ax, (label, images) in zip(axes, rows):
    ax.imshow(np.concatenate(images, 1), cmap="gray", vmin=0, vmax=255)
    ax.set_title(label, fontsize=8, loc="left")
    ax.axis("off")
fig.tight_layout()
fig.savefig(out, dpi=110)
