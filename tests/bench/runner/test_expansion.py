"""The fit -> expand -> measure core both verbs share: what it fits on, what it generates, and what it measures only
when asked."""

from __future__ import annotations

import pytest
import torch
from synthetic_pairs import disc_pairs

from bench.runner.expansion import Measuring, expand_pairs
from bench.runner.planning import plan
from bench.runner.request import Request

pytestmark = pytest.mark.heavy(15)


def test_a_run_on_real_pairs_generates_none_and_measures_only_when_asked(tmp_path):
    pairs = disc_pairs(12)
    pl = plan(Request(method="origin", preset="smoke"))
    kw = dict(workdir=tmp_path / "cache", seed=0, device=torch.device("cpu"), preset="smoke", force=False)
    done = expand_pairs(pl, pairs, progress=None, where="seed 0", **kw)
    assert len(done.expansion.pairs) == 0 and done.expansion.pairs.images.shape[1:] == pairs.images.shape[1:]
    assert set(done.timings) == {"fit", "expand"} and not done.metrics

    measured = expand_pairs(
        pl, pairs, progress=None, where="seed 0", measuring=Measuring(tmp_path / "m", tmp_path / "c.png"), **kw
    )
    assert set(measured.timings) == {"fit", "expand", "generation_metrics"}
    assert measured.metrics["fid"] is None and "generates no pairs" in measured.unavailable["fid"]
    assert not (tmp_path / "c.png").exists()


def test_generated_pairs_are_measured_against_the_pairs_fitted_on(tmp_path):
    pairs = disc_pairs(12)
    pl = plan(Request(method="xlsor", preset="smoke", n_synthetic=4))
    done = expand_pairs(
        pl,
        pairs,
        workdir=tmp_path / "cache",
        seed=0,
        device=torch.device("cpu"),
        preset="smoke",
        force=False,
        progress=None,
        where="on all 12 pairs",
        measuring=Measuring(tmp_path / "m", tmp_path / "closest.png", tmp_path / "gallery.png", reference=False),
    )
    assert len(done.expansion.pairs) == 4 and done.metrics["generation"]["real"] == len(pairs)
    assert done.metrics["generation"]["generated"] == 4 and done.metrics["generation"]["kept"] is None
    assert done.metrics["fid_unet"] is None and "trains no segmentation network" in done.unavailable["fid_unet"]
    assert (tmp_path / "gallery.png").is_file()
