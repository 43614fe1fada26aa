"""One `bench run` through the runner on the real Montgomery set: splits and Dice repeat per seed, the test split
stays fixed across train ratios, --force recomputes, and DiffuseExpand runs end to end."""

import pytest

from bench.runner import Request, run

pytestmark = pytest.mark.heavy(50)


def test_same_seed_twice_gives_identical_split_and_dice(montgomery, tmp_path):
    kw = dict(method="origin", dataset=str(montgomery), preset="smoke", wandb="disabled", seeds=(3,))
    kw["train_options"] = {"epochs": 1}
    a = run(Request(out=tmp_path / "a", **kw)).results[0]
    b = run(Request(out=tmp_path / "b", **kw)).results[0]
    assert a["metrics"]["dice_per_image"] == b["metrics"]["dice_per_image"]
    assert a["run"]["key"] == b["run"]["key"]


def test_test_set_is_fixed_across_train_ratios(montgomery, tmp_path):
    kw = dict(
        method="origin",
        dataset=str(montgomery),
        preset="smoke",
        wandb="disabled",
        seeds=(0,),
        out=tmp_path,
        train_options={"epochs": 1},
    )
    full = run(Request(train_ratio=0.9, **kw)).results[0]
    few = run(Request(train_ratio=0.3, **kw)).results[0]
    assert set(full["metrics"]["dice_per_image"]) == set(few["metrics"]["dice_per_image"])
    assert few["counts"]["real_train"] == round(138 * 0.3) < full["counts"]["real_train"]


def test_force_recomputes_and_unfinished_runs_leave_no_results(montgomery, tmp_path, monkeypatch):
    from bench.runner import downstream

    kw = dict(
        method="origin",
        dataset=str(montgomery),
        preset="smoke",
        wandb="disabled",
        out=tmp_path,
        train_options={"epochs": 1},
    )

    def boom(*a, **k):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(downstream, "train_and_evaluate", boom)
        with pytest.raises(KeyboardInterrupt):
            run(Request(**kw))
    assert not list(tmp_path.rglob("results.json"))
    first = run(Request(**kw))
    assert not first.reused
    assert run(Request(**kw)).reused
    assert not run(Request(force=True, **kw)).reused


def test_diffuseexpand_end_to_end_on_real_data(montgomery, tmp_path):
    """Smoke preset on Montgomery's 14-pair split: full method, then a second ablation that reuses the cached
    denoiser."""
    kw = dict(
        method="diffuseexpand",
        dataset=str(montgomery),
        train_ratio=0.1,
        preset="smoke",
        wandb="disabled",
        out=tmp_path,
        train_options={"epochs": 1},
    )
    full = run(Request(ablation="cf+cg+cs", **kw)).results[0]
    c = full["counts"]
    assert c["synthetic_generated"] == 8
    assert c["synthetic_kept"] + c["synthetic_relabelled"] + c["synthetic_dropped"] == 8
    assert c["train_total"] == c["real_train"] + c["synthetic_kept"] + c["synthetic_relabelled"]
    assert set(full["method_stats"]["seconds"]) >= {"denoiser", "segmenter", "sampler", "filter"}
    assert 0.0 <= full["method_stats"]["pass_rate"] <= 1.0
    cache = tmp_path / "montgomery_lung" / "_cache" / "diffuseexpand"
    assert list(cache.glob("samples/*/records.csv")) and list(cache.glob("samples/*/gallery.png"))
    # generation metrics: all 8 generated images and the kept ones, the filter network reused for fid_unet
    m, gone = full["metrics"], full["unavailable"]
    assert isinstance(m["fid"], float) and isinstance(m["fid_unet"], float) and isinstance(m["is_unet"], float)
    assert (
        m["generation"]["generated"] == 8
        and m["generation"]["kept"] == c["synthetic_kept"] + c["synthetic_relabelled"]
    )
    assert m["is"] is None and "classifier head" in gone["is"]
    assert 0.0 <= m["memorisation"]["share_closer_than_real"] <= 1.0
    assert (tmp_path / "montgomery_lung" / "_cache" / "metrics").is_dir() and full["timings"]["generation_metrics"] > 0

    synth = run(Request(ablation="cf", train_on="synthetic", **kw)).results[0]
    assert "denoiser" in synth["method_stats"]["cached"]
    assert synth["counts"]["train_total"] == synth["counts"]["synthetic_kept"] == 8
    assert synth["counts"]["real_train"] == full["counts"]["real_train"]
    # no filter: no *_kept figures; a U-Net is trained for fid_unet; the real features come from the cache
    assert "fid_kept" not in synth["metrics"] and isinstance(synth["metrics"]["fid_unet"], float)
    assert len(list((tmp_path / "montgomery_lung" / "_cache" / "metrics").glob("inception-*.pt"))) == 1
    assert len(list((tmp_path / "montgomery_lung" / "_cache" / "metrics" / "fid_unet").glob("*/model.pt"))) == 1

    # a filter that keeps nothing: the run trains as origin does, and its results say so
    warnings = []
    none_kept = run(Request(ablation="cf+cg+cs", method_options={"eta": 1e-9}, **kw), on_warning=warnings.append)
    res = none_kept.results[0]
    assert res["counts"]["synthetic_dropped"] == 8 and res["counts"]["train_total"] == res["counts"]["real_train"]
    note = "diffuseexpand kept none of its 8 generated pairs: this run trained on the real pairs alone, as origin does"
    assert note in res["metrics"]["notes"] and any(note in w for w in warnings)
    if c["synthetic_kept"] + c["synthetic_relabelled"]:
        assert not any("kept none" in n for n in full["metrics"]["notes"])


def test_run_with_origin_gives_the_python_api_the_paired_delta_the_cli_shows(discs, tmp_path):
    from bench import report
    from bench.runner import run_with_origin

    told = []
    req = Request(method="xlsor", dataset=str(discs), preset="smoke", wandb="disabled", seeds=(0, 1), out=tmp_path)
    outcome = run_with_origin(req, on_origin=told.append)
    assert [r["run"]["method"] for r in outcome.results] == ["xlsor", "xlsor", "origin", "origin"]
    assert told[0].method == "origin" and told[0].seeds == (0, 1) and told[0].train_on == "real"
    (row,) = [r for r in report.make_rows(outcome.results) if r["method"] == "xlsor"]
    own = {r["run"]["seed"]: r["metrics"]["dice"] for r in outcome.results if r["run"]["method"] == "xlsor"}
    base = {r["run"]["seed"]: r["metrics"]["dice"] for r in outcome.results if r["run"]["method"] == "origin"}
    assert row["delta"].seeds == 2 and row["delta"].mean == pytest.approx((own[0] - base[0] + own[1] - base[1]) / 2)
    assert run_with_origin(Request(**{**req.__dict__, "method": "origin"})).results[0]["run"]["method"] == "origin"
