"""The leaderboard built from fabricated ``results.json`` files with known Δ: its cells and their interval marks, the
generator columns, the external-set columns, what it leaves out, and a rebuild that writes the same bytes."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import wandb
from cli_checks import invoke
from PIL import Image
from stored_runs import csv_rows, fake_run, md_row

from bench.artifacts import build_artifact
from bench.artifacts.leaderboard import COLUMNS
from bench.tracking import log_artifact

ORIGIN = {0: 0.80, 1: 0.70, 2: 0.75}  # per seed, on the test split; on shenzhen 0.1 lower
DELTAS = {  # entry -> Δ per seed: a clear gain, no effect, a clear loss
    "xlsor": (0.02, 0.03, 0.04),
    "synthmed": (0.02, -0.03, 0.01),
    "diffuseexpand+pretrained": (-0.05, -0.06, -0.04),
}
SHOWN = {"xlsor": "full", "synthmed": "dual", "diffuseexpand+pretrained": "cf+cg+cs", "joint+pretrained": "default"}
SHOWN["genseg"] = "separate"


def _run(runs, entry, seed, dice, pairs, augment="none", **kw):
    method = entry.removesuffix("+pretrained")
    pretrained = entry.endswith("+pretrained")
    generated = {} if method == "origin" else {"fid": 40.0 + seed, "memorisation": {"share_copies": 0.1 * seed}}
    if method == "diffuseexpand":
        generated["fid_kept"] = 30.0 + seed
    metrics = {
        "dice_per_image": {"a": dice + 0.05, "b": dice - 0.05},
        "external": {"shenzhen": {"dice": dice - 0.1, "dice_std": 0.0, "n": 1, "dice_per_image": {"s": dice - 0.1}}},
        **generated,
        **kw.pop("metrics", {}),
    }
    stats = {"pass_rate": 0.5} if method == "diffuseexpand" else {}
    folder = fake_run(
        runs,
        method,
        seed,
        dice,
        ablation=SHOWN.get(entry),
        pairs=pairs,
        augment=augment,
        metrics=metrics,
        stats=stats,
        settings=",".join(filter(None, ("pretrained=shenzhen-1a2b3c" if pretrained else "", kw.pop("settings", "")))),
        **kw,
    )
    if pretrained:  # the run's resolved options name its start
        res = json.loads((folder / "results.json").read_text())
        res["config"]["method_options"]["pretrained"] = "pretrain/shenzhen"
        (folder / "results.json").write_text(json.dumps(res))
    return folder


def _stored(runs):
    for pairs in (9, 14):
        for augment in ("none", "nnunet"):
            for seed, base in ORIGIN.items():
                _run(runs, "origin", seed, base, pairs, augment)
                for entry, deltas in DELTAS.items():
                    _run(runs, entry, seed, base + deltas[seed], pairs, augment)
    _run(runs, "xlsor", 0, 0.99, None, ratio=0.5)  # a ratio run: left out
    _run(runs, "xlsor", 0, 0.99, 9, settings="train.epochs=3")  # changed settings: left out


def test_cells_marks_generator_external_columns_and_the_wandb_table(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    _stored(runs)
    art = build_artifact("leaderboard", runs, tmp_path / "out")
    assert [p.name for p in art.files] == ["leaderboard.md", "leaderboard.csv", "leaderboard.png"]
    md = art.files[0].read_text()
    assert md.count("## montgomery_lung, cpu, unet, augment ") == 2
    assert md.index("augment none") < md.index("augment nnunet")
    head = md_row(md, ["pairs", "method"])[2:]
    assert head == ["Dice", "Δ vs origin", "Dice on shenzhen", "Δ on shenzhen", "FID↓", "pass", "copies"]
    # t(0.975, 2) = 4.3027: Δ 0.03 ± 4.3027 * 0.01 / √3 = [0.0052, 0.0548], p = 0.035: above 0
    gain = md_row(md, ["9", "xlsor"])
    assert gain[2:6] == [
        "0.7800 ± 0.0374",
        "+0.0300 [+0.0052, +0.0548] p=0.035 ▲",
        "0.6800 ± 0.0374",
        "+0.0300 [+0.0052, +0.0548] p=0.035 ▲",
    ]
    assert gain[6:] == ["41.0 ± 0.8", "–", "0.10 ± 0.08"]  # FID of seeds 0..2, no filter, share of copies
    assert md_row(md, ["9", "synthmed"])[3].endswith("p=1.0")  # mean Δ 0: no mark
    loss = md_row(md, ["9", "diffuseexpand+pretrained"])
    assert loss[3] == "-0.0500 [-0.0748, -0.0252] p=0.013 ▼"
    assert loss[6:] == ["31.0 ± 0.8", "0.50 ± 0.00", "0.10 ± 0.08"]  # the FID of the pairs its filter kept
    assert md_row(md, ["9", "origin"])[2:6] == ["0.7500 ± 0.0408", "baseline", "0.6500 ± 0.0408", "baseline"]
    assert "1 run(s) of train ratios left out" in md and "1 run(s) of other trainings" in md
    assert "Detectable Δ" in md and "- xlsor, 9 pairs: test split " in md

    rows = csv_rows(art.files[1])
    assert list(rows[0]) == COLUMNS
    assert len(rows) == 2 * 2 * 4 * 2  # augmentations x pairs x (origin + 3 entries) x (test split, shenzhen)
    by = {(r["augment"], r["train_pairs"], r["method"], r["test_set"]): r for r in rows}
    cell = by["nnunet", "14", "xlsor", "shenzhen"]
    assert float(cell["delta_vs_origin"]) == pytest.approx(0.03) and cell["ci_excludes_0"] == "True"
    assert cell["delta_seeds"] == "3" and cell["delta_images"] == "3" and cell["seeds"] == "0 1 2"
    assert float(cell["fid"]) == pytest.approx(41.0) and cell["pass_rate"] == ""
    assert by["none", "9", "synthmed", ""]["ci_excludes_0"] == "False"
    origin = by["none", "9", "origin", ""]
    assert origin["delta_vs_origin"] == origin["ci_excludes_0"] == origin["fid"] == "" and origin["delta_seeds"] == "0"
    assert by["none", "9", "diffuseexpand+pretrained", ""]["delta_images"] == "6"  # two test images x 3 seeds

    with Image.open(art.figures[0]) as im:  # 2 augmentations x 2 test sets: 2 rows of panels
        assert im.size[0] > im.size[1] > 100
    logged = []
    monkeypatch.setattr(wandb, "init", lambda **_: SimpleNamespace(log=logged.append, finish=lambda: None, url=None))
    log_artifact(art, "offline", "sweep-leaderboard-x", tmp_path / "wandb")
    (record,) = logged
    table, figure = record["leaderboard/table"], record["leaderboard/leaderboard"]
    assert isinstance(table, wandb.Table) and isinstance(figure, wandb.Image)
    assert table.columns == COLUMNS and len(table.data) == len(rows)
    assert table.data[2][:7] == ["montgomery_lung", "cpu", "unet", "none", 9, "xlsor", ""]
    assert table.data[2][18] == "True" and table.data[2][11] == pytest.approx(0.03)  # ci_excludes_0, Δ


def test_a_rebuild_writes_the_same_bytes_and_the_report_verb_writes_them_too(tmp_path):
    runs = tmp_path / "runs"
    _stored(runs)
    first = build_artifact("leaderboard", runs, tmp_path / "a")
    second = build_artifact("leaderboard", runs, tmp_path / "b")
    res = invoke("report", "leaderboard", "--runs", runs, "--out", tmp_path / "c")
    assert res.exit_code == 0, res.output
    for name in ("leaderboard.md", "leaderboard.csv"):
        text = (tmp_path / "a" / name).read_bytes()
        assert text == (tmp_path / "b" / name).read_bytes() == (tmp_path / "c" / name).read_bytes()
    assert first.notes == second.notes


def test_the_committed_leaderboard_report_rebuilds_byte_for_byte_from_its_stored_runs(tmp_path):
    """reports/leaderboard-montgomery holds the runs it was built from, external test set included: the table and
    its CSV must come out of them unchanged, whatever the artifacts' code was refactored into."""
    report = Path(__file__).resolve().parents[3] / "reports" / "leaderboard-montgomery"
    build_artifact("leaderboard", report / "runs", tmp_path)
    for name in ("leaderboard.md", "leaderboard.csv"):
        assert (tmp_path / name).read_bytes() == (report / name).read_bytes(), name


def test_one_seed_has_no_interval_nor_mark_and_a_missing_origin_no_delta(tmp_path):
    runs = tmp_path / "runs"
    _run(runs, "origin", 0, 0.8, 9)
    _run(runs, "xlsor", 0, 0.9, 9)
    _run(runs, "xlsor", 0, 0.9, 14)  # no origin at 14 pairs
    _run(runs, "joint+pretrained", 0, 0.85, 9, metrics={"external": {}})  # not scored on the set its start saw
    art = build_artifact("leaderboard", runs, tmp_path / "out")
    md = art.files[0].read_text()
    assert md_row(md, ["9", "xlsor"])[3] == "+0.1000, 1 seed, no interval"
    assert md_row(md, ["14", "xlsor"])[3] == "–"
    assert md_row(md, ["9", "joint+pretrained"])[2:6] == ["0.8500 (n = 1)", "+0.0500, 1 seed, no interval", "–", "–"]
    assert "joint+pretrained, 9 pairs: none of its 1 runs was scored on shenzhen" in md


def test_runs_it_cannot_use_are_refused_and_nothing_is_written(tmp_path):
    runs = tmp_path / "runs"
    _run(runs, "xlsor", 0, 0.9, None, ratio=0.5)
    with pytest.raises(ValueError, match="leaderboard needs runs of counts of labelled pairs"):
        build_artifact("leaderboard", runs, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_variant_other_than_the_shown_one_is_its_own_row_named_after_a_colon(tmp_path):
    runs = tmp_path / "runs"
    for seed, base in ORIGIN.items():
        _run(runs, "origin", seed, base, 9)
        fake_run(runs, "genseg", seed, base + 0.01, ablation="separate", pairs=9)
        fake_run(runs, "genseg", seed, base + 0.02, ablation="end2end", pairs=9)
    md = build_artifact("leaderboard", runs, tmp_path / "out").files[0].read_text()
    assert md_row(md, ["9", "genseg"])[3].startswith("+0.0100")
    assert md_row(md, ["9", "genseg:end2end"])[3].startswith("+0.0200")
    assert "other trainings" not in md


def _mixed(runs, entry, seed, dice, mixing, **kw):
    """A run of ``entry`` whose batches mixed by ``mixing`` (its training options, as its folder and config name
    them); the rest of its training is origin's."""
    settings = ",".join(f"train.{k}={v:g}" if isinstance(v, float) else f"train.{k}={v}" for k, v in mixing.items())
    folder = _run(runs, entry, seed, dice, 9, settings=",".join(filter(None, (kw.pop("settings", ""), settings))))
    res = json.loads((folder / "results.json").read_text())
    res["config"]["train"].update(mixing)
    (folder / "results.json").write_text(json.dumps(res))


SCHEDULES = {  # row -> (entry, schedule, Δ per seed), in the order the rows come
    "xlsor": ("xlsor", {}, (0.01, 0.02, 0.03)),
    "xlsor (synthetic_share=0.5)": ("xlsor", {"synthetic_share": 0.5}, (0.0, 0.0, 0.03)),
    "xlsor (mixing=alternate)": ("xlsor", {"mixing": "alternate"}, (0.02, 0.03, 0.04)),
    "xlsor (mixing=pretrain, pretrain_share=0.3)": ("xlsor", {"mixing": "pretrain", "pretrain_share": 0.3}, (0,) * 3),
    "diffuseexpand+pretrained (mixing=pretrain)": ("diffuseexpand+pretrained", {"mixing": "pretrain"}, (0,) * 3),
    "genseg (mixing=alternate)": ("genseg", {"mixing": "alternate"}, (-0.05, -0.06, -0.04)),
}


def test_a_mixing_schedule_is_a_row_of_its_own_named_with_it_after_the_pooled_one(tmp_path, monkeypatch):
    from bench.artifacts import leaderboard

    runs = tmp_path / "runs"
    for seed, base in ORIGIN.items():
        _run(runs, "origin", seed, base, 9)
        for entry, mixing, deltas in SCHEDULES.values():
            _mixed(runs, entry, seed, base + deltas[seed], mixing)
    _mixed(runs, "xlsor", 0, 0.99, {"mixing": "alternate"}, settings="train.epochs=3")  # another change: left out
    panels = []
    draw = leaderboard.figure
    monkeypatch.setattr(leaderboard, "figure", lambda p, path: (panels.extend(p), draw(p, path)))
    art = build_artifact("leaderboard", runs, tmp_path / "out")
    md = art.files[0].read_text()
    shown = [line.split("|")[2].strip() for line in md.splitlines() if line.startswith("| 9 |")]
    assert shown == ["origin", *SCHEDULES]  # each entry's pooled row first, then its schedules in a fixed order
    assert md_row(md, ["9", "xlsor (mixing=alternate)"])[3] == "+0.0300 [+0.0052, +0.0548] p=0.035 ▲"
    assert md_row(md, ["9", "genseg (mixing=alternate)"])[3] == "-0.0500 [-0.0748, -0.0252] p=0.013 ▼"
    assert md_row(md, ["9", "genseg (mixing=alternate)"])[5] == "-0.0500 [-0.0748, -0.0252] p=0.013 ▼"  # on shenzhen
    assert md_row(md, ["9", "xlsor"])[3].startswith("+0.0200 [")
    assert (
        "<entry> (mixing=...), <entry> (synthetic_share=...): the entry's runs" in md
        and "1 run(s) of other trainings or changed settings left out" in md
    )
    assert "no Δ" not in md  # every schedule pairs with the one origin run per seed

    by = {(r["method"], r["test_set"]): r for r in csv_rows(art.files[1])}
    assert float(by["xlsor (mixing=alternate)", ""]["delta_vs_origin"]) == pytest.approx(0.03)
    assert float(by["xlsor (synthetic_share=0.5)", "shenzhen"]["delta_vs_origin"]) == pytest.approx(0.01)
    assert by["diffuseexpand+pretrained (mixing=pretrain)", ""]["delta_seeds"] == "3"
    ((_, test_set, lines), (_, external, _)) = panels  # the test split's panel, then shenzhen's
    assert test_set is None and external == "shenzhen" and list(lines) == list(SCHEDULES)

    again = build_artifact("leaderboard", runs, tmp_path / "again")
    for first, second in zip(art.files[:2], again.files[:2]):
        assert first.read_bytes() == second.read_bytes()


def test_a_row_over_other_seeds_than_origin_says_so_beside_its_means(tmp_path):
    runs = tmp_path / "runs"
    for seed, base in ORIGIN.items():
        _run(runs, "origin", seed, base, 9)
    for seed in (0, 1):  # xlsor's third seed not run yet
        _run(runs, "xlsor", seed, ORIGIN[seed] + DELTAS["xlsor"][seed], 9)
    md = build_artifact("leaderboard", runs, tmp_path / "out").files[0].read_text()
    xlsor = md_row(md, ["9", "xlsor"])
    assert xlsor[2].endswith(" (n = 2)") and xlsor[4].endswith(" (n = 2)")
    assert xlsor[3].startswith("+0.0250 ") and "n = " not in md_row(md, ["9", "origin"])[2]
    assert "(n = k): this mean is over k seeds, origin's over others" in md
    _run(runs, "xlsor", 2, ORIGIN[2] + DELTAS["xlsor"][2], 9)
    md = build_artifact("leaderboard", runs, tmp_path / "out").files[0].read_text()
    assert "(n = " not in md_row(md, ["9", "xlsor"])[2] and "(n = k)" not in md


def _start(runs, seed, dice, tag, path, **kw):
    """A diffuseexpand+pretrained run fine-tuned from ``path`` (its settings tag value ``tag``)."""
    folder = fake_run(runs, "diffuseexpand", seed, dice, pairs=9, settings=f"pretrained={tag}", **kw)
    res = json.loads((folder / "results.json").read_text())
    res["config"]["method_options"]["pretrained"] = path
    (folder / "results.json").write_text(json.dumps(res))


def test_two_starts_of_one_entry_are_two_rows_named_with_their_start_one_start_is_named_as_before(tmp_path):
    """One folder typed relative and absolute (two settings tags), or two folders: rows of their own, not one row
    whose runs differ in method options; the legend names each start and what its Δ mixes."""
    runs = tmp_path / "runs"
    for seed, base in ORIGIN.items():
        _run(runs, "origin", seed, base, 9)
        _start(runs, seed, base + DELTAS["xlsor"][seed], "shenzhen-cpu-3f09a1", "pre/shenzhen-cpu")
    md = build_artifact("leaderboard", runs, tmp_path / "one").files[0].read_text()
    assert md_row(md, ["9", "diffuseexpand+pretrained"])[3].startswith("+0.0300 [")
    pretrained = [line for line in md.splitlines() if line.startswith("<method>+pretrained: ")]
    assert pretrained == [
        "<method>+pretrained: its generator fine-tunes a bench pretrain start, trained on other labelled pairs "
        "(diffuseexpand+pretrained starts from shenzhen-cpu-3f09a1); its Δ is that of those pairs and its generated "
        "pairs together, not of generated pairs alone (origin never sees the pretraining's pairs), and on an external "
        "set from the same source as the pretraining's pairs it is not out of domain."
    ]
    for seed, base in ORIGIN.items():
        loss = DELTAS["diffuseexpand+pretrained"][seed]
        _start(runs, seed, base + loss, "shenzhen-cpu-77aa01", "/abs/pre/shenzhen-cpu")
    art = build_artifact("leaderboard", runs, tmp_path / "two")
    md = art.files[0].read_text()
    shown = [line.split("|")[2].strip() for line in md.splitlines() if line.startswith("| 9 |")]
    assert shown == [
        "origin",
        "diffuseexpand+pretrained (shenzhen-cpu-3f09a1)",
        "diffuseexpand+pretrained (shenzhen-cpu-77aa01)",
    ]
    assert md_row(md, ["9", "diffuseexpand+pretrained (shenzhen-cpu-77aa01)"])[3].startswith("-0.0500 [")
    assert "starts from shenzhen-cpu-3f09a1; diffuseexpand+pretrained starts from shenzhen-cpu-77aa01)" in md
    assert {r["method"] for r in csv_rows(art.files[1])} == set(shown)


def test_the_legend_says_what_the_leaderboard_pairs_and_that_fid_follows_the_count_of_pairs(tmp_path):
    runs = tmp_path / "runs"
    for seed, base in ORIGIN.items():
        _run(runs, "origin", seed, base, 9)
        _run(runs, "xlsor", seed, base + DELTAS["xlsor"][seed], 9)
    md = build_artifact("leaderboard", runs, tmp_path / "out").files[0].read_text()
    assert "train ratio" not in md and "augmentation, count of labelled pairs and downstream training" in md
    assert "image by image on the column's test set (the test split, or <set> in a Δ on <set> column)" in md
    assert "vs the row's own real training pairs" in md
    assert "FIDs of rows of different counts of pairs are not comparable" in md
    assert "<method>+pretrained: its generator" not in md  # no pretrained row, no such line
