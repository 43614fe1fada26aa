"""W&B mirror: what a run carries (tags, name, summary), without touching W&B itself."""

import pytest
import wandb
from PIL import Image

from bench.artifacts import Artifact
from bench.tracking import log_artifact, log_delta, log_run

pytestmark = pytest.mark.heavy(10)


class _FakeRun:
    def __init__(self):
        self.logged, self.summary, self.url, self.finished, self.id = [], {}, None, False, "fake1"

    def log(self, data, step=None):
        self.logged.append((step, data))

    def finish(self):
        self.finished = True


def test_run_carries_identity_settings_and_method_stats(monkeypatch, tmp_path):
    seen = {}
    run = _FakeRun()

    def fake_init(**kwargs):
        seen.update(kwargs)
        return run

    monkeypatch.setattr(wandb, "init", fake_init)
    results = {
        "run": {
            "method": "diffuseexpand",
            "ablation": "cf+cg+cs",
            "dataset": "montgomery",
            "model": "unet",
            "seed": 2,
            "train_ratio": 0.9,
            "augment": "none",
            "train_on": "real+synthetic",
            "preset": "cpu",
            "settings": "tau=0.5",
            "key": "abc",
        },
        "dataset": {"synthetic": False},
        "config": {"seed": 2},
        "metrics": {"dice": 0.95, "dice_std": 0.01},
        "counts": {"real_train": 124},
        "timings": {"train": 10.0},
        "method_stats": {"pass_rate": 0.1, "counts": {"kept": 0}, "mean_dice_kept": None},
    }
    out = log_run(results, tmp_path, "offline", "group-1", {"train/loss": [1.0, 0.5]})
    assert "settings:tau=0.5" in seen["tags"] and "seed:2" in seen["tags"]
    assert seen["name"] == "montgomery/diffuseexpand__cf+cg+cs/tau=0.5/unet/seed2" and seen["group"] == "group-1"
    assert seen["config"]["settings"] == "tau=0.5" and "key" in seen["config"]
    assert run.summary["method/pass_rate"] == 0.1 and "method/counts" not in run.summary
    assert [s for s, _ in run.logged] == [0, 1] and run.finished
    assert out == {"mode": "offline", "dir": str(tmp_path / "wandb"), "url": None, "id": "fake1"}


def test_an_artifact_becomes_one_report_run_with_typed_tables_and_images(monkeypatch, tmp_path):
    seen = {}
    run = _FakeRun()
    monkeypatch.setattr(wandb, "init", lambda **kwargs: seen.update(kwargs) or run)
    png = tmp_path / "fewshot.png"
    Image.new("RGB", (8, 8)).save(png)
    rows = [["origin", 0.9, 0.95], ["xlsor", 0.9, None], ["joint", "–", 0.9]]
    tables = {"points": (["method", "ratio", "dice"], rows), "fewshot": (["method"], [["origin"]])}
    artifact = Artifact("fewshot", [png], tables, [png])

    where = log_artifact(artifact, "offline", "sweep-fewshot-x", tmp_path / "rep")
    assert seen["group"] == "sweep-fewshot-x" and seen["job_type"] == "report" and seen["name"] == "report/fewshot"
    ((_, logged),) = run.logged
    table = logged["fewshot/points"]
    assert isinstance(table, wandb.Table) and isinstance(logged["fewshot/fewshot_figure"], wandb.Image)
    assert isinstance(logged["fewshot/fewshot"], wandb.Table)  # a figure named as a table does not replace it
    # a column of numbers and gaps stays numeric; a column with any text becomes text
    assert table.data == [["origin", "0.9", 0.95], ["xlsor", "0.9", None], ["joint", "–", 0.9]]
    assert run.finished and where["mode"] == "offline"
    assert log_artifact(artifact, "disabled", "g", tmp_path / "rep")["mode"] == "disabled"


def test_a_run_logs_its_guidance_strength_per_step_as_a_table(monkeypatch, tmp_path):
    run = _FakeRun()
    monkeypatch.setattr(wandb, "init", lambda **kwargs: run)
    guidance = {"mask": {"t": [999, 500], "ratio": [0.0, 0.0]}, "image": {"t": [999, 500], "ratio": [0.8, 1.2]}}
    results = {
        "run": {k: "x" for k in ("method", "ablation", "dataset", "model", "augment", "train_on", "preset", "key")}
        | {"seed": 0, "train_ratio": 0.9},
        "dataset": {},
        "config": {},
        "metrics": {"dice": 0.9, "dice_std": 0.0},
        "counts": {},
        "timings": {},
        "method_stats": {"guidance": guidance, "guidance_ratio_image": 1.0, "guidance_ratio_mask": 0.0},
    }
    log_run(results, tmp_path, "offline", "g", {})
    ((_, logged),) = run.logged
    table = logged["method/guidance"]
    assert table.columns == ["phase", "step", "t", "ratio"]
    assert table.data[2:] == [["image", 0, 999, 0.8], ["image", 1, 500, 1.2]]
    assert run.summary["method/guidance_ratio_image"] == 1.0 and "method/guidance" not in run.summary


def _results(method, dice, key, **run):
    ident = {
        "method": method,
        "ablation": "cf+cg+cs" if method != "origin" else "none",
        "dataset": "discs",
        "model": "unet",
        "seed": 0,
        "train_ratio": 0.9,
        "augment": "none",
        "train_on": "real+synthetic" if method != "origin" else "real",
        "preset": "smoke",
        "settings": "tau=0.5" if method != "origin" else "",
        "key": key,
        **run,
    }
    return {
        "run": ident,
        "dataset": {"synthetic": True},
        "config": {"train": {"epochs": 1}, "image_size": 32, "channels": 1},
        "metrics": {"dice": dice, "dice_std": 0.0, "dice_per_image": {"a": dice + 0.05, "b": dice - 0.05}},
        "counts": {"real_train": 10},
        "timings": {"train": 1.0},
        "method_stats": {},
    }


def test_offline_run_files_hold_gallery_per_image_dice_flat_config_and_a_later_delta(tmp_path):
    """Read back with W&B's protobuf records: what a dashboard shows, including Δ added once origin is done."""
    from wandb_records import offline_run

    from bench.runner import deltas

    method_dir = tmp_path / "method"
    method_dir.mkdir()
    Image.new("RGB", (16, 8), "white").save(method_dir / "gallery.png")
    method = _results("diffuseexpand", 0.9, "m1")
    method["tracking"] = log_run(method, method_dir, "offline", "g", {"train/loss": [1.0]}, origin_dice=None)
    (first,) = offline_run(method_dir)
    assert first["id"] == method["tracking"]["id"]
    assert first["config"]["method"] == "diffuseexpand" and first["config"]["train_ratio"] == 0.9
    assert first["config"]["row"] == "diffuseexpand cf+cg+cs tau=0.5"
    assert first["history"]["gallery"]["_type"] == "image-file"
    assert first["history"]["test/dice_per_image"]["_type"] == "table-file"
    assert first["summary"]["dice"] == 0.9 and "delta_vs_origin" not in first["summary"]

    origin = _results("origin", 0.85, "o1")
    assert deltas.paired(method, origin) and not deltas.paired(method, _results("origin", 0.85, "o2", seed=1))
    assert log_delta(method, method_dir, origin["metrics"]["dice"]) == 1
    first, again = offline_run(method_dir)
    assert again["id"] == first["id"]  # the same W&B run, reopened by its id
    assert again["summary"]["delta_vs_origin"] == pytest.approx(0.05) and again["summary"]["origin/dice"] == 0.85

    with_origin = tmp_path / "later"
    with_origin.mkdir()
    log_run(_results("diffuseexpand", 0.8, "m2"), with_origin, "offline", "g", {}, origin_dice=0.85)
    ((run,),) = [offline_run(with_origin)]
    assert run["summary"]["delta_vs_origin"] == pytest.approx(-0.05) and "gallery" not in run["history"]
    assert log_delta({"tracking": {"mode": "disabled"}}, tmp_path, 0.5) == 0


def test_bench_run_gives_the_method_run_its_delta_once_origin_is_done(tmp_path):
    """``bench run`` trains origin after the method: the method's W&B run is reopened and gets Δ vs origin."""
    from cli_checks import invoke, run_args
    from synthetic_pairs import disc_folder
    from wandb_records import offline_run

    from bench.results import load_results

    out = tmp_path / "runs"
    res = invoke(*run_args(disc_folder(tmp_path / "discs"), out, "--wandb", "offline", method="xlsor"))
    assert res.exit_code == 0, res.output
    (method_file,) = out.glob("discs/xlsor__*/ratio_0.9/seed_0/results.json")
    (origin_file,) = out.glob("discs/origin__*/ratio_0.9/seed_0/results.json")
    method, origin = load_results(method_file), load_results(origin_file)
    logged, reopened = offline_run(method_file.parent)
    assert logged["id"] == reopened["id"] == method["tracking"]["id"]
    assert "gallery" in logged["history"] and "delta_vs_origin" not in logged["summary"]
    assert reopened["summary"]["delta_vs_origin"] == pytest.approx(
        method["metrics"]["dice"] - origin["metrics"]["dice"]
    )
    # over the setting's seeds so far: one, so a Δ and its count but no interval
    assert reopened["summary"]["setting/delta_seeds"] == 1 and "setting/delta_low" not in reopened["summary"]
    (origin_run,) = offline_run(origin_file.parent)
    assert "delta_vs_origin" not in origin_run["summary"]


def test_external_sets_and_pair_counts_reach_the_summary_and_tags(monkeypatch, tmp_path):
    from bench.tracking import external_summary, update_summary

    seen, run = {}, _FakeRun()
    monkeypatch.setattr(wandb, "init", lambda **kwargs: seen.update(kwargs) or run)
    shenzhen = {"dice": 0.8, "dice_std": 0.1, "dice_per_image": {"a": 0.8}, "n": 1}
    results = {
        "run": {
            **{k: "x" for k in ("method", "ablation", "dataset", "model", "augment", "train_on", "preset", "key")},
            "seed": 0,
            "train_ratio": None,
            "train_pairs": 9,
        },
        "dataset": {"synthetic": False},
        "config": {},
        "metrics": {"dice": 0.9, "dice_std": 0.01, "external": {"shenzhen": shenzhen}},
        "counts": {},
        "timings": {},
        "method_stats": {},
    }
    log_run(results, tmp_path, "offline", "g", {})
    assert "pairs:9" in seen["tags"] and not any(t.startswith("ratio:") for t in seen["tags"])
    assert run.summary["external/shenzhen/dice"] == 0.8 and run.summary["external/shenzhen/dice_std"] == 0.1
    assert external_summary({"dice": 0.9}) == {}

    later, run.summary = {**results, "tracking": {"mode": "offline", "id": "fake1"}}, {}
    assert update_summary(later, tmp_path, lambda: external_summary(later["metrics"])) == 1 and seen["id"] == "fake1"
    assert run.summary == {"external/shenzhen/dice": 0.8, "external/shenzhen/dice_std": 0.1}
    assert update_summary(results, tmp_path, lambda: {"a": 1.0}) == 0, "a run never logged is not reopened"


def test_a_full_disk_under_the_wandb_folder_is_one_storage_error_naming_it(monkeypatch, tmp_path):
    from bench.files import StorageError

    def init(**kwargs):
        raise OSError(28, "No space left on device")  # as wandb.init raises when it cannot create its files

    monkeypatch.setattr(wandb, "init", init)
    results = _results("diffuseexpand", 0.8, "k1")
    with pytest.raises(StorageError, match=f"^{tmp_path / 'wandb'}: no space left on device"):
        log_run(results, tmp_path, "offline", "g", {})
    with pytest.raises(StorageError, match=f"^{tmp_path / 'wandb'}: no space left on device"):
        log_delta(results | {"tracking": {"mode": "offline", "id": "x"}}, tmp_path, 0.7)
