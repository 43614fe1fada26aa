"""The leaderboard sweep: its grid of entries x labelled pairs x augmentations x seeds, what a dry run lists and
marks done, and the options it refuses in one line before any run."""

import json

import pytest
from cli_checks import assert_refused, invoke
from synthetic_pairs import disc_folder

from bench import leaderboard_sweep as lb
from bench import runner
from bench.config import ConfigError
from bench.runner import Request
from methods.diffusion.pretrained import SCHEDULE, WEIGHTS
from methods.diffusion.recipe import RECORD

pytestmark = pytest.mark.heavy(60)


def _pretrained(folder, method="diffuseexpand"):
    """A folder laid out as `bench pretrain` leaves one (its files are read for their fingerprint only here)."""
    folder.mkdir()
    (folder / RECORD).write_text(json.dumps({"method": method, "options": {}}))
    (folder / WEIGHTS).write_bytes(b"weights")
    (folder / SCHEDULE).write_text("{}")
    return str(folder)


def _base(**kw):
    return Request(**{"dataset": "demo", "models": (), "seeds": (), "test_sets": ("none",), **kw})


def test_the_default_grid_is_every_entry_and_origin_at_9_14_28_pairs_under_three_augmentations_five_seeds(tmp_path):
    starts = {m: _pretrained(tmp_path / m, m) for m in ("diffuseexpand", "joint")}
    sweep = lb.build_sweep(_base(), pretrained=starts)
    assert sweep.name == "leaderboard" and not sweep.missing
    assert len(sweep.runs) == 5 * 3 * 3 * 6  # seeds x pairs x augmentations x (origin + 5 entries)
    seeds = [r.request.seeds for r in sweep.runs]
    assert seeds == sorted(seeds) and set(seeds) == {(0,), (1,), (2,), (3,), (4,)}  # seed-major
    first = [r.request for r in sweep.runs if r.request.seeds == (0,)]
    shape = [(r.train_pairs, r.augment, r.method, r.train_on, r.method_options.get("pretrained")) for r in first[:6]]
    assert shape == [
        (9, "none", "origin", "real", None),
        (9, "none", "xlsor", "real+synthetic", None),
        (9, "none", "synthmed", "real+synthetic", None),
        (9, "none", "diffuseexpand", "real+synthetic", None),
        (9, "none", "diffuseexpand", "real+synthetic", starts["diffuseexpand"]),
        (9, "none", "joint", "real+synthetic", starts["joint"]),
    ]
    assert {(r.train_pairs, r.augment) for r in first} == {
        (n, a) for n in (9, 14, 28) for a in ("none", "xlsor", "nnunet")
    }
    assert {r.models for r in first} == {("unet",)} and {r.ablation for r in first if r.method == "diffuseexpand"} == {
        "cf+cg+cs"
    }
    assert sweep.runs[4].label == "diffuseexpand+pretrained, 9 pairs, augment none"


def test_methods_pairs_and_augmentations_narrow_or_extend_the_grid():
    sweep = lb.build_sweep(_base(seeds=(7,)), methods=("genseg", "xlsor"), pairs=(5, 6), augments=("nnunet",))
    assert [(r.request.method, r.request.train_pairs, r.request.augment) for r in sweep.runs] == [
        ("origin", 5, "nnunet"),
        ("genseg", 5, "nnunet"),
        ("xlsor", 5, "nnunet"),
        ("origin", 6, "nnunet"),
        ("genseg", 6, "nnunet"),
        ("xlsor", 6, "nnunet"),
    ]


def test_an_entry_names_a_variant_other_than_the_shown_one_after_a_colon():
    sweep = lb.build_sweep(_base(seeds=(0,)), methods=("genseg", "genseg:end2end"), pairs=(9,), augments=("none",))
    assert [(r.label, r.request.ablation) for r in sweep.runs] == [
        ("origin, 9 pairs, augment none", None),
        ("genseg, 9 pairs, augment none", None),
        ("genseg:end2end, 9 pairs, augment none", "end2end"),
    ]


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({}, "--methods diffuseexpand+pretrained,joint+pretrained: each starts from a pretrained network"),
        ({"methods": ("nosuch",)}, "--methods: unknown method 'nosuch'"),
        ({"methods": ("xlsor+pretrained",)}, "unknown method 'xlsor+pretrained'"),
        ({"methods": ("origin",)}, "baseline every sweep runs anyway"),
        ({"methods": ("genseg:endtoend",)}, "--methods genseg:endtoend: unknown variant 'endtoend'"),
        ({"methods": ("genseg", "genseg:separate")}, "--methods: a value is given more than once in genseg,genseg"),
        ({"methods": ("xlsor", "xlsor")}, "--methods: a value is given more than once in xlsor,xlsor"),
        ({"methods": ("xlsor",), "pairs": (9, 9)}, "--pairs: a value is given more than once in 9,9"),
        ({"methods": ("xlsor",), "augments": ("none", "none")}, "--augment: a value is given more than once"),
        ({"methods": ("xlsor",), "augments": ("nnunett",)}, "Did you mean 'nnunet'?"),
        ({"methods": ("xlsor",), "pairs": (9, 1)}, "--pairs must be >= 2"),
        ({"methods": ("xlsor",), "pretrained": {"joint": "x"}}, "--pretrained joint: no chosen entry starts from it"),
        ({"methods": ("joint+pretrained",), "pretrained": {"joint": "/nonexistent"}}, "is not a folder"),
    ],
)
def test_bad_grids_are_refused_naming_the_option(kw, needle):
    with pytest.raises(ConfigError) as e:
        lb.build_sweep(_base(), **kw)
    assert needle in str(e.value)


def test_a_pretrained_folder_must_be_a_finished_pretraining_of_its_method_dry_run_too(tmp_path):
    """A pretraining still running (its checkpoints only), an empty folder, a plain UNet's, one of another method, an
    unreadable record and one that names no method are each refused in one line naming the folder, before any run is planned."""
    running = tmp_path / "running"
    (running / "checkpoints").mkdir(parents=True)
    empty, plain = tmp_path / "empty", tmp_path / "plain"
    empty.mkdir()
    plain.mkdir()
    (plain / "config.json").write_text("{}")
    (plain / "diffusion_pytorch_model.safetensors").write_bytes(b"weights")
    joint = _pretrained(tmp_path / "joint", "joint")
    torn = _pretrained(tmp_path / "torn")
    (tmp_path / "torn" / RECORD).write_text('{"method": ')
    nameless = _pretrained(tmp_path / "nameless")
    (tmp_path / "nameless" / RECORD).write_text('{"steps": 9600}')
    grid = ("--methods", "diffuseexpand+pretrained", "--preset", "smoke", "--seeds", "0", "--pairs", "5")
    out = tmp_path / "runs"
    for folder, needle in (
        (running, "is no finished `bench pretrain` folder"),
        (empty, "is no finished `bench pretrain` folder"),
        (plain, "is no finished `bench pretrain` folder"),
        (joint, "holds a joint generator, not one of diffuseexpand's"),
        (torn, "not a `bench pretrain` record"),
        (nameless, "names no method; it is no `bench pretrain` record"),
    ):
        start = ("--pretrained", f"diffuseexpand={folder}")
        res = invoke("sweep", "leaderboard", *grid, *start, "--out", out, "--dry-run")
        assert_refused(res, "--pretrained diffuseexpand: ", str(folder), needle, out=out)
    start = {"diffuseexpand": str(running)}
    with pytest.raises(ConfigError, match="--pretrained diffuseexpand: .*running is no finished"):
        lb.build_sweep(_base(), methods=("diffuseexpand+pretrained",), pretrained=start)


def test_pretrained_values_are_method_equals_folder_once_each():
    parsed = lb.parse_pretrained(["joint=runs/a=b", " diffuseexpand = x "])
    assert parsed == {"joint": "runs/a=b", "diffuseexpand": "x"}
    for bad, needle in ((["joint"], "expects METHOD=DIR"), (["joint=a", "joint=b"], "more than once")):
        with pytest.raises(ConfigError, match=needle):
            lb.parse_pretrained(bad)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("leaderboard",), "--pretrained diffuseexpand=DIR --pretrained joint=DIR"),
        (("leaderboard", "--methods", "xlsr"), "unknown method 'xlsr'. Did you mean 'xlsor'?"),
        (("leaderboard", "--methods", "xlsor", "--augment", "none,cutmx"), "unknown augmentation 'cutmx'"),
        (("leaderboard", "--methods", "xlsor", "--pairs", "9,1"), "--pairs must be >= 2"),
        (("leaderboard", "--methods", "xlsor", "--ratios", "0.5"), "--ratios applies to the fewshot sweep"),
        (("leaderboard", "--methods", "xlsor", "--pretrained", "joint"), "--pretrained expects METHOD=DIR"),
        (("fewshot", "--pretrained", "joint=x"), "--pretrained applies to the leaderboard sweep, not fewshot"),
        (("leaderboard", "--methods", "xlsor", "--train-option", "mixing=sideways"), "unknown mixing 'sideways'"),
        (("leaderboard", "--methods", "xlsor", "--train-option", "mixing"), "--train-option expects KEY=VALUE"),
        (("leaderboard", "--methods", "xlsor", "--train-option", "synthetic_share=1.5"), "must be in [0, 1], got 1.5"),
        (
            ("leaderboard", "--methods", "xlsor", "--train-option", "mixing=alternate", "--train-option", "steps=99"),
            "--train-option steps: the leaderboard sweep takes only how batches mix",
        ),
        (("leaderboard", "--methods", "xlsor", "--train-option", "mixing=pooled"), "mixing=pooled is the default"),
        (
            (
                "leaderboard",
                "--methods",
                "xlsor",
                "--train-option",
                "mixing=pretrain",
                "--train-option",
                "pretrain_share=.50",
            ),
            "pretrain_share=0.5 is the default; leave it out",
        ),
        (("fewshot", "--train-option", "mixing=alternate"), "--train-option applies to the leaderboard sweep"),
        (("table1", "--train-option", "steps=99"), "--train-option applies to the leaderboard sweep"),
        (("leaderbord",), "unknown sweep 'leaderbord'. Did you mean 'leaderboard'?"),
    ],
)
def test_bad_leaderboard_options_are_one_line_before_any_work(tmp_path, args, needle):
    res = invoke("sweep", *args, "--preset", "smoke", "--out", tmp_path / "runs", "--dry-run")
    assert_refused(res, needle, out=tmp_path / "runs")


def test_pairs_the_data_set_lacks_are_refused_before_any_run(tmp_path):
    data = disc_folder(tmp_path / "discs", n=16)  # 14 pairs beside the test split
    args = ("--methods", "xlsor", "--pairs", "5,15", "--seeds", "0", "--preset", "smoke", "--no-wandb")
    res = invoke("sweep", "leaderboard", "--dataset", data, "--out", tmp_path / "runs", *args)
    assert_refused(res, "--pairs", "got 15", out=tmp_path / "runs")


def test_a_sweep_runs_its_grid_builds_the_leaderboard_and_a_dry_run_then_marks_those_runs_done(tmp_path):
    data = disc_folder(tmp_path / "discs", n=16)
    out = tmp_path / "runs"
    args = ("sweep", "leaderboard", "--dataset", data, "--preset", "smoke", "--seeds", "0", "--out", out)
    args += ("--methods", "xlsor", "--augment", "none", "--no-wandb")
    res = invoke(*args, "--pairs", "5,6", "--dry-run")
    assert res.exit_code == 0, res.output
    assert "sweep leaderboard: 4 runs" in res.output and "0 done, 4 to run" in res.output
    assert not out.exists()

    res = invoke(*args, "--pairs", "5")
    assert res.exit_code == 0, res.output
    built = out / "reports" / "leaderboard"
    board = (built / "leaderboard.md").read_text()
    assert "| 5 | xlsor |" in board and "| 5 | origin |" in board
    res = invoke("report", "leaderboard", "--runs", out, "--out", tmp_path / "again")
    assert res.exit_code == 0, res.output
    for name in ("leaderboard.md", "leaderboard.csv"):  # rebuilt from the stored runs alone, byte for byte
        assert (tmp_path / "again" / name).read_bytes() == (built / name).read_bytes()
    res = invoke(*args, "--pairs", "5,6", "--dry-run")
    assert res.exit_code == 0, res.output
    assert "2 done, 2 to run" in res.output
    res = invoke(*args, "--pairs", "5", "--train-option", "mixing=alternate", "--dry-run")
    assert res.exit_code == 0, res.output
    assert "1 done, 1 to run" in res.output  # origin's run is the one above: a schedule leaves it as it is


def _keys(sweep):
    """Each run's label, folder name and run key, as ``bench run`` would plan them."""
    from bench.runner import plan, run_configs

    found = []
    for r in sweep.runs:
        (cfg, folder), *_ = run_configs(r.request, plan(r.request), "demo", r.request.seeds[0])
        found.append((r.label, folder.parts[-3], cfg.key()))
    return found


def test_a_mixing_schedule_trains_every_entry_and_leaves_origin_as_bench_run_pairs_it(tmp_path):
    grid = {"methods": ("xlsor", "diffuseexpand+pretrained"), "pairs": (9,), "augments": ("none",)}
    starts = {"diffuseexpand": _pretrained(tmp_path / "de")}
    plain = lb.build_sweep(_base(seeds=(0,), out=tmp_path), pretrained=starts, **grid)
    mixed = lb.build_sweep(
        _base(seeds=(0,), out=tmp_path, train_options={"mixing": "alternate"}), pretrained=starts, **grid
    )
    assert [r.request.train_options for r in mixed.runs] == [{}, {"mixing": "alternate"}, {"mixing": "alternate"}]
    assert mixed.runs[0].request == plain.runs[0].request == runner.baseline_request(mixed.runs[1].request)
    before, after = _keys(plain), _keys(mixed)
    assert after[0] == before[0]  # origin: the same label, run folder and key as a sweep without a schedule
    assert [label for label, *_ in after[1:]] == [
        "xlsor (mixing=alternate), 9 pairs, augment none",
        "diffuseexpand+pretrained (mixing=alternate), 9 pairs, augment none",
    ]
    assert after[1][1] == before[1][1] + "__train.mixing=alternate" and after[1][2] != before[1][2]
    assert after[2][1].endswith(",train.mixing=alternate") and "__pretrained=de-" in after[2][1]


def test_a_dry_run_lists_each_entry_with_its_schedule_on_a_fresh_out(tmp_path):
    starts = ("--pretrained", f"diffuseexpand={_pretrained(tmp_path / 'de')}")
    starts += ("--pretrained", f"joint={_pretrained(tmp_path / 'joint', 'joint')}")
    out = tmp_path / "runs"
    args = ("--preset", "smoke", "--seeds", "0", "--pairs", "5", "--augment", "none", "--out", out, "--no-wandb")
    res = invoke("sweep", "leaderboard", "--train-option", "synthetic_share=0.25", *starts, *args, "--dry-run")
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())  # the table wraps its labels
    assert "sweep leaderboard: 6 runs" in text and "0 done, 6 to run" in text
    assert text.count("(synthetic_share=0.25)") == 5 and "origin, 5 pairs" in text  # every entry's run, not origin's
    assert not out.exists()


def test_a_run_whose_settings_its_folder_cannot_spell_out_is_refused_before_any_work(tmp_path):
    """A long pretrained folder name and a schedule hash the settings tag: the leaderboard could not read its row."""
    start = _pretrained(tmp_path / ("shenzhen-pretraining-of-the-full-leaderboard-" + "x" * 30))
    out = tmp_path / "runs"
    args = ("--methods", "diffuseexpand+pretrained", "--pretrained", f"diffuseexpand={start}", "--preset", "smoke")
    args += ("--train-option", "mixing=pretrain", "--train-option", "pretrain_share=0.125", "--out", out)
    res = invoke("sweep", "leaderboard", *args, "--seeds", "0", "--pairs", "5", "--augment", "none", "--dry-run")
    assert_refused(res, "diffuseexpand+pretrained (mixing=pretrain, pretrain_share=0.125)", "too long", out=out)
