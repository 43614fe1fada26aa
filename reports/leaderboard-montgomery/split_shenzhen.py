"""Split the Shenzhen pair set once into two disjoint halves, as folders of links outside the repository.

One half is for pretraining generators, the other is the leaderboard's external test set; `bench run --test-set`
then checks by content that no pretraining image is in the external half. Fixed seed, sorted ids: the same halves on
every machine.

    python reports/leaderboard-montgomery/split_shenzhen.py --source ../shared/datasets/shenzhen_lung --out ../data
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

SEED = 0
HALVES = ("shenzhen_pretrain", "shenzhen_external")


def split(source: Path, out: Path) -> dict[str, int]:
    ids = sorted(p.stem for p in (source / "images").glob("*.png"))
    random.Random(SEED).shuffle(ids)
    half = len(ids) // 2
    counts = {}
    for name, part in zip(HALVES, (ids[:half], ids[half:])):
        for sub in ("images", "masks"):
            folder = out / name / sub
            folder.mkdir(parents=True, exist_ok=True)
            for i in part:
                link = folder / f"{i}.png"
                if not link.exists():
                    link.symlink_to((source / sub / f"{i}.png").resolve())
        counts[name] = len(part)
    return counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="the Shenzhen pair set (images/ + masks/)")
    parser.add_argument("--out", type=Path, required=True, help="where the two halves are made (outside the repo)")
    args = parser.parse_args()
    for name, n in split(args.source, args.out).items():
        print(f"{args.out / name}: {n} pairs")
