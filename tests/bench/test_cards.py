"""Dataset cards and --dataset (bench/cards.py): cards, default paths, the demo set generated once."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from pair_files import pair_folder

import bench.phantom
from bench.cards import load_cards, resolve_dataset
from bench.integrity import check
from bench.pairs import DatasetError


def test_load_cards_reads_all_cards() -> None:
    cards = load_cards()
    assert set(cards) == {"demo", "montgomery", "shenzhen", "covid19", "cgmh-pelvis"}
    assert cards["demo"].synthetic and cards["demo"].version == bench.phantom.PHANTOM_VERSION
    assert not any(c.synthetic for k, c in cards.items() if k != "demo")
    assert (cards["montgomery"].pairs, cards["shenzhen"].pairs, cards["cgmh-pelvis"].pairs) == (138, 566, 400)
    assert "CC BY-NC-SA 4.0" in cards["shenzhen"].licence
    assert "bench datasets prepare covid19 --images" in cards["covid19"].obtain
    assert "bench datasets prepare cgmh-pelvis --root" in cards["cgmh-pelvis"].obtain
    for card in cards.values():
        assert card.title and card.source and card.licence and card.citation and card.layout and card.obtain


def test_load_cards_rejects_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(
        "name: x\ntitle: t\nsource: s\nlicence: l\ncitation: c\nlayout: l\npairs: 1\nobtain: o\nhomepage: h\n"
    )
    with pytest.raises(DatasetError, match="homepage"):
        load_cards(tmp_path)


def test_default_path_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    assert load_cards()["covid19"].default_path == tmp_path / "covid19"
    monkeypatch.delenv("BENCH_DATA")
    assert load_cards()["covid19"].default_path == Path("data") / "covid19"


def test_resolve_dataset_generates_demo_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    calls = []
    small = functools.partial(bench.phantom.write_demo, n=6, size=32)

    def spy(path: Path) -> Path:
        calls.append(path)
        return small(path)

    monkeypatch.setattr(bench.phantom, "write_demo", spy)
    path, card = resolve_dataset("demo")
    assert path == tmp_path / "demo" and card is not None and card.synthetic
    assert check(path).ok and len(check(path).ids) == 6
    assert "SYNTHETIC" in (path / "SOURCE.md").read_text()
    resolve_dataset("demo")
    assert calls == [tmp_path / "demo"]


def test_resolve_dataset_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    with pytest.raises(DatasetError, match="neither a folder nor a known dataset") as err:
        resolve_dataset("no-such-set")
    assert "montgomery" in str(err.value) and "demo" in str(err.value)
    with pytest.raises(DatasetError, match="not found at") as err:
        resolve_dataset("montgomery")
    assert str(tmp_path / "montgomery") in str(err.value) and "NLM" in str(err.value)
    folder = pair_folder(tmp_path / "mine", ["a"])
    assert resolve_dataset(str(folder)) == (folder, None)
