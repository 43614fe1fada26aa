"""`bench expand`: a folder in, a clean expanded pair set out, with records, a summary, galleries and a report."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import time
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from cli_checks import assert_refused, invoke
from PIL import Image
from synthetic_pairs import disc_folder

import bench.runner.expansion
from bench.data import fingerprint, load_pairs
from bench.expand import ExpandRequest, expand
from bench.expand.records import RECORD_COLUMNS
from bench.expand.verdict import DOWNSTREAM
from bench.stats import METHOD, over_seeds
from methods.base import DECISIONS

pytestmark = pytest.mark.heavy(80)


def expand_args(folder: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return ["expand", "--dataset", folder, "--out", out, "--cache", cache, "--preset", "smoke", *extra]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return disc_folder(tmp_path_factory.mktemp("data") / "discs")


@pytest.fixture(scope="module")
def filtered(folder, tmp_path_factory) -> SimpleNamespace:
    """DiffuseExpand cf+cg+cs at the smoke preset: 8 generated pairs from 16 discs (about 30 s on two cores)."""
    root = tmp_path_factory.mktemp("diffuseexpand")
    args = expand_args(folder, root / "out", root / "runs", "--method", "diffuseexpand", "--ablation", "cf+cg+cs")
    args += ["--n", "8"]
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    return SimpleNamespace(out=root / "out", cache=root / "runs", args=args, output=res.output)


def read_records(out: Path) -> list[dict[str, str]]:
    with (out / "records.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_filtered_expansion_is_a_clean_pair_set(filtered, folder):
    out = filtered.out
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["images", "masks", "records.csv", "expansion.json", "gallery.png", "closest_pairs.png", "report.html"]
    )
    assert not list(out.parent.glob(".out.*"))  # no staging folder left beside it
    check = invoke("datasets", "check", out)
    assert check.exit_code == 0, check.output

    # records.csv: every generated pair, dropped ones included, with the filter's Dice and the nearest real image
    rows = read_records(out)
    assert [r["id"] for r in rows] == [f"syn_{i:05d}" for i in range(8)]
    assert list(rows[0])[: len(RECORD_COLUMNS)] == list(RECORD_COLUMNS)
    assert {"tau", "guidance_scale", "dice_loss"} <= set(rows[0])
    assert {r["decision"] for r in rows} <= set(DECISIONS)
    for r in rows:
        assert abs(float(r["dice"]) - (1 - float(r["dice_loss"]))) < 1e-5
        assert float(r["nn_distance"]) >= 0 and r["nn_real"].startswith("p")
        assert r["file"] == ("" if r["decision"] == "dropped" else f"images/{r['id']}.png")
    written = sorted(p.stem for p in (out / "images").iterdir())
    assert written == [r["id"] for r in rows if r["decision"] != "dropped"]
    with Image.open(out / "masks" / f"{written[0]}.png") as mask:
        assert set(np.unique(np.asarray(mask)).tolist()) <= {0, 255}

    # expansion.json: the request, versions, source, counts, timings, metrics and verdict
    s = json.loads((out / "expansion.json").read_text())
    assert (s["method"], s["ablation"], s["preset"], s["seed"], s["n"]) == ("diffuseexpand", "cf+cg+cs", "smoke", 0, 8)
    assert s["options"]["eta"] == 0.3 and s["request"]["options"] == s["options"]
    assert set(s["versions"]) == {"package", "method", "torch"} and s["versions"]["method"] == "2"
    assert s["source"]["path"] == str(folder.resolve()) and s["source"]["pairs"] == 16
    assert s["source"]["fingerprint"] == fingerprint(load_pairs(folder, 32, name="discs"))
    counts = s["counts"]
    assert counts["generated"] == 8 == sum(counts[d] for d in DECISIONS)
    assert counts["written"] == counts["kept"] + counts["relabelled"] == len(written)
    assert {d: sum(r["decision"] == d for r in rows) for d in DECISIONS} == {d: counts[d] for d in DECISIONS}
    assert set(s["timings"]) >= {"fit", "expand", "metrics"}
    assert isinstance(s["metrics"]["fid"], float) and isinstance(s["metrics"]["kid"], float)
    memo = s["metrics"]["memorisation"]
    assert "per_image" not in memo and 0 <= memo["share_closer_than_real"] <= 1
    assert isinstance(s["real_data_dice"], float)
    verdict = s["verdict"]
    assert verdict["masks"]["available"] and verdict["copies"]["available"] and verdict["filter"]["filters"]
    assert DOWNSTREAM in verdict["downstream"]["text"] and len(verdict["lines"]) == 5
    assert "verdict:" in filtered.output and DOWNSTREAM in " ".join(filtered.output.split())

    # stages cached in bench run's layout, so a later run or expansion on the same data reuses them
    cache = filtered.cache / "discs" / "_cache"
    stages = {p.parent.parent.name for p in cache.glob("diffuseexpand/*/*/done.json")}
    assert stages >= {"denoiser", "segmenter", "filter", "samples", "selection"}
    assert list(cache.glob("metrics/inception-*.pt"))


class _Page(HTMLParser):
    """Tags of a page and every src / href it refers to."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_report_is_one_self_contained_page(filtered):
    html = (filtered.out / "report.html").read_text()
    page = _Page()
    page.feed(html)
    page.close()
    rows = [a for t, a in page.tags if t == "tr" and a.get("class") == "pair"]
    assert [a["data-id"] for a in rows] == [f"syn_{i:05d}" for i in range(8)]
    images = [a["src"] for t, a in page.tags if t == "img"]
    assert len(images) >= 8 + 2  # a thumbnail per pair, the histogram and the galleries
    assert all(src.startswith("data:image/png;base64,") for src in images)
    links = [a.get(k) for _, a in page.tags for k in ("src", "href") if a.get(k) is not None]
    assert all(v.startswith("data:") for v in links)
    assert not [t for t, a in page.tags if t in ("link", "iframe") or (t == "script" and "src" in a)]
    assert 'id="pairs"' in html and "Pass rate" in html and "cf+cg+cs" in html


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def test_report_renders_in_a_browser(filtered, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium installed (apt-get install chromium)")
    url = (filtered.out / "report.html").resolve().as_uri()
    flags = [browser, "--headless", "--disable-gpu", "--no-sandbox", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('<tr class="pair"') == 8 and "syn_00007" in dom.stdout
    shot = tmp_path / "report.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,1600", url], capture_output=True, timeout=180, check=True
    )
    assert shot.stat().st_size > 0
    with Image.open(shot) as im:
        extrema = im.convert("RGB").getextrema()
    assert any(lo != hi for lo, hi in extrema), "the screenshot is one colour"


def test_identical_request_is_reused_and_another_one_refused(filtered):
    summary = filtered.out / "expansion.json"
    before = (summary.stat().st_mtime_ns, sorted(p.name for p in (filtered.out / "images").iterdir()))
    start = time.perf_counter()
    res = invoke(*filtered.args)
    assert res.exit_code == 0, res.output
    assert time.perf_counter() - start < 30
    assert "reused, nothing recomputed" in res.output and "verdict:" in res.output
    assert (summary.stat().st_mtime_ns, sorted(p.name for p in (filtered.out / "images").iterdir())) == before
    other = [a if a != "8" else "9" for a in filtered.args]
    assert_refused(invoke(*other), "holds an expansion of another request", "n", "--force")
    assert summary.stat().st_mtime_ns == before[0]


def test_evaluate_adds_the_paired_downstream_delta_to_the_same_pairs(filtered):
    images = sorted(p.name for p in (filtered.out / "images").iterdir())
    res = invoke(*filtered.args, "--evaluate", "0,1")
    assert res.exit_code == 0, res.output
    assert "evaluate: per seed 0,1" in res.output and "downstream: unet trained on" in res.output
    s = json.loads((filtered.out / "expansion.json").read_text())
    e = s["evaluation"]
    assert e["seeds"] == [0, 1] and sorted(p.name for p in (filtered.out / "images").iterdir()) == images
    assert e["delta"] == pytest.approx([x - o for x, o in zip(e["dice_expanded"], e["dice_origin"])], abs=2e-4)
    assert all(Path(p).is_file() for p in e["runs"]) and len(e["runs"]) == 4  # two seeds, with and without
    v = s["verdict"]
    assert len(v["lines"]) == 5 and v["downstream"]["measured"] and "paired Δ" in v["lines"][3]
    d = over_seeds(e["delta"])  # per-image pairing gives each seed's Δ; as rounded, the same t-test over seeds
    assert (e["p_value"], e["delta_low"]) == (pytest.approx(d.p, abs=0.05), pytest.approx(d.low, abs=5e-3))
    assert e["method"] == METHOD and e["detectable"] == pytest.approx(d.detectable, abs=5e-3)
    beyond = e["delta_low"] > 0 and not v["copies"]["near_copies"] and s["counts"]["written"]
    assert v["recommendation"]["recommended"] == bool(beyond)
    assert ("RECOMMENDED" in v["lines"][4]) == bool(beyond)
    assert "--evaluate" not in (filtered.out / "report.html").read_text().split("Verdict")[0]


def test_interrupted_expansion_leaves_no_folder_and_resumes_from_its_stages(filtered, folder, tmp_path, monkeypatch):
    out = tmp_path / "again"
    req = ExpandRequest(
        method="diffuseexpand", dataset=str(folder), n=8, out=out, preset="smoke", cache=filtered.cache
    )

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(bench.runner.expansion, "run_generation_metrics", interrupted)
        with pytest.raises(KeyboardInterrupt):
            expand(req)
    assert not out.exists() and not list(tmp_path.glob(".again.*"))
    done = expand(req)
    assert not done.reused
    assert set(done.summary["method_stats"]["cached"]) == {"denoiser", "segmenter", "filter", "samples"}
    assert (out / "expansion.json").is_file()


def test_the_staging_folder_is_opened_only_once_fitting_and_generating_are_over(folder, tmp_path, monkeypatch):
    out, staged = tmp_path / "late", {}
    step = bench.runner.expansion.oom_as_run_error

    @contextmanager
    def probed(what, device):  # each step's name, and whether a staging folder stood beside --out when it began
        staged[what.split(" ")[0]] = bool(list(tmp_path.glob(".late.*")))
        with step(what, device):
            yield

    monkeypatch.setattr(bench.runner.expansion, "oom_as_run_error", probed)
    expand(ExpandRequest(method="xlsor", dataset=str(folder), n=4, out=out, preset="smoke", cache=tmp_path / "runs"))
    assert staged == {"fitting": False, "generating": False, "computing": True}
    assert (out / "expansion.json").is_file() and not list(tmp_path.glob(".late.*"))


def test_method_without_filter_keeps_every_pair_and_force_recomputes(folder, tmp_path):
    out = tmp_path / "xlsor"
    args = expand_args(folder, out, tmp_path / "runs", "--method", "xlsor", "--n", "6")
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    rows = read_records(out)
    assert len(rows) == 6 and {r["decision"] for r in rows} == {"kept"} and {r["dice"] for r in rows} == {""}
    assert len(list((out / "images").iterdir())) == 6 and invoke("datasets", "check", out).exit_code == 0
    s = json.loads((out / "expansion.json").read_text())
    assert s["counts"] == {"generated": 6, "kept": 6, "relabelled": 0, "dropped": 0, "written": 6}
    assert not s["verdict"]["masks"]["available"] and "not available" in s["verdict"]["masks"]["text"]
    assert "has no filter" in s["verdict"]["filter"]["text"] and s["verdict"]["filter"]["enough"] is None
    assert s["metrics"]["fid_unet"] is None and "trains no segmentation network" in s["unavailable"]["fid_unet"]

    again = invoke(*args, "--force")
    assert again.exit_code == 0, again.output
    assert "nothing recomputed" not in again.output and "timings:" in again.output
    assert "recomputed (--force)" in again.output
    assert json.loads((out / "expansion.json").read_text())["request"] == s["request"]


def test_a_foreign_folder_is_never_written_into(folder, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    for extra in ((), ("--force",)):
        res = invoke(*expand_args(folder, out, tmp_path / "runs", "--method", "xlsor", "--n", "2", *extra))
        assert_refused(res, "not empty and not written by bench expand")
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (("--method", "origin", "--n", "4"), ("'origin' generates no pairs",)),
        (("--method", "xlsor", "--n", "0"), ("--n must be >= 1",)),
        (("--method", "diffuseexpand", "--n", "4", "--option", "nonsense=1"), ("unknown", "nonsense")),
        (("--method", "diffuseexpand", "--n", "4", "--option", "tau=abc"), ("--option tau",)),
        (("--method", "diffuseexpand", "--ablation", "cf+cs", "--n", "4"), ("unknown ablation", "cf+cg")),
        (("--method", "difuseexpand", "--n", "4"), ("unknown method", "diffuseexpand")),
        (("--method", "xlsor", "--n", "4", "--preset", "huge"), ("unknown preset",)),
        (("--method", "xlsor", "--n", "4", "--seed", "-1"), ("--seed must be >= 0",)),
        (("--method", "xlsor", "--n", "4", "--inception-weights", "nope.pt"), ("--inception-weights",)),
        (("--method", "xlsor", "--n", "4", "--evaluate", "0,0"), ("--evaluate", "distinct seeds")),
        (("--method", "xlsor", "--n", "4", "--evaluate", "0,b"), ("--evaluate: cannot parse '0,b'",)),
        (("--method", "xlsor", "--n", "4", "--test-set", "demo"), ("--test-set", "--evaluate SEEDS")),
        (("--method", "xlsor", "--n", "4", "--evaluate", "0", "--test-set", "/nonexistent"), ("--test-set '/none",)),
    ],
)
def test_bad_requests_are_refused_in_one_line_before_any_work(folder, tmp_path, extra, needles):
    out = tmp_path / "out"
    res = invoke(*expand_args(folder, out, tmp_path / "runs", *extra))
    assert_refused(res, *needles, out=out)
    assert not (tmp_path / "runs").exists()


def test_help_says_no_test_split_is_held_back():
    res = invoke("expand", "--help")
    assert res.exit_code == 0
    text = " ".join(res.output.replace("│", " ").split())
    assert "no test split is held back" in text and "bench run" in text and "--n" in text


def test_evaluate_scores_the_paired_runs_on_an_external_set_too(folder, tmp_path):
    other = disc_folder(tmp_path / "other", n=6)
    args = expand_args(folder, tmp_path / "out", tmp_path / "runs", "--method", "xlsor", "--n", "4")
    res = invoke(*args, "--evaluate", "0", "--test-set", other)
    assert res.exit_code == 0, res.output
    e = json.loads((tmp_path / "out" / "expansion.json").read_text())["evaluation"]
    x = e["external"]["other"]
    assert x["seeds"] == [0] and x["delta"] == pytest.approx([x["dice_expanded"][0] - x["dice_origin"][0]], abs=2e-4)
    assert "on the external set other: origin" in res.output

    # the same request after the set's folder changed is scored on it again, not taken from the earlier verdict
    first = sorted((other / "images").glob("*.png"))[0]
    first.unlink()
    (other / "masks" / first.name).unlink()
    moved = invoke(*args, "--evaluate", "0", "--test-set", other)
    assert moved.exit_code == 0 and "reusing" not in moved.output, moved.output
    stored = (tmp_path / "runs").rglob("results.json")
    scored = [json.loads(f.read_text())["metrics"]["external"]["other"] for f in stored]
    assert scored and all(s["n"] == 5 for s in scored), scored
