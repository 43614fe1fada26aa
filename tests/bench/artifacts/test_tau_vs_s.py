"""τ vs s (stage-IV Dice densities) built from fabricated ``results.json`` files."""

import pytest
from PIL import Image
from stored_runs import csv_rows, fake_run, md_row, scored_on

from bench.artifacts import build_artifact
from bench.artifacts.render import EXTERNAL_LEGEND


def test_tau_vs_s_families_shares_and_png(tmp_path):
    runs = tmp_path / "runs"

    def de(seed, dice, tau=1.0, scale=1.0, **kw):
        settings = ",".join([f"guidance_scale={scale:g}"] * (scale != 1) + [f"tau={tau:g}"] * (tau != 1))
        return fake_run(
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
    fake_run(runs, "diffuseexpand", 2, 0.9)  # stored before filter_dice was recorded
    art = build_artifact("tau-vs-s", runs, tmp_path / "out")
    assert [p.name for p in art.files] == ["tau_vs_s.md", "tau_vs_s.csv", "tau_vs_s.png"]
    with Image.open(art.figures[0]) as im:
        assert im.size[0] > 100
    rows = {(r["family"], r["v"]): r for r in csv_rows(art.files[1])}
    assert set(rows) == {("tau", "1"), ("tau", "2"), ("s", "1"), ("s", "2")}
    assert rows["tau", "2"]["tau"] == "0.5" and rows["tau", "2"]["guidance_scale"] == "1"
    assert rows["tau", "2"]["pairs"] == "4" and rows["tau", "2"]["seeds"] == "0 1"
    assert float(rows["tau", "2"]["seed_std"]) == pytest.approx(0.1225)  # seed means 0.965 and 0.72
    assert rows["s", "2"]["seed_std"] == ""  # one seed: no spread
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
    assert "0.667 (Dice ≥ 0.9)" in md and "| montgomery_lung, cpu | τ | 3 | 0.3333 | 1 | 0 | – | – | – | – | – |" in md


def test_tau_vs_s_scales_the_s_family_by_the_presets_gradient_scale(tmp_path):
    """At a preset whose s₀ is 0.1, τ = 1/2 pairs with s = 0.2 (1/τ = s/s₀), not with the paper's s = 2."""
    runs = tmp_path / "runs"
    for seed, tau, scale, settings, dice in [
        (0, 1.0, 0.1, "", [0.9, 0.95]),
        (0, 0.5, 0.1, "tau=0.5", [0.96]),
        (0, 1.0, 0.2, "guidance_scale=0.2", [0.97, 0.99]),
        (0, 1.0, 2.0, "guidance_scale=2", [0.1]),  # the paper's s = 2 is not this preset's v = 2
    ]:
        fake_run(
            runs,
            "diffuseexpand",
            seed,
            0.9,
            tau=tau,
            guidance_scale=scale,
            settings=settings,
            stats={"filter_dice": dice},
        )
    art = build_artifact("tau-vs-s", runs, tmp_path / "out")
    rows = {(r["family"], r["v"]): r for r in csv_rows(art.files[1])}
    assert rows["tau", "2"]["guidance_scale"] == "0.1" and rows["tau", "2"]["pairs"] == "1"
    assert rows["s", "2"]["guidance_scale"] == "0.2" and rows["s", "2"]["pairs"] == "2"
    assert rows["s", "1"]["guidance_scale"] == "0.1" and rows["s", "1"]["pairs"] == "2"
    assert any("1 runs at other (τ, s) left out" in n for n in art.notes)


def test_kde_is_a_density_on_the_unit_interval():
    import numpy as np

    from bench.artifacts.tau_vs_s import kde

    grid = np.linspace(0, 1, 2001)
    for values in ([0.95, 0.97, 0.99, 0.999], [0.5] * 10, [0.1, 0.4, 0.8]):
        density = kde(values, grid)
        assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=0.01)
    assert grid[np.argmax(kde([0.2, 0.21, 0.22], grid))] == pytest.approx(0.21, abs=0.02)


def test_tau_vs_s_adds_the_dice_and_delta_on_each_external_test_set(tmp_path):
    """UNet runs at τ = 1 gain 0.02 / 0.03 / 0.04 per seed on every image of the external set over origin, those at
    τ = 1/2 lose 0.01 / 0.03 / 0.02: Δ +0.03 (its interval above 0, marked) and -0.02 (across 0)."""
    runs = tmp_path / "runs"
    origin = {0: 0.70, 1: 0.72, 2: 0.74}
    for seed, o in origin.items():
        fake_run(runs, "origin", seed, 0.9, metrics=scored_on("shenzhen", {"a": o - 0.05, "b": o + 0.05}))
    for tau, gains in ((1.0, (0.02, 0.03, 0.04)), (0.5, (-0.01, -0.03, -0.02))):
        for seed, gain in enumerate(gains):
            o = origin[seed] + gain
            settings = "" if tau == 1 else f"tau={tau:g}"
            scored = scored_on("shenzhen", {"a": o - 0.05, "b": o + 0.05})
            stats = {"filter_dice": [0.9, 0.95]}
            fake_run(runs, "diffuseexpand", seed, 0.9, tau=tau, settings=settings, stats=stats, metrics=scored)
    fake_run(runs, "diffuseexpand", 0, 0.9, model="attnunet", stats={"filter_dice": [0.9, 0.95]})  # not scored

    art = build_artifact("tau-vs-s", runs, tmp_path / "out")
    md = art.files[0].read_text()
    head = md_row(md, ["dataset", "family"])
    assert head[-2:] == ["Dice on shenzhen", "Δ on shenzhen"]
    assert md_row(md, ["montgomery_lung, cpu", "τ", "1"])[-2:] == [
        "0.7500 ± 0.0245",
        "+0.0300 [+0.0052, +0.0548] p=0.035 ▲",
    ]
    assert md_row(md, ["montgomery_lung, cpu", "τ", "2"])[-2:] == [
        "0.7000 ± 0.0141",
        "-0.0200 [-0.0448, +0.0048] p=0.074",
    ]
    assert md_row(md, ["montgomery_lung, cpu", "s", "2"])[-2:] == ["–", "–"]  # no run
    assert md_row(md, ["montgomery_lung, cpu", "s", "1"])[-2:] == md_row(md, ["montgomery_lung, cpu", "τ", "1"])[-2:]
    assert (
        "montgomery_lung, cpu: Dice on shenzhen of the unet runs under augment none; 1 runs of other models or "
        "augmentations not in those columns" in art.notes
    )
    assert EXTERNAL_LEGEND in md
    rows = {(r["family"], r["v"]): r for r in csv_rows(art.files[1])}
    tau2 = rows["tau", "2"]
    assert tau2["downstream"] == "unet none" and tau2["dice_n_on_shenzhen"] == "3"
    assert float(tau2["dice_on_shenzhen"]) == pytest.approx(0.70)
    assert float(tau2["delta_vs_origin_on_shenzhen"]) == pytest.approx(-0.02)
    assert float(tau2["delta_high_on_shenzhen"]) == pytest.approx(0.004841, abs=1e-6)
    assert tau2["delta_images_on_shenzhen"] == "6"
    columns, plain = art.tables["tau_vs_s"]
    assert all(len(row) == len(columns) for row in plain) and columns[-1] == "delta_images_on_shenzhen"
