"""Table 1 (DiffuseExpand ablations) built from fabricated ``results.json`` files."""

import shutil

import pytest
from stored_runs import csv_rows, fake_run, md_row, scored_on

from bench.artifacts import build_artifact
from bench.artifacts.render import EXTERNAL_LEGEND


def test_table1_cells_delta_bold_missing_columns_and_tau_columns(tmp_path):
    runs = tmp_path / "runs"
    for seed, dice in ((0, 0.94), (1, 0.95)):
        fake_run(runs, "origin", seed, dice)
    fake_run(runs, "origin", 0, 0.93, augment="randaugment")
    gen = {"fid": 9.0, "fid_kept": 4.5, "fid_unet": 3.0, "is_unet": 1.01}
    for seed, dice in ((0, 0.95), (1, 0.954)):
        fake_run(runs, "diffuseexpand", seed, dice, metrics=gen)
    for seed, dice in ((0, 0.946), (1, 0.948)):  # τ from the config: 0.5 is the τ=1/2 column
        fake_run(
            runs, "diffuseexpand", seed, dice, ablation="cf+cg", settings="tau=0.5", tau=0.5, metrics={"fid": 7.0}
        )
    fake_run(runs, "diffuseexpand", 0, 0.93, ablation="cf", tau=1.0, metrics={"fid": 8.0})
    fake_run(runs, "diffuseexpand", 0, 0.93, ablation="cf", augment="randaugment", metrics={"fid": 8.0})
    # changes guidance_scale as well: not a Table 1 run, however good
    fake_run(runs, "diffuseexpand", 0, 0.99, settings="guidance_scale=2,tau=1", guidance_scale=2.0)

    art = build_artifact("table1", runs, tmp_path / "out")
    assert [p.name for p in art.files] == ["table1.md", "table1.csv", "table1.tex"] and art.figures == []
    md = art.files[0].read_text()
    head = md_row(md, ["Dataset", "Metric"])
    col = {name: i for i, name in enumerate(head)}
    dice = md_row(md, ["", "Dice↑"])
    # CF has seed 0 only: the row's means are over different seeds, so each says n and none is bold
    # Δ paired by seed, its 95 % interval and p from a paired t over the seeds (df 1)
    assert dice[col["CF+CG+CS τ=1"]] == "0.9520 ± 0.0020 (n = 2) (+0.0070 [-0.0311, +0.0451] p=0.26)"
    assert dice[col["CF+CG τ=1/2"]] == "0.9470 ± 0.0010 (n = 2) (+0.0020 [-0.0488, +0.0528] p=0.70)"
    assert dice[col["Origin"]] == "0.9450 ± 0.0050 (n = 2)"
    assert dice[col["CF"]] == "0.9300 (n = 1) (-0.0100, 1 seed, no interval)"
    assert dice[col["CF+CG τ=1"]] == "–"
    assert "0.99" not in md
    assert "left out 1 runs whose settings change more than τ: guidance_scale (1)" in art.notes
    # a column with no run at all: dashes everywhere, and a note
    assert all(
        md_row(md, [block, row])[col["CF+CG+CS τ=1/3"]] == "–"
        for block, row in [("montgomery_lung, cpu", "FID↓"), ("", "IS-U↑"), ("", "Dice*↑")]
    )
    assert "CF+CG+CS τ=1/3: no run (montgomery_lung, cpu)" in art.notes
    assert "CF+CG+CS τ=1, Dice⁺: no run (montgomery_lung, cpu)" in art.notes
    assert "- CF+CG+CS τ=1/3: no run (montgomery_lung, cpu)" in md
    # a tie is bold twice; FID: the kept pairs of CF+CG+CS; origin has no FID
    plus = md_row(md, ["", "Dice⁺↑"])
    assert plus[col["Origin"]] == "**0.9300 (n = 1)**"
    assert plus[col["CF"]] == "**0.9300 (n = 1) (+0.0000, 1 seed, no interval)**"
    # each Dice row's detectable Δ, from its cells' seed spread; one seed has none
    assert (
        "- montgomery_lung, cpu, Dice↑: CF n/a (1 seed), CF+CG τ=1/2 0.0653 (0.01 needs 5 seeds), "
        "CF+CG+CS τ=1 0.0490 (0.01 needs 4 seeds)"
    ) in md
    fid = md_row(md, ["montgomery_lung, cpu", "FID↓"])
    assert fid[col["CF+CG+CS τ=1"]] == "4.500 ± 0.000 (n = 2)" and fid[col["CF"]] == "8.000 (n = 1)"
    assert "montgomery_lung, cpu, Dice: means over different seeds (n shown), so none is bold" in " ".join(art.notes)
    assert fid[col["Origin"]] == "–"
    assert md_row(md, ["", "IS-U↑"])[col["CF+CG+CS τ=1"]] == "1.010 ± 0.000"  # alone in its row: not bold

    rows = csv_rows(art.files[1])
    assert len(rows) == 6 * 8  # one line per cell, missing ones included
    cell = next(r for r in rows if r["row"] == "Dice↑" and r["column"] == "CF+CG+CS τ=1")
    assert cell["n"] == "2" and cell["seeds"] == "0 1" and cell["delta_seeds"] == "2" and cell["bold"] == "False"
    assert float(cell["delta_vs_origin"]) == pytest.approx(0.007)
    assert float(cell["delta_low"]) == pytest.approx(-0.0311, abs=1e-4)
    assert float(cell["delta_p"]) == pytest.approx(0.258, abs=1e-3)
    assert float(cell["delta_detectable"]) == pytest.approx(0.049, abs=1e-4) and cell["delta_images"] == "0"
    assert next(r for r in rows if r["row"] == "Dice↑" and r["column"] == "CF+CG+CS τ=1/3")["n"] == "0"

    tex = art.files[2].read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\begin{tabular}{llcccccccc}" in tex
    assert r"0.9520 $\pm$ 0.0020 (n = 2) (+0.0070 [-0.0311, +0.0451] p=0.26)" in tex
    assert r"CF+CG $\tau=\frac{1}{2}$" in tex
    assert r"\textbf{0.9300 (n = 1)}" in tex
    assert r"montgomery\_lung" in tex and r"Dice$^{+} \uparrow$" in tex
    body = [line for line in tex.splitlines() if line.endswith(r"\\")]
    assert len(body) == 1 + 6 and all(line.count("&") == 9 for line in body)
    assert art.tables["table1"][0][:3] == ["dataset", "preset", "metric"] and len(art.tables["table1"][1]) == 6


def test_table1_keeps_only_the_largest_ratio_and_refuses_mixed_training(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "origin", 0, 0.9)
    fake_run(runs, "origin", 0, 0.5, ratio=0.1)
    art = build_artifact("table1", runs, tmp_path / "out")
    assert "0.9000 (n = 1)" in art.files[0].read_text() and "0.5000" not in art.files[0].read_text()
    assert any("train ratio 0.9 shown; 1 runs at ratio 0.1 left out" in n for n in art.notes)
    # the preset's τ = 1 and an explicit --tau 1 are one configuration: one run per seed is used, and noted
    preset = fake_run(runs, "diffuseexpand", 0, 0.96)
    explicit = fake_run(runs, "diffuseexpand", 0, 0.97, settings="tau=1")
    art = build_artifact("table1", runs, tmp_path / "out")
    assert "**0.9600 (n = 1) (+0.0600, 1 seed, no interval)**" in art.files[0].read_text()
    assert f"used {preset.relative_to(tmp_path)}, not {explicit.relative_to(tmp_path)}" in " ".join(art.notes)
    other_preset = fake_run(runs, "diffuseexpand", 1, 0.95, guidance_scale=0.05)
    with pytest.raises(ValueError, match="differ in method options") as err:
        build_artifact("table1", runs, tmp_path / "out")
    assert str(other_preset) in str(err.value)
    shutil.rmtree(other_preset)
    longer = fake_run(runs, "origin", 1, 0.95, epochs=40)
    with pytest.raises(ValueError, match="Origin, .*differ in downstream training") as err:
        build_artifact("table1", runs, tmp_path / "out")
    assert str(longer) in str(err.value)


def test_table1_adds_a_dice_row_per_external_test_set_with_its_paired_delta(tmp_path):
    """Origin, CF and CF+CG+CS scored on an external set: per seed, CF+CG+CS gains 0.02 / 0.03 / 0.04 on each image
    and CF loses 0.01 / 0.03 / 0.02, so their Δ are +0.03 (interval above 0) and -0.02 (interval across 0)."""
    runs = tmp_path / "runs"
    origin = {0: 0.70, 1: 0.72, 2: 0.74}
    for seed, o in origin.items():
        scored = scored_on("shenzhen", {"a": o - 0.05, "b": o + 0.05})
        fake_run(runs, "origin", seed, 0.90 + seed / 100, metrics=scored)
    for ablation, gains in (("cf+cg+cs", (0.02, 0.03, 0.04)), ("cf", (-0.01, -0.03, -0.02))):
        for seed, gain in enumerate(gains):
            o = origin[seed] + gain
            scored = scored_on("shenzhen", {"a": o - 0.05, "b": o + 0.05})
            fake_run(runs, "diffuseexpand", seed, 0.92, ablation=ablation, metrics={"fid": 9.0, **scored})
    fake_run(runs, "diffuseexpand", 0, 0.93, ablation="cf+cg", settings="tau=0.5", tau=0.5)  # not scored on it
    fake_run(runs, "origin", 0, 0.93, augment="randaugment")  # no run under RandAugment was: no row for it

    art = build_artifact("table1", runs, tmp_path / "out")
    md = art.files[0].read_text()
    col = {name: i for i, name in enumerate(md_row(md, ["Dataset", "Metric"]))}
    ext = md_row(md, ["", "Dice on shenzhen↑"])
    assert ext[col["Origin"]] == "0.7200 ± 0.0163"
    assert ext[col["CF+CG+CS τ=1"]] == "**0.7500 ± 0.0245 (+0.0300 [+0.0052, +0.0548] p=0.035)**"
    assert ext[col["CF"]] == "0.7000 ± 0.0141 (-0.0200 [-0.0448, +0.0048] p=0.074)"
    assert ext[col["CF+CG τ=1/2"]] == "–"
    assert "montgomery_lung, cpu, CF+CG τ=1/2, Dice: none of its 1 runs was scored on shenzhen" in art.notes
    assert "Dice⁺ on shenzhen" not in md
    # the test split's row reads the test split: Δ +0.02 / +0.01 / 0
    test_split = md_row(md, ["", "Dice↑"])[col["CF+CG+CS τ=1"]]
    assert test_split == "0.9200 ± 0.0000 (n = 3) (+0.0100 [-0.0148, +0.0348] p=0.23)"
    need = "(0.01 needs 10 seeds)"
    assert EXTERNAL_LEGEND in md
    assert f"- montgomery_lung, cpu, Dice on shenzhen↑: CF 0.0326 {need}, CF+CG+CS τ=1 0.0326 {need}" in md
    (row,) = [r for r in csv_rows(art.files[1]) if (r["row"], r["column"]) == ("Dice on shenzhen↑", "CF+CG+CS τ=1")]
    assert float(row["delta_vs_origin"]) == pytest.approx(0.03)
    assert float(row["delta_low"]) == pytest.approx(0.005159, abs=1e-6)
    assert (row["delta_seeds"], row["delta_images"], row["bold"]) == ("3", "6", "True")
    plain = {r[2]: r for r in art.tables["table1"][1]}
    assert plain["Dice on shenzhen↑"][3] == "0.7200 ± 0.0163"
    assert r"Dice on shenzhen$\uparrow$" in art.files[2].read_text()
