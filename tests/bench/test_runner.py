import pytest

from bench.runner import Request, run


def test_same_seed_twice_gives_identical_split_and_dice(montgomery, tmp_path):
    kw = dict(method="origin", dataset=str(montgomery), preset="smoke", wandb="disabled", seeds=(3,))
    a = run(Request(out=tmp_path / "a", **kw)).results[0]
    b = run(Request(out=tmp_path / "b", **kw)).results[0]
    assert a["metrics"]["dice_per_image"] == b["metrics"]["dice_per_image"]
    assert a["run"]["key"] == b["run"]["key"]


def test_test_set_is_fixed_across_train_ratios(montgomery, tmp_path):
    kw = dict(method="origin", dataset=str(montgomery), preset="smoke", wandb="disabled", seeds=(0,),
              out=tmp_path, train_options={"epochs": 1})
    full = run(Request(train_ratio=0.9, **kw)).results[0]
    few = run(Request(train_ratio=0.3, **kw)).results[0]
    assert set(full["metrics"]["dice_per_image"]) == set(few["metrics"]["dice_per_image"])
    assert few["counts"]["real_train"] == round(138 * 0.3) < full["counts"]["real_train"]


def test_force_recomputes_and_unfinished_runs_leave_no_results(montgomery, tmp_path, monkeypatch):
    import bench.runner as runner_mod

    kw = dict(method="origin", dataset=str(montgomery), preset="smoke", wandb="disabled", out=tmp_path,
              train_options={"epochs": 1})

    def boom(*a, **k):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(runner_mod, "_train_and_evaluate", boom)
        with pytest.raises(KeyboardInterrupt):
            run(Request(**kw))
    assert not list(tmp_path.rglob("results.json"))
    first = run(Request(**kw))
    assert not first.reused
    assert run(Request(**kw)).reused
    assert not run(Request(force=True, **kw)).reused
