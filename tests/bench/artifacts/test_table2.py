"""Table 2 (training on generated pairs only) built from fabricated ``results.json`` files."""

import pytest
from stored_runs import csv_rows, fake_run, md_row, scored_on

from bench.artifacts import build_artifact
from bench.artifacts.render import EXTERNAL_LEGEND


def _table2_runs(runs):
    for seed, dice in ((0, 0.56), (1, 0.58)):
        fake_run(runs, "synthmed", seed, dice, ablation="dual", train_on="synthetic", metrics={"fid": 32.3})
    fake_run(runs, "synthmed", 0, 0.51, ablation="dual", train_on="synthetic", model="attnunet", metrics={"fid": 32.3})
    fake_run(runs, "synthmed", 0, 0.90, ablation="pix2pix", train_on="synthetic")  # not the default variant
    for seed, dice in ((0, 0.94), (1, 0.95)):
        fake_run(runs, "xlsor", seed, dice, ablation="full", train_on="synthetic", metrics={"fid": 1.2})
    for seed, dice in ((0, 0.95), (1, 0.96), (2, 0.99)):
        fake_run(runs, "diffuseexpand", seed, dice, train_on="synthetic", metrics={"fid": 9.0, "fid_kept": 4.6})
    for seed, dice in ((0, 0.93), (1, 0.94)):
        fake_run(runs, "origin", seed, dice)


def test_table2_rows_delta_bold_and_methods_not_run(tmp_path):
    runs = tmp_path / "runs"
    _table2_runs(runs)
    art = build_artifact("table2", runs, tmp_path / "out")
    md = art.files[0].read_text()
    head = md_row(md, ["Method"])
    col = {name.split(": ")[-1]: i for i, name in enumerate(head)}
    assert head[1] == "montgomery_lung, cpu: UNet Dice↑" and len(head) == 5
    assert [r[0] for r in art.tables["table2"][1]] == [
        "synthmed (dual)",
        "xlsor (full)",
        "joint (default)",
        "diffuseexpand (cf+cg+cs)",
        "genseg (separate)",
    ]
    de = md_row(md, ["diffuseexpand (cf+cg+cs)"])
    # mean over three seeds; Δ paired over the two seeds origin has: ((0.95 - 0.93) + (0.96 - 0.94)) / 2
    # its three seeds against the others' two: means over different seeds, so each says n and none is bold
    assert de[col["UNet Dice↑"]] == "0.9667 ± 0.0170 (n = 3) (+0.0200, no spread over seeds, no interval)"
    assert de[col["FID↓"]] == "4.600 ± 0.000 (n = 3)"  # the pairs stage IV kept
    assert any("diffuseexpand (cf+cg+cs), UNet: Δ paired over 2 of 3 seeds" in n for n in art.notes)
    xlsor = md_row(md, ["xlsor (full)"])
    assert (
        xlsor[col["UNet Dice↑"]] == "0.9450 ± 0.0050 (n = 2) (+0.0100, no spread over seeds, no interval)"
        and xlsor[col["FID↓"]] == "1.200 ± 0.000 (n = 2)"
    )
    synthmed = md_row(md, ["synthmed (dual)"])
    assert synthmed[col["AttnUNet Dice↑"]] == "0.5100 (n = 1)"  # no origin AttnUNet run: no Δ, and alone: no bold
    assert synthmed[col["UNet Dice↑"]] == "0.5700 ± 0.0100 (n = 2) (-0.3650 [-0.4285, -0.3015] p=0.0087)"
    assert "- montgomery_lung, cpu, synthmed (dual): UNet Dice↑ 0.0817" in md
    assert md_row(md, ["joint (default)"])[1:] == ["–"] * 4 and "joint: not run" in art.notes
    assert md_row(md, ["genseg (separate)"])[1:] == ["–"] * 4 and "genseg: not run" in art.notes
    assert "0.9000" not in md
    rows = csv_rows(art.files[1])
    assert len(rows) == 5 * 4 and sum(r["bold"] == "True" for r in rows) == 0
    tex = art.files[2].read_text()
    assert r"\multicolumn{4}{c}{montgomery\_lung, cpu}" in tex and r"\cmidrule(lr){2-5}" in tex
    assert r"1.200 $\pm$ 0.000 (n = 2)" in tex and r"\begin{tabular}{lcccc}" in tex


def test_table2_refuses_a_cell_that_mixes_training_signatures(tmp_path):
    runs = tmp_path / "runs"
    _table2_runs(runs)
    a = fake_run(runs, "diffuseexpand", 0, 0.9, model="attnunet", train_on="synthetic")
    b = fake_run(runs, "diffuseexpand", 1, 0.9, model="attnunet", train_on="synthetic", epochs=40)
    with pytest.raises(ValueError, match=r"diffuseexpand \(cf\+cg\+cs\), AttnUNet: .*downstream training") as err:
        build_artifact("table2", runs, tmp_path / "out")
    assert str(a) in str(err.value) and str(b) in str(err.value)


def test_table2_needs_synthetic_only_runs(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "origin", 0, 0.9)
    fake_run(runs, "diffuseexpand", 0, 0.9)  # real + synthetic: Table 1, not Table 2
    with pytest.raises(ValueError, match="table2 needs runs trained on synthetic pairs only"):
        build_artifact("table2", runs, tmp_path / "out")


def test_table2_adds_a_dice_column_per_model_and_external_test_set_with_its_paired_delta(tmp_path):
    """synthmed's UNet gains 0.02 / 0.03 / 0.04 per seed on every image of the external set over origin: Δ +0.03
    with its interval; a block of another data set with no external set keeps the four columns of the paper."""
    runs = tmp_path / "runs"
    origin = {0: 0.70, 1: 0.72, 2: 0.74}
    for seed, o in origin.items():
        fake_run(runs, "origin", seed, 0.93, metrics=scored_on("shenzhen", {"a": o - 0.05, "b": o + 0.05}))
        o += 0.02 + seed / 100
        scored = scored_on("shenzhen", {"a": o - 0.05, "b": o + 0.05})
        fake_run(runs, "synthmed", seed, 0.56, ablation="dual", train_on="synthetic", metrics={"fid": 30.0, **scored})
    for seed in (0, 1):  # not scored on it
        fake_run(runs, "xlsor", seed, 0.9, ablation="full", train_on="synthetic")
    fake_run(runs, "xlsor", 0, 0.9, ablation="full", train_on="synthetic", dataset="shenzhen_lung")

    art = build_artifact("table2", runs, tmp_path / "out")
    md = art.files[0].read_text()
    head = md_row(md, ["Method"])
    assert [h.split(": ")[-1] for h in head[1:9]] == [
        "UNet Dice↑",
        "AttnUNet Dice↑",
        "TransUNet Dice↑",
        "UNet Dice on shenzhen↑",
        "AttnUNet Dice on shenzhen↑",
        "TransUNet Dice on shenzhen↑",
        "FID↓",
        "UNet Dice↑",
    ]
    assert head[8].startswith("shenzhen_lung, cpu: ") and len(head) == 1 + 7 + 4
    col = {name: i for i, name in enumerate(head)}
    synthmed = md_row(md, ["synthmed (dual)"])
    assert synthmed[col["montgomery_lung, cpu: UNet Dice on shenzhen↑"]] == (
        "0.7500 ± 0.0245 (+0.0300 [+0.0052, +0.0548] p=0.035)"
    )
    assert md_row(md, ["xlsor (full)"])[col["montgomery_lung, cpu: UNet Dice on shenzhen↑"]] == "–"
    assert "montgomery_lung, cpu, xlsor (full), UNet: none of its 2 runs was scored on shenzhen" in art.notes
    assert EXTERNAL_LEGEND in md and "- montgomery_lung, cpu, synthmed (dual): UNet Dice↑ " in md
    assert "UNet Dice on shenzhen↑ 0.0326" in md  # its detectable Δ, beside the test split's
    at = ("synthmed (dual)", "UNet Dice on shenzhen↑")
    (row,) = [r for r in csv_rows(art.files[1]) if (r["row"], r["column"]) == at]
    assert float(row["delta_vs_origin"]) == pytest.approx(0.03)
    assert (row["delta_seeds"], row["delta_images"]) == ("3", "6")
    assert art.tables["table2"][0] == head
    tex = art.files[2].read_text()
    assert r"\multicolumn{7}{c}{montgomery\_lung, cpu} & \multicolumn{4}{c}{shenzhen\_lung, cpu}" in tex
    assert r"\cmidrule(lr){2-8} \cmidrule(lr){9-12}" in tex and r"\begin{tabular}{l" + "c" * 11 + "}" in tex
    assert r"UNet & AttnUNet & TransUNet & UNet Dice on shenzhen$\uparrow$" in tex
