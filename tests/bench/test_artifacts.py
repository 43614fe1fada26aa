"""The paper's tables and figures built from fabricated ``results.json`` files (bench.artifacts)."""

import csv
import json

import pytest
from PIL import Image

from bench.artifacts import ARTIFACTS, build_artifact, table2
from bench.results import SCHEMA_VERSION


@pytest.fixture(autouse=True)
def _no_method_imports(monkeypatch):
    """Which registered methods generate pairs, without importing their modules (torch, diffusers: seconds)."""
    monkeypatch.setattr(table2, "generates_pairs", lambda name: name != "origin")


def _run(
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
    metrics=None,
    stats=None,
):
    """Write ``<root>/<dataset>/<name>/ratio_<r>/seed_<s>/results.json`` with the keys the artifacts read."""
    ablation = ablation or ("none" if method == "origin" else "cf+cg+cs")
    train_on = train_on or ("real" if method == "origin" else "real+synthetic")
    options = {} if method == "origin" else {"tau": tau, "guidance_scale": guidance_scale}
    if eta is not None:
        options["eta"] = eta
    name = f"{method}__{ablation}__{model}__{augment}__{train_on}" + (f"__{settings}" if settings else "")
    folder = root / dataset / name / f"ratio_{ratio:g}" / f"seed_{seed}"
    folder.mkdir(parents=True)
    result = {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "method": method,
            "ablation": ablation,
            "dataset": dataset,
            "model": model,
            "seed": seed,
            "train_ratio": ratio,
            "augment": augment,
            "train_on": train_on,
            "preset": preset,
            "key": "k",
            "settings": settings,
        },
        "config": {"train": {"epochs": epochs}, "image_size": 64, "channels": 1, "method_options": options},
        "dataset": {"synthetic": False},
        "versions": {"method": "2" if method == "diffuseexpand" else "1"},
        "git_hash": None,
        "date": "2026-01-01",
        "environment": {},
        "tracking": {},
        "unavailable": {},
        "method_stats": stats or {},
        "timings": {},
        "metrics": {"dice": dice, "dice_std": 0.0, "dice_per_image": {}, **(metrics or {})},
        "counts": {"real_train": 10, "test": 2},
    }
    (folder / "results.json").write_text(json.dumps(result))
    return folder


def _md_row(text, first_cells):
    """The cells of the Markdown table row whose leading cells are ``first_cells``."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[: len(first_cells)] == first_cells:
            return cells
    raise AssertionError(f"no row {first_cells} in:\n{text}")


def _csv_rows(path):
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_kinds_empty_folders_and_irrelevant_results_are_refused(tmp_path):
    runs = tmp_path / "runs"
    with pytest.raises(ValueError, match="table1, table2, fewshot, tau-vs-s, gallery"):
        build_artifact("table3", runs, tmp_path / "out")
    with pytest.raises(FileNotFoundError):
        build_artifact("table1", runs, tmp_path / "out")
    _run(runs, "synthmed", 0, 0.5, ablation="dual", train_on="synthetic")
    with pytest.raises(ValueError, match="table1 needs UNet runs of origin"):
        build_artifact("table1", runs, tmp_path / "out")
    with pytest.raises(ValueError, match="filter_dice"):
        build_artifact("tau-vs-s", runs, tmp_path / "out")
    assert ARTIFACTS == ("table1", "table2", "fewshot", "tau-vs-s", "gallery")
    assert not (tmp_path / "out").exists()  # a refused artifact writes nothing


def test_table1_cells_delta_bold_missing_columns_and_tau_columns(tmp_path):
    runs = tmp_path / "runs"
    for seed, dice in ((0, 0.94), (1, 0.95)):
        _run(runs, "origin", seed, dice)
    _run(runs, "origin", 0, 0.93, augment="randaugment")
    gen = {"fid": 9.0, "fid_kept": 4.5, "fid_unet": 3.0, "is_unet": 1.01}
    for seed, dice in ((0, 0.95), (1, 0.954)):
        _run(runs, "diffuseexpand", seed, dice, metrics=gen)
    for seed, dice in ((0, 0.946), (1, 0.948)):  # τ from the config: 0.5 is the τ=1/2 column
        _run(runs, "diffuseexpand", seed, dice, ablation="cf+cg", settings="tau=0.5", tau=0.5, metrics={"fid": 7.0})
    _run(runs, "diffuseexpand", 0, 0.93, ablation="cf", tau=1.0, metrics={"fid": 8.0})
    _run(runs, "diffuseexpand", 0, 0.93, ablation="cf", augment="randaugment", metrics={"fid": 8.0})
    # changes guidance_scale as well: not a Table 1 run, however good
    _run(runs, "diffuseexpand", 0, 0.99, settings="guidance_scale=2,tau=1", guidance_scale=2.0)

    art = build_artifact("table1", runs, tmp_path / "out")
    assert [p.name for p in art.files] == ["table1.md", "table1.csv", "table1.tex"] and art.figures == []
    md = art.files[0].read_text()
    head = _md_row(md, ["Dataset", "Metric"])
    col = {name: i for i, name in enumerate(head)}
    dice = _md_row(md, ["", "Dice↑"])
    # CF has seed 0 only: the row's means are over different seeds, so each says n and none is bold
    assert dice[col["CF+CG+CS τ=1"]] == "0.9520 ± 0.0020 (n = 2) (+0.0070)"  # Δ paired by seed
    assert dice[col["CF+CG τ=1/2"]] == "0.9470 ± 0.0010 (n = 2) (+0.0020)"
    assert dice[col["Origin"]] == "0.9450 ± 0.0050 (n = 2)"
    assert dice[col["CF"]] == "0.9300 (n = 1) (-0.0100)"
    assert dice[col["CF+CG τ=1"]] == "–"
    assert "0.99" not in md
    assert "left out 1 runs whose settings change more than τ: guidance_scale (1)" in art.notes
    # a column with no run at all: dashes everywhere, and a note
    assert all(
        _md_row(md, [block, row])[col["CF+CG+CS τ=1/3"]] == "–"
        for block, row in [("montgomery_lung, cpu", "FID↓"), ("", "IS-U↑"), ("", "Dice*↑")]
    )
    assert "CF+CG+CS τ=1/3: no run (montgomery_lung, cpu)" in art.notes
    assert "CF+CG+CS τ=1, Dice⁺: no run (montgomery_lung, cpu)" in art.notes
    assert "- CF+CG+CS τ=1/3: no run (montgomery_lung, cpu)" in md
    # a tie is bold twice; FID: the kept pairs of CF+CG+CS; origin has no FID
    plus = _md_row(md, ["", "Dice⁺↑"])
    assert plus[col["Origin"]] == "**0.9300 (n = 1)**" and plus[col["CF"]] == "**0.9300 (n = 1) (+0.0000)**"
    fid = _md_row(md, ["montgomery_lung, cpu", "FID↓"])
    assert fid[col["CF+CG+CS τ=1"]] == "4.500 ± 0.000 (n = 2)" and fid[col["CF"]] == "8.000 (n = 1)"
    assert "montgomery_lung, cpu, Dice: means over different seeds (n shown), so none is bold" in " ".join(art.notes)
    assert fid[col["Origin"]] == "–"
    assert _md_row(md, ["", "IS-U↑"])[col["CF+CG+CS τ=1"]] == "1.010 ± 0.000"  # alone in its row: not bold

    rows = _csv_rows(art.files[1])
    assert len(rows) == 6 * 8  # one line per cell, missing ones included
    cell = next(r for r in rows if r["row"] == "Dice↑" and r["column"] == "CF+CG+CS τ=1")
    assert cell["n"] == "2" and cell["seeds"] == "0 1" and cell["delta_seeds"] == "2" and cell["bold"] == "False"
    assert float(cell["delta_vs_origin"]) == pytest.approx(0.007)
    assert next(r for r in rows if r["row"] == "Dice↑" and r["column"] == "CF+CG+CS τ=1/3")["n"] == "0"

    tex = art.files[2].read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\begin{tabular}{llcccccccc}" in tex
    assert r"0.9520 $\pm$ 0.0020 (n = 2) (+0.0070)" in tex and r"CF+CG $\tau=\frac{1}{2}$" in tex
    assert r"\textbf{0.9300 (n = 1)}" in tex
    assert r"montgomery\_lung" in tex and r"Dice$^{+} \uparrow$" in tex
    body = [line for line in tex.splitlines() if line.endswith(r"\\")]
    assert len(body) == 1 + 6 and all(line.count("&") == 9 for line in body)
    assert art.tables["table1"][0][:3] == ["dataset", "preset", "metric"] and len(art.tables["table1"][1]) == 6


def test_table1_keeps_only_the_largest_ratio_and_refuses_mixed_training(tmp_path):
    runs = tmp_path / "runs"
    _run(runs, "origin", 0, 0.9)
    _run(runs, "origin", 0, 0.5, ratio=0.1)
    art = build_artifact("table1", runs, tmp_path / "out")
    assert "0.9000 (n = 1)" in art.files[0].read_text() and "0.5000" not in art.files[0].read_text()
    assert any("train ratio 0.9 shown; 1 runs at ratio 0.1 left out" in n for n in art.notes)
    # the preset's τ = 1 and an explicit --tau 1 are one configuration: one run per seed is used, and noted
    preset = _run(runs, "diffuseexpand", 0, 0.96)
    explicit = _run(runs, "diffuseexpand", 0, 0.97, settings="tau=1")
    art = build_artifact("table1", runs, tmp_path / "out")
    assert "**0.9600 (n = 1) (+0.0600)**" in art.files[0].read_text()
    assert f"used {preset.relative_to(tmp_path)}, not {explicit.relative_to(tmp_path)}" in " ".join(art.notes)
    longer = _run(runs, "origin", 1, 0.95, epochs=40)
    with pytest.raises(ValueError, match="Origin, .*differ in downstream training") as err:
        build_artifact("table1", runs, tmp_path / "out")
    assert str(longer) in str(err.value)


def _table2_runs(runs):
    for seed, dice in ((0, 0.56), (1, 0.58)):
        _run(runs, "synthmed", seed, dice, ablation="dual", train_on="synthetic", metrics={"fid": 32.3})
    _run(runs, "synthmed", 0, 0.51, ablation="dual", train_on="synthetic", model="attnunet", metrics={"fid": 32.3})
    _run(runs, "synthmed", 0, 0.90, ablation="pix2pix", train_on="synthetic")  # not the default variant
    for seed, dice in ((0, 0.94), (1, 0.95)):
        _run(runs, "xlsor", seed, dice, ablation="full", train_on="synthetic", metrics={"fid": 1.2})
    for seed, dice in ((0, 0.95), (1, 0.96), (2, 0.99)):
        _run(runs, "diffuseexpand", seed, dice, train_on="synthetic", metrics={"fid": 9.0, "fid_kept": 4.6})
    for seed, dice in ((0, 0.93), (1, 0.94)):
        _run(runs, "origin", seed, dice)


def test_table2_rows_delta_bold_and_methods_not_run(tmp_path):
    runs = tmp_path / "runs"
    _table2_runs(runs)
    art = build_artifact("table2", runs, tmp_path / "out")
    md = art.files[0].read_text()
    head = _md_row(md, ["Method"])
    col = {name.split(": ")[-1]: i for i, name in enumerate(head)}
    assert head[1] == "montgomery_lung, cpu: UNet Dice↑" and len(head) == 5
    assert [r[0] for r in art.tables["table2"][1]] == [
        "synthmed (dual)",
        "xlsor (full)",
        "joint (default)",
        "diffuseexpand (cf+cg+cs)",
    ]
    de = _md_row(md, ["diffuseexpand (cf+cg+cs)"])
    # mean over three seeds; Δ paired over the two seeds origin has: ((0.95 - 0.93) + (0.96 - 0.94)) / 2
    # its three seeds against the others' two: means over different seeds, so each says n and none is bold
    assert de[col["UNet Dice↑"]] == "0.9667 ± 0.0170 (n = 3) (+0.0200)"
    assert de[col["FID↓"]] == "4.600 ± 0.000 (n = 3)"  # the pairs stage IV kept
    assert any("diffuseexpand (cf+cg+cs), UNet: Δ paired over 2 of 3 seeds" in n for n in art.notes)
    xlsor = _md_row(md, ["xlsor (full)"])
    assert (
        xlsor[col["UNet Dice↑"]] == "0.9450 ± 0.0050 (n = 2) (+0.0100)"
        and xlsor[col["FID↓"]] == "1.200 ± 0.000 (n = 2)"
    )
    synthmed = _md_row(md, ["synthmed (dual)"])
    assert synthmed[col["AttnUNet Dice↑"]] == "0.5100 (n = 1)"  # no origin AttnUNet run: no Δ, and alone: no bold
    assert synthmed[col["UNet Dice↑"]] == "0.5700 ± 0.0100 (n = 2) (-0.3650)"
    assert _md_row(md, ["joint (default)"])[1:] == ["–"] * 4 and "joint: not run" in art.notes
    assert "0.9000" not in md
    rows = _csv_rows(art.files[1])
    assert len(rows) == 4 * 4 and sum(r["bold"] == "True" for r in rows) == 0
    tex = art.files[2].read_text()
    assert r"\multicolumn{4}{c}{montgomery\_lung, cpu}" in tex and r"\cmidrule(lr){2-5}" in tex
    assert r"1.200 $\pm$ 0.000 (n = 2)" in tex and r"\begin{tabular}{lcccc}" in tex


def test_table2_refuses_a_cell_that_mixes_training_signatures(tmp_path):
    runs = tmp_path / "runs"
    _table2_runs(runs)
    a = _run(runs, "diffuseexpand", 0, 0.9, model="attnunet", train_on="synthetic")
    b = _run(runs, "diffuseexpand", 1, 0.9, model="attnunet", train_on="synthetic", epochs=40)
    with pytest.raises(ValueError, match=r"diffuseexpand \(cf\+cg\+cs\), AttnUNet: .*downstream training") as err:
        build_artifact("table2", runs, tmp_path / "out")
    assert str(a) in str(err.value) and str(b) in str(err.value)


def test_table2_needs_synthetic_only_runs(tmp_path):
    runs = tmp_path / "runs"
    _run(runs, "origin", 0, 0.9)
    _run(runs, "diffuseexpand", 0, 0.9)  # real + synthetic: Table 1, not Table 2
    with pytest.raises(ValueError, match="table2 needs runs trained on synthetic pairs only"):
        build_artifact("table2", runs, tmp_path / "out")


def test_fewshot_curves_csv_and_png(tmp_path):
    runs = tmp_path / "runs"
    for ratio, base in ((0.1, 0.70), (0.5, 0.90)):
        for seed in (0, 1):
            _run(runs, "origin", seed, base + 0.01 * seed, ratio=ratio)
            _run(runs, "diffuseexpand", seed, base + 0.05 + 0.02 * seed, ratio=ratio)
    _run(runs, "diffuseexpand", 0, 0.1, ratio=0.1, augment="cutmix")  # other augmentation: not a point
    _run(runs, "xlsor", 0, 0.93, ratio=0.5, ablation="full")  # one ratio: in the table, not drawn
    art = build_artifact("fewshot", runs, tmp_path / "out")
    assert [p.name for p in art.files] == ["fewshot.md", "fewshot.csv", "fewshot.png"]
    with Image.open(art.figures[0]) as im:
        assert im.size[0] > 100 and im.size[1] > 100
    rows = _csv_rows(art.files[1])
    assert [(r["method"], r["train_ratio"]) for r in rows] == [
        ("origin", "0.1"),
        ("origin", "0.5"),
        ("diffuseexpand (cf+cg+cs)", "0.1"),
        ("diffuseexpand (cf+cg+cs)", "0.5"),
        ("xlsor (full)", "0.5"),
    ]
    assert "in the table, not drawn (one train ratio only): xlsor (full) (ratio 0.5)" in " ".join(art.notes)
    point = rows[2]
    assert float(point["mean"]) == pytest.approx(0.76) and float(point["std"]) == pytest.approx(0.01)
    assert point["n"] == "2" and point["seeds"] == "0 1" and point["delta_seeds"] == "2"
    assert float(point["delta_vs_origin"]) == pytest.approx(0.055)  # (0.05 + 0.06) / 2, paired by seed
    assert rows[0]["delta_vs_origin"] == ""
    md = art.files[0].read_text()
    assert _md_row(md, ["diffuseexpand (cf+cg+cs)"])[1] == "0.7600 ± 0.0100 (+0.0550)"
    assert "## montgomery_lung, cpu, unet" in md


def test_fewshot_refuses_a_single_ratio(tmp_path):
    runs = tmp_path / "runs"
    _run(runs, "origin", 0, 0.9)
    _run(runs, "diffuseexpand", 0, 0.92)
    with pytest.raises(ValueError, match="two or more train ratios"):
        build_artifact("fewshot", runs, tmp_path / "out")


def test_tau_vs_s_families_shares_and_png(tmp_path):
    runs = tmp_path / "runs"

    def de(seed, dice, tau=1.0, scale=1.0, **kw):
        settings = ",".join([f"guidance_scale={scale:g}"] * (scale != 1) + [f"tau={tau:g}"] * (tau != 1))
        return _run(
            runs,
            "diffuseexpand",
            seed,
            0.9,
            tau=tau,
            guidance_scale=scale,
            settings=settings,
            stats={"filter_dice": dice},
            **kw,
        )

    de(0, [0.95, 0.90, 0.99, 0.935], eta=0.065)
    de(0, [0.95, 0.90, 0.99, 0.935], eta=0.065, model="attnunet")  # the same pairs: counted once
    de(0, [0.96, 0.97], tau=0.5)
    de(1, [0.5, 0.94], tau=0.5)
    de(0, [0.2, 0.92, 0.94], scale=2.0, eta=0.1)
    _run(runs, "diffuseexpand", 2, 0.9)  # stored before filter_dice was recorded
    art = build_artifact("tau-vs-s", runs, tmp_path / "out")
    assert [p.name for p in art.files] == ["tau_vs_s.md", "tau_vs_s.csv", "tau_vs_s.png"]
    with Image.open(art.figures[0]) as im:
        assert im.size[0] > 100
    rows = {(r["family"], r["v"]): r for r in _csv_rows(art.files[1])}
    assert set(rows) == {("tau", "1"), ("tau", "2"), ("s", "1"), ("s", "2")}
    assert rows["tau", "2"]["tau"] == "0.5" and rows["tau", "2"]["guidance_scale"] == "1"
    assert rows["tau", "2"]["pairs"] == "4" and rows["tau", "2"]["seeds"] == "0 1"
    assert float(rows["tau", "2"]["share_at_or_above"]) == pytest.approx(0.75)  # 0.96, 0.97, 0.94 of 4
    assert rows["s", "2"]["tau"] == "1" and rows["s", "2"]["guidance_scale"] == "2"
    assert float(rows["s", "2"]["share_at_or_above"]) == pytest.approx(2 / 3)  # η = 0.1: Dice ≥ 0.9
    assert rows["s", "2"]["threshold"] == "0.9"
    for family in ("tau", "s"):  # v = 1 is one configuration in both families, each seed's pairs once
        assert rows[family, "1"]["pairs"] == "4" and float(rows[family, "1"]["share_at_or_above"]) == 0.75
        assert float(rows[family, "1"]["median"]) == pytest.approx(0.9425)
    assert any("1/τ = 3 (τ = 0.3333, s = 1): no run with filter_dice" in n for n in art.notes)
    assert any("skipped 1 runs without method_stats.filter_dice" in n for n in art.notes)
    md = art.files[0].read_text()
    assert "0.667 (Dice ≥ 0.9)" in md and "| montgomery_lung, cpu | τ | 3 | 0.3333 | 1 | 0 | – |" in md


def test_kde_is_a_density_on_the_unit_interval():
    import numpy as np

    from bench.artifacts.tau_vs_s import kde

    grid = np.linspace(0, 1, 2001)
    for values in ([0.95, 0.97, 0.99, 0.999], [0.5] * 10, [0.1, 0.4, 0.8]):
        density = kde(values, grid)
        assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=0.01)
    assert grid[np.argmax(kde([0.2, 0.21, 0.22], grid))] == pytest.approx(0.21, abs=0.02)


def test_gallery_assembles_the_lowest_seed_and_notes_missing(tmp_path):
    runs = tmp_path / "runs"
    chosen = _run(runs, "diffuseexpand", 0, 0.9)
    later = _run(runs, "diffuseexpand", 1, 0.9)
    other_model = _run(runs, "diffuseexpand", 0, 0.9, model="attnunet")
    synthmed = _run(runs, "synthmed", 3, 0.5, ablation="dual")
    _run(runs, "xlsor", 0, 0.9, ablation="full")  # no gallery.png
    _run(runs, "origin", 0, 0.9)  # generates nothing: never listed
    for folder, colour in ((chosen, "red"), (later, "blue"), (other_model, "green"), (synthmed, "white")):
        Image.new("RGB", (24, 16), colour).save(folder / "gallery.png")
    art = build_artifact("gallery", runs, tmp_path / "out")
    assert [p.name for p in art.files] == ["gallery.md", "gallery.png"] and art.figures == [art.files[1]]
    with Image.open(art.figures[0]) as im:
        assert im.size[0] > 100
    md = art.files[0].read_text()
    shown = {f: str((f / "gallery.png").relative_to(tmp_path)) for f in (chosen, later, other_model, synthmed)}
    assert shown[chosen] in md and shown[later] not in md
    assert shown[other_model] not in md and shown[synthmed] in md
    assert [r[2] for r in art.tables["gallery"][1]] == ["synthmed", "diffuseexpand"]
    assert art.notes == ["no gallery.png in any run folder of: xlsor (full), montgomery_lung, cpu"]
    (chosen / "gallery.png").unlink()
    (later / "gallery.png").unlink()
    (other_model / "gallery.png").unlink()
    (synthmed / "gallery.png").unlink()
    with pytest.raises(ValueError, match="no run folder holds gallery.png"):
        build_artifact("gallery", runs, tmp_path / "out2")


def test_written_files_name_run_folders_relative_to_runs(tmp_path, monkeypatch):
    """A committed report must not carry one machine's absolute paths: run folders show as ``runs/...``, whether
    --runs was given absolute or relative."""
    runs = tmp_path / "runs"
    _run(runs, "origin", 0, 0.9)
    preset = _run(runs, "diffuseexpand", 0, 0.96)
    _run(runs, "diffuseexpand", 0, 0.97, settings="tau=1")  # a second run of seed 0: the note names both folders
    Image.new("RGB", (24, 16), "red").save(preset / "gallery.png")
    monkeypatch.chdir(tmp_path)
    for kind, note in (("table1", "used runs/montgomery_lung/diffuseexpand__"), ("gallery", "`runs/montgomery_lung/")):
        given = build_artifact(kind, runs.resolve(), tmp_path / "absolute" / kind)
        relative = build_artifact(kind, runs.relative_to(tmp_path), tmp_path / "relative" / kind)
        texts = [f.read_text() for f in given.files if f.suffix in (".md", ".csv", ".tex")]
        assert texts == [f.read_text() for f in relative.files if f.suffix in (".md", ".csv", ".tex")]
        assert note in texts[0]
        assert not any(str(tmp_path) in t or str(tmp_path.resolve()) in t for t in [*texts, *given.notes])
