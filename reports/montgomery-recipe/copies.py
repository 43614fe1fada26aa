"""How close generated images come to their generator's training images, in pixels, against unseen real images.

Run from the repository root:
python reports/montgomery-recipe/copies.py RUNS LABEL=RUN_NAME ... [--ratio 0.1] [--seeds 0,1,2] [--png OUT.png]
where RUNS is a `bench run --out` folder and each RUN_NAME a run folder's name under RUNS/montgomery_lung/ (its
generated pairs are found through the sample stage whose denoiser was trained on that run's split and seed).

For each generated image: the highest SSIM (64 x 64) to any of the split's training images
(:func:`bench.metrics.memorisation.best_ssim`). Two yardsticks: the highest SSIM any training image reaches with
another (what `bench run` records as ``share_copies`` since 0.10), and the highest the split's test images reach
with a training image: real X-rays the generator never saw. A generated image above either is closer to one
training image than any patient is to another (a copy, not a new patient). Prints one JSON line per run and seed;
with --png, the four most copied images beside their training image for each run (first seed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from bench.data import load_pairs
from bench.metrics.memorisation import best_ssim

DATA = Path("../shared/datasets/montgomery_lung")


def most_similar(images: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """Per image, the index of the training image it has the highest SSIM with (for the figure)."""
    scores = [structural_similarity_index_measure(images, t.expand_as(images), reduction="none") for t in train]
    return torch.stack(scores, 1).argmax(1)


STAGE_I = {"denoiser_steps": 800.0, "denoiser_dropout": 0.0}
"""Stage-I options told apart by a run name's settings, at the `cpu` preset's values unless the name sets them."""


def sample_folder(
    cache: Path, method: str, seed: int, pairs: int, pretrained: bool, sampling: dict, stage_i: dict
) -> Path:
    """The sample stage of ``method`` whose denoiser saw ``pairs`` real pairs with ``seed``, from a pretrained start
    or not (one pretraining per cache is assumed), trained with ``stage_i`` and sampled with ``sampling``."""
    found = []
    for key_file in sorted((cache / method / "samples").glob("*/key.json")):
        key = json.loads(key_file.read_text())
        denoiser = json.loads((cache / method / "denoiser" / key["upstream"]["denoiser"] / "key.json").read_text())
        options = denoiser["options"]
        same = (
            denoiser["seed"] == seed
            and denoiser["data"]["pairs"] == pairs
            and ("pretrained" in options) == pretrained
            and all(float(options.get(k, STAGE_I.get(k, 0.0))) == v for k, v in stage_i.items())
            and all(key["sampling"].get(k) == v for k, v in sampling.items())
        )
        if same:
            found.append(key_file.parent)
    if len(found) != 1:
        raise SystemExit(f"{method} seed {seed}, {pairs} pairs, {pretrained}: {len(found)} sample stages match")
    return found[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", type=Path)
    parser.add_argument("labelled", nargs="+")
    parser.add_argument("--ratio", type=float, default=0.1)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--png", type=Path)
    args = parser.parse_args()
    real = load_pairs(DATA, 64)
    shown = []
    for labelled in args.labelled:
        label, name = labelled.split("=", 1)
        method = name.split("__")[0]
        items = name.split("__")[5].split(",") if name.count("__") >= 5 else []
        # a long settings tag ends in "pretr~HASH" (a hashed tail), which only ever hides the pretrained start here
        settings = dict(s.split("=", 1) if "=" in s else ("pretrained", s) for s in items)
        sampling = {"dynamic_thresholding": settings.pop("dynamic_thresholding", "True") == "True"}
        sampling |= {k: float(v) for k, v in settings.items() if k in ("guidance_scale", "cf_weight")}
        stage_i = STAGE_I | {k: float(v) for k, v in settings.items() if k in (*STAGE_I, "cfg_dropout")}
        pretrained = "pretrained" in settings
        for seed in map(int, args.seeds.split(",")):
            run = args.runs / "montgomery_lung" / name / f"ratio_{args.ratio:g}" / f"seed_{seed}"
            split = json.loads((run / "splits.json").read_text())
            train, test = real.subset(split["train"]).images, real.subset(split["test"]).images
            cache = args.runs / "montgomery_lung" / "_cache"
            folder = sample_folder(cache, method, seed, len(train), pretrained, sampling, stage_i)
            generated = load_pairs(folder, 64, synthetic=True).images
            gen_best, test_best = best_ssim(generated, train), best_ssim(test, train)
            bar, train_bar = float(test_best.max()), float(best_ssim(train, train, leave_out_self=True).max())
            print(
                json.dumps(
                    {
                        "label": label,
                        "seed": seed,
                        "generated": len(generated),
                        "train_ssim_max": round(train_bar, 3),
                        "share_copies": round(float((gen_best > train_bar).float().mean()), 3),
                        "test_ssim_max": round(bar, 3),
                        "test_ssim_median": round(float(test_best.median()), 3),
                        "generated_ssim_median": round(float(gen_best.median()), 3),
                        "share_above_every_test_image": round(float((gen_best > bar).float().mean()), 3),
                    }
                )
            )
            if args.png and seed == int(args.seeds.split(",")[0]):
                top = gen_best.argsort(descending=True)[:4]
                shown.append((label, generated[top], train[most_similar(generated[top], train)], gen_best[top]))
    if args.png:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(len(shown), 8, figsize=(8, 1.15 * len(shown)), squeeze=False)
        for row, (label, gen, tr, score) in zip(axes, shown):
            for k in range(4):
                row[2 * k].imshow(gen[k, 0], cmap="gray", vmin=0, vmax=1)
                row[2 * k + 1].imshow(tr[k, 0], cmap="gray", vmin=0, vmax=1)
                row[2 * k].set_title(f"SSIM {float(score[k]):.2f}", fontsize=6)
            row[0].set_ylabel(label, fontsize=6)
            for ax in row:
                ax.set_xticks([])
                ax.set_yticks([])
        fig.tight_layout()
        fig.savefig(args.png, dpi=110)


if __name__ == "__main__":
    main()
