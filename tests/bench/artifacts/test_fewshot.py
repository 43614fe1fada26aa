"""The few-shot curves (Dice vs train ratio) built from fabricated ``results.json`` files."""

import pytest
from PIL import Image
from stored_runs import csv_rows, fake_run, md_row

from bench.artifacts import build_artifact


def test_fewshot_curves_csv_and_png(tmp_path):
    runs = tmp_path / "runs"
    for ratio, base in ((0.1, 0.70), (0.5, 0.90)):
        for seed in (0, 1):
            fake_run(runs, "origin", seed, base + 0.01 * seed, ratio=ratio)
            fake_run(runs, "diffuseexpand", seed, base + 0.05 + 0.02 * seed, ratio=ratio)
    for ratio, base in ((0.1, 0.80), (0.5, 0.92)):  # under CutMix: a panel of its own, paired with its own origin
        fake_run(runs, "origin", 0, base, ratio=ratio, augment="cutmix")
        fake_run(runs, "diffuseexpand", 0, base - 0.02, ratio=ratio, augment="cutmix")
    fake_run(runs, "xlsor", 0, 0.93, ratio=0.5, ablation="full")  # one ratio: in the table, not drawn
    art = build_artifact("fewshot", runs, tmp_path / "out")
    assert [p.name for p in art.files] == ["fewshot.md", "fewshot.csv", "fewshot.png"]
    with Image.open(art.figures[0]) as im:
        assert im.size[0] > 100 and im.size[1] > 100
    rows = csv_rows(art.files[1])
    assert [(r["augment"], r["method"], r["train_ratio"]) for r in rows] == [
        ("none", "origin", "0.1"),
        ("none", "origin", "0.5"),
        ("none", "diffuseexpand (cf+cg+cs)", "0.1"),
        ("none", "diffuseexpand (cf+cg+cs)", "0.5"),
        ("none", "xlsor (full)", "0.5"),
        ("cutmix", "origin", "0.1"),
        ("cutmix", "origin", "0.5"),
        ("cutmix", "diffuseexpand (cf+cg+cs)", "0.1"),
        ("cutmix", "diffuseexpand (cf+cg+cs)", "0.5"),
    ]
    assert [float(r["delta_vs_origin"]) for r in rows[-2:]] == pytest.approx([-0.02, -0.02])
    assert "in the table, not drawn (one train ratio only): xlsor (full) (ratio 0.5)" in " ".join(art.notes)
    point = rows[2]
    assert float(point["mean"]) == pytest.approx(0.76) and float(point["std"]) == pytest.approx(0.01)
    assert point["n"] == "2" and point["seeds"] == "0 1" and point["delta_seeds"] == "2"
    assert float(point["delta_vs_origin"]) == pytest.approx(0.055)  # (0.05 + 0.06) / 2, paired by seed
    assert rows[0]["delta_vs_origin"] == ""
    md = art.files[0].read_text()
    assert md_row(md, ["diffuseexpand (cf+cg+cs)"])[1] == "0.7600 ± 0.0100 (+0.0550 [-0.0085, +0.1185] p=0.058)"
    need = "(0.01 needs 7 seeds)"  # a 2-seed spread of 0.0071: the seeds that would bring 0.0817 down to 0.01
    assert f"- diffuseexpand (cf+cg+cs): ratio 0.1 0.0817 {need}, ratio 0.5 0.0817 {need}" in md
    assert float(point["delta_high"]) == pytest.approx(0.1185, abs=1e-4) and point["delta_images"] == "0"
    assert (
        "## montgomery_lung, cpu, unet, augment none" in md and "## montgomery_lung, cpu, unet, augment cutmix" in md
    )


def test_fewshot_refuses_a_single_ratio(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "origin", 0, 0.9)
    fake_run(runs, "diffuseexpand", 0, 0.92)
    with pytest.raises(ValueError, match="two or more train ratios"):
        build_artifact("fewshot", runs, tmp_path / "out")


def test_fewshot_says_when_a_delta_compares_unequal_training_lengths(tmp_path):
    runs = tmp_path / "runs"
    for ratio in (0.1, 0.5):
        fake_run(runs, "origin", 0, 0.6, ratio=ratio, steps=20)
        fake_run(runs, "diffuseexpand", 0, 0.9, ratio=ratio, steps=180 if ratio == 0.1 else 20)
    notes = " ".join(build_artifact("fewshot", runs, tmp_path / "out").notes)
    assert "ratio 0.1: Δ compares unequal training lengths (origin vs this run, optimiser steps: 20 vs 180)" in notes
    assert "ratio 0.5: Δ compares unequal" not in notes


def test_bench_report_prints_the_tables_within_the_terminal(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from bench.cli import app

    runs = tmp_path / "runs"
    for ratio in (0.1, 0.3, 0.9):
        fake_run(runs, "origin", 0, 0.9, ratio=ratio)
        fake_run(runs, "diffuseexpand", 0, 0.93, ratio=ratio)
    monkeypatch.setenv("COLUMNS", "80")  # the console reads it at each print
    res = CliRunner().invoke(app, ["report", "fewshot", "--runs", str(runs), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    shown = res.output.split("written:")[0]  # then the files' paths, as long as they are
    assert max(map(len, shown.splitlines())) <= 80, res.output
    assert "(+0.0300, 1 seed," in res.output and "![" not in res.output  # the Δ cell, no figure markup
    assert (tmp_path / "out" / "fewshot.md").read_text().count("(+0.0300, 1 seed, no interval)") == 3


def test_a_method_keeps_its_colour_in_every_panel(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    drawn = []
    errorbar = Axes.errorbar

    def record(ax, *args, **kwargs):
        drawn.append((kwargs["label"], kwargs.get("color")))
        return errorbar(ax, *args, **kwargs)

    monkeypatch.setattr(Axes, "errorbar", record)
    runs = tmp_path / "runs"
    for ratio in (0.1, 0.9):
        for augment in ("none", "xlsor"):
            fake_run(runs, "origin", 0, 0.9, ratio=ratio, augment=augment)
            fake_run(runs, "diffuseexpand", 0, 0.93, ratio=ratio, augment=augment)
            fake_run(runs, "xlsor", 0, 0.94, ratio=ratio, augment=augment, ablation="full")
        # only in the second panel, where it comes before xlsor: with colours by position, xlsor's would change
        fake_run(runs, "diffuseexpand", 0, 0.92, ratio=ratio, augment="xlsor", ablation="cf+cg")
    build_artifact("fewshot", runs, tmp_path / "out")
    colours = {}
    for label, colour in drawn:
        colours.setdefault(label, set()).add(colour)
    assert len(drawn) == 7 and all(len(c) == 1 for c in colours.values()), drawn
    assert len({next(iter(c)) for c in colours.values()}) == len(colours)


def test_pair_count_runs_are_drawn_against_their_count_and_external_sets_get_their_own_panels(tmp_path):
    runs = tmp_path / "runs"
    for pairs, base in ((5, 0.60), (9, 0.70)):
        for seed in (0, 1):
            for method, gain in (("origin", 0.0), ("diffuseexpand", 0.04)):
                outside = {"shenzhen": {"dice": base - 0.1 + gain / 2, "dice_std": 0.0, "dice_per_image": {}, "n": 6}}
                fake_run(runs, method, seed, base + gain, pairs=pairs, metrics={"external": outside})
    fake_run(runs, "origin", 0, 0.9, ratio=0.9)  # a ratio run: not on the curves of counts
    art = build_artifact("fewshot", runs, tmp_path / "out")
    md = (tmp_path / "out" / "fewshot.md").read_text()
    assert "## montgomery_lung, cpu, unet, augment none\n" in md
    assert "## montgomery_lung, cpu, unet, augment none, on shenzhen (external)" in md
    assert md_row(md, ["method"])[1:] == ["5 pairs", "9 pairs"]
    rows = csv_rows(art.files[1])
    counted = [(r["method"], r["train_ratio"], r["train_pairs"], r["test_set"]) for r in rows if r["train_pairs"]]
    assert counted == [
        ("origin", "", "5", ""),
        ("origin", "", "9", ""),
        ("diffuseexpand (cf+cg+cs)", "", "5", ""),
        ("diffuseexpand (cf+cg+cs)", "", "9", ""),
        ("origin", "", "5", "shenzhen"),
        ("origin", "", "9", "shenzhen"),
        ("diffuseexpand (cf+cg+cs)", "", "5", "shenzhen"),
        ("diffuseexpand (cf+cg+cs)", "", "9", "shenzhen"),
    ]
    external = [r for r in rows if r["test_set"] == "shenzhen" and r["method"] != "origin"]
    assert [float(r["delta_vs_origin"]) for r in external] == pytest.approx([0.02, 0.02])
    assert [float(r["mean"]) for r in external] == pytest.approx([0.52, 0.62])
    with Image.open(art.figures[0]) as im:
        assert im.size[0] > 100
