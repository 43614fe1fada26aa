"""The metrics' cost benchmark (bench/metrics/footprint.py): what it measures and prints, on a tiny case."""

from __future__ import annotations

import pytest

from bench.metrics import footprint


def test_measure_reports_peak_memory_time_and_its_parts():
    r = footprint.measure(3, 4, size=32)
    assert (r["real"], r["generated"], r["size"]) == (3, 4, 32)
    assert 0.1 < r["peak_gib"] < 64 and r["seconds"] > 0 and r["fid"] is not None
    assert r["real_features_s"] > 0 and r["generated_features_s"] > 0
    assert abs(r["real_features_s"] + r["generated_features_s"] + r["rest_s"] - r["seconds"]) < 1e-9
    assert footprint.line(r).startswith("    3 real x     4 generated at 32²: peak ")


def test_synthetic_images_are_seeded_and_distinct():
    a, b = footprint.synthetic_images(3, 32, 0), footprint.synthetic_images(3, 32, 0)
    assert a.shape == (3, 1, 32, 32) and a.equal(b) and not a[0].equal(a[1])
    assert 0 <= float(a.min()) and float(a.max()) <= 1


def test_too_few_images_are_refused():
    with pytest.raises(SystemExit) as e:
        footprint.main(["--real", "1"])
    assert e.value.code == 2
