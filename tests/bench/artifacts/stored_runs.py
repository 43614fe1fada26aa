"""Fabricated ``results.json`` files with the keys the artifacts read, and readers of what they wrote."""

import csv
import json

from bench.results import SCHEMA_VERSION


def fake_run(
    root,
    method="origin",
    seed=0,
    dice=0.9,
    *,
    ablation=None,
    model="unet",
    augment="none",
    train_on=None,
    ratio=0.9,
    dataset="montgomery_lung",
    preset="cpu",
    settings="",
    tau=1.0,
    guidance_scale=1.0,
    eta=None,
    epochs=20,
    steps=None,
    metrics=None,
    stats=None,
    pairs=None,
    fingerprint=None,
):
    """Write ``<root>/<dataset>/<name>/ratio_<r>/seed_<s>/results.json`` with the keys the artifacts read; the
    downstream model took ``steps`` optimiser steps (default: ``epochs``, one batch per epoch); ``pairs``: a run of
    that count of training pairs (``pairs_<N>``, no ratio); ``fingerprint``: the recorded fingerprint of its real
    training pairs (none recorded by default)."""
    ablation = ablation or ("none" if method == "origin" else "cf+cg+cs")
    train_on = train_on or ("real" if method == "origin" else "real+synthetic")
    options = {} if method == "origin" else {"tau": tau, "guidance_scale": guidance_scale}
    if eta is not None:
        options["eta"] = eta
    name = f"{method}__{ablation}__{model}__{augment}__{train_on}" + (f"__{settings}" if settings else "")
    folder = root / dataset / name / (f"pairs_{pairs}" if pairs else f"ratio_{ratio:g}") / f"seed_{seed}"
    folder.mkdir(parents=True)
    result = {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "method": method,
            "ablation": ablation,
            "dataset": dataset,
            "model": model,
            "seed": seed,
            "train_ratio": None if pairs else ratio,
            **({"train_pairs": pairs} if pairs else {}),
            "augment": augment,
            "train_on": train_on,
            "preset": preset,
            "key": "k",
            "settings": settings,
        },
        "config": {"train": {"epochs": epochs}, "image_size": 64, "channels": 1, "method_options": options},
        "dataset": {"synthetic": False, **({"fingerprint": fingerprint} if fingerprint else {})},
        "versions": {"method": "2" if method == "diffuseexpand" else "1"},
        "git_hash": None,
        "date": "2026-01-01",
        "environment": {},
        "tracking": {},
        "unavailable": {},
        "method_stats": stats or {},
        "timings": {},
        "metrics": {"dice": dice, "dice_std": 0.0, "dice_per_image": {}, **(metrics or {})},
        "counts": {"real_train": 10, "test": 2, "train_steps": epochs if steps is None else steps},
    }
    (folder / "results.json").write_text(json.dumps(result))
    return folder


def md_row(text, first_cells):
    """The cells of the Markdown table row whose leading cells are ``first_cells``."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[: len(first_cells)] == first_cells:
            return cells
    raise AssertionError(f"no row {first_cells} in:\n{text}")


def csv_rows(path):
    with path.open() as fh:
        return list(csv.DictReader(fh))


def scored_on(name, per_image, fingerprint=None):
    """``metrics`` of a run scored on the external test set ``name``: its Dice per image and their mean, and the
    set's ``fingerprint`` as it was scored (none recorded by default, as by an older run)."""
    dice = sum(per_image.values()) / len(per_image)
    figures = {"dice": dice, "dice_std": 0.0, "n": len(per_image), "dice_per_image": per_image}
    return {"external": {name: {**figures, **({"fingerprint": fingerprint} if fingerprint else {})}}}
