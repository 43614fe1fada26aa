"""What a sweep's dry run says of a finished run that lacks an external test set of its request, checked against what
``bench run`` then does with it: scores it from its kept weights, trains it again, or keeps it as it is."""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from synthetic_pairs import disc_folder

import bench.runner.external
from bench.cli.sweep import sweep_table
from bench.config import ConfigError
from bench.runner import Request, run
from bench.runner.layout import WEIGHTS
from bench.splits import make_split
from bench.sweep import RunStatus, Sweep, SweepRun, status

pytestmark = pytest.mark.heavy(40)


def _sweep(**kw) -> Sweep:
    req = Request(method="origin", train_on="real", preset="smoke", seeds=(0,), wandb="disabled", **kw)
    return Sweep("fewshot", [SweepRun("Origin", req)])


def _said(sweep: Sweep) -> tuple[bool, tuple[str, ...]]:
    (s,) = status(sweep)
    return s.done, s.score


def _drop(folder: Path, key: str) -> None:
    for sub in ("images", "masks"):
        (folder / sub / f"{key}.png").unlink()


def test_a_run_lacking_a_named_set_is_to_score_from_its_weights_and_to_run_without_them(tmp_path):
    data, out = disc_folder(tmp_path / "discs"), tmp_path / "runs"
    first, later, third = (disc_folder(tmp_path / name, n=n) for name, n in (("first", 4), ("later", 5), ("third", 6)))
    sweep = _sweep(dataset=str(data), out=out, test_sets=(str(first),))
    (before,) = status(sweep)
    assert (before.done, before.score, before.estimate) == (False, (), None)  # never ran under --out
    (trained,) = run(sweep.runs[0].request).results
    assert status(sweep)[0] == RunStatus(sweep.runs[0], True, 0.0)

    both = _sweep(dataset=str(data), out=out, test_sets=(str(first), str(later)))
    (s,) = status(both)
    per_pair = trained["timings"]["evaluate"] / (trained["counts"]["test"] + 4)
    assert (s.done, s.score) == (False, ("later",)) and s.estimate == pytest.approx(per_pair * 5)
    outcome = run(both.runs[0].request)
    assert outcome.reused and outcome.results[0]["timings"]["train"] == trained["timings"]["train"]
    assert set(outcome.results[0]["metrics"]["external"]) == {"first", "later"}
    assert _said(both) == (True, ())

    _drop(later, "p04")  # a set that changed since the run was scored on it is scored again
    assert _said(both) == (False, ("later",))

    next(out.rglob(WEIGHTS)).unlink()  # no weights to score with: a named set trains the run again
    again = _sweep(dataset=str(data), out=out, test_sets=(str(third),))
    (s,) = status(again)
    assert (s.done, s.score) == (False, ()) and s.estimate == pytest.approx(trained["timings"]["total"])
    outcome = run(again.runs[0].request)
    assert not outcome.reused and set(outcome.results[0]["metrics"]["external"]) == {"third"}


def test_a_cards_default_set_is_to_score_unless_absent_seen_by_a_stage_or_without_weights(tmp_path, monkeypatch):
    root = tmp_path / "data"
    own = disc_folder(root / "montgomery")
    monkeypatch.setenv("BENCH_DATA", str(root))
    out = tmp_path / "runs"
    elsewhere = disc_folder(tmp_path / "elsewhere", n=4)
    run(_sweep(dataset="montgomery", out=out, test_sets=(str(elsewhere),)).runs[0].request)  # weights kept
    defaults = _sweep(dataset="montgomery", out=out)
    assert _said(defaults) == (True, ())  # its card's set, shenzhen, is not on this machine: left out

    shenzhen = disc_folder(root / "shenzhen", n=6)
    trained = make_split(sorted(p.stem for p in (own / "images").glob("*.png")), 0).train[0]
    for sub in ("images", "masks"):  # one of the run's training images, renamed: bench run leaves the set out
        shutil.copy(own / sub / f"{trained}.png", shenzhen / sub / "renamed.png")
    assert _said(defaults) == (True, ())
    warnings = []
    outcome = run(defaults.runs[0].request, on_warning=warnings.append)
    assert outcome.reused and set(outcome.results[0]["metrics"]["external"]) == {"elsewhere"}
    assert any("since a stage saw it" in w for w in warnings), warnings

    _drop(shenzhen, "renamed")
    assert _said(defaults) == (False, ("shenzhen",))
    outcome = run(defaults.runs[0].request)
    assert outcome.reused and set(outcome.results[0]["metrics"]["external"]) == {"elsewhere", "shenzhen"}
    assert _said(defaults) == (True, ())

    _drop(shenzhen, "p05")  # changed since it was scored, but no weights to score it with: kept as it is
    next(out.rglob(WEIGHTS)).unlink()
    assert _said(defaults) == (True, ())
    warnings.clear()
    assert run(defaults.runs[0].request, on_warning=warnings.append).reused
    assert any("kept without it" in w for w in warnings), warnings


def test_the_table_says_which_runs_are_to_score_and_on_which_sets():
    sweep = _sweep(dataset="demo")
    r = sweep.runs[0]
    statuses = [RunStatus(r, True, 0.0), RunStatus(r, False, 2.0, ("shenzhen", "jsrt")), RunStatus(r, False, 60.0)]
    table = sweep_table(sweep, statuses)
    assert list(table.columns[4].cells) == ["done", "to score on shenzhen, jsrt", "to run"]
    assert list(table.columns[5].cells) == ["–", "2 s", "60 s"]
    assert table.caption.startswith("1 done, 2 to run (1 of them to score on an external set, from kept weights)")


def test_a_named_set_bench_run_refuses_for_a_finished_run_is_refused_by_the_dry_run(tmp_path):
    data, out = disc_folder(tmp_path / "discs"), tmp_path / "runs"
    run(_sweep(dataset=str(data), out=out, test_sets=(str(disc_folder(tmp_path / "first", n=4)),)).runs[0].request)
    leaky = disc_folder(tmp_path / "leaky", n=4)
    trained = make_split(sorted(p.stem for p in (data / "images").glob("*.png")), 0).train[0]
    for sub in ("images", "masks"):  # one of the run's training images under a new name
        shutil.copy(data / sub / f"{trained}.png", leaky / sub / "renamed.png")
    sweep = _sweep(dataset=str(data), out=out, test_sets=(str(leaky),))
    with pytest.raises(ConfigError) as said:
        status(sweep)
    with pytest.raises(ConfigError) as refused:
        run(sweep.runs[0].request)
    assert str(said.value) == str(refused.value) and str(said.value).startswith("--test-set leaky: 1 of its 5 images")

    next(out.rglob(WEIGHTS)).unlink()  # without kept weights bench run would train it again, after the same check
    with pytest.raises(ConfigError, match="training images of this run"):
        status(sweep)


def test_a_named_set_bench_run_refuses_is_refused_for_runs_still_to_train(tmp_path):
    data, out = disc_folder(tmp_path / "discs"), tmp_path / "runs"  # nothing ran under --out
    leaky = disc_folder(tmp_path / "leaky", n=4)
    trained = make_split(sorted(p.stem for p in (data / "images").glob("*.png")), 0).train[0]
    for sub in ("images", "masks"):
        shutil.copy(data / sub / f"{trained}.png", leaky / sub / "renamed.png")
    rings = disc_folder(tmp_path / "rings", n=4, labels=2)
    for named, needle in ((data, "own data set"), (leaky, "training images of this run"), (rings, "3 labels")):
        sweep = _sweep(dataset=str(data), out=out, test_sets=(str(named),))
        with pytest.raises(ConfigError) as said:
            status(sweep)
        with pytest.raises(ConfigError) as refused:
            run(sweep.runs[0].request)
        assert str(said.value) == str(refused.value) and needle in str(said.value)
    assert not out.exists()


def test_a_named_set_is_decided_once_per_seed_and_split_of_a_data_set_and_method(tmp_path, monkeypatch):
    data, other = disc_folder(tmp_path / "discs"), disc_folder(tmp_path / "other", n=4)
    decided = []
    real = bench.runner.external.load_external

    def counted(req, *args, **kw):
        decided.append((req.seeds[0], req.train_ratio))
        return real(req, *args, **kw)

    monkeypatch.setattr(bench.runner.external, "load_external", counted)
    base = _sweep(dataset=str(data), out=tmp_path / "runs", test_sets=(str(other),)).runs[0].request
    runs = [SweepRun("Origin", replace(base, seeds=(s,), train_ratio=r)) for s in (0, 1) for r in (0.5, 0.5, 0.9)]
    assert [s.done for s in status(Sweep("fewshot", runs))] == [False] * 6
    assert sorted(decided) == [(0, 0.5), (0, 0.9), (1, 0.5), (1, 0.9)]
