"""The first 8 generated images of several sample stages beside 8 real Montgomery images, one row each.

Run from the repository root:
python reports/montgomery-recipe/sample_rows.py [OUT.png] [--outline] "LABEL=STAGE_FOLDER" ...
where each STAGE_FOLDER is a run's `_cache/<method>/samples/<hash>/` (its `key.json` says what made it); writes
OUT.png, by default sample_rows.png here. With --outline each image carries its mask's outline in red, so a reader
sees whether the image follows its mask.
"""

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image


def first(folder: Path, kind: str) -> list[np.ndarray]:
    files = sorted((folder / kind).glob("*.png"))[:8]
    resample = Image.BILINEAR if kind == "images" else Image.NEAREST
    return [np.array(Image.open(f).convert("L").resize((64, 64), resample)) for f in files]


args = sys.argv[1:]
out = Path(args.pop(0)) if args and args[0].endswith(".png") else Path(__file__).with_name("sample_rows.png")
outline = "--outline" in args
folders = [("real, resized to 64×64", Path("../shared/datasets/montgomery_lung"))]
folders += [(label, Path(folder)) for label, folder in (a.rsplit("=", 1) for a in args if a != "--outline")]
fig, axes = plt.subplots(len(folders), 1, figsize=(8, 1.2 * len(folders)))
for ax, (label, folder) in zip(axes, folders):
    ax.imshow(np.concatenate(first(folder, "images"), 1), cmap="gray", vmin=0, vmax=255)
    if outline:
        ax.contour(np.concatenate(first(folder, "masks"), 1) > 0, levels=[0.5], colors="red", linewidths=0.5)
    ax.set_title(label, fontsize=8, loc="left")
    ax.axis("off")
fig.tight_layout()
fig.savefig(out, dpi=110)
