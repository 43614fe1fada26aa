"""The detectable-Δ lines under every artifact's table."""

from bench.artifacts.render import DETECTABLE, SEEDS_NEEDED, Entry, detectable_lines
from bench.stats import over_seeds, seeds_to_detect


def _entry(column: str, deltas: list[float]) -> Entry:
    return Entry("data", "cpu", "row", column, None, 4, over_seeds(deltas))


def test_a_cell_out_of_reach_of_0_01_says_how_many_seeds_would_reach_it_and_the_legend_says_why():
    near, far = _entry("test split", [0.010, 0.012, 0.011]), _entry("external", [0.0, 0.2, 0.1])
    lines = detectable_lines([("xlsor, 9 pairs", [near, far])])
    assert lines[1] == f"{DETECTABLE} {SEEDS_NEEDED}"
    need = seeds_to_detect(far.delta.spread)
    assert lines[3] == (
        f"- xlsor, 9 pairs: test split {near.delta.detectable:.4f}, "
        f"external {far.delta.detectable:.4f} (0.01 needs {need:,} seeds)"
    )
    assert need > 100 and near.delta.detectable < 0.01


def test_without_such_a_cell_the_legend_leaves_the_seed_count_out():
    lines = detectable_lines([("xlsor, 9 pairs", [_entry("test split", [0.010, 0.012, 0.011])])])
    assert lines[1] == DETECTABLE and "needs" not in " ".join(lines)
    assert detectable_lines([("xlsor, 9 pairs", [_entry("test split", [0.01])])])[3].endswith("n/a (1 seed)")
