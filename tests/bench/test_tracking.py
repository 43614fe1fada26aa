"""W&B mirror: what a run carries (tags, name, summary), without touching W&B itself."""

import wandb
from PIL import Image

from bench.artifacts import Artifact
from bench.tracking import log_artifact, log_run


class _FakeRun:
    def __init__(self):
        self.logged, self.summary, self.url, self.finished = [], {}, None, False

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
    assert out == {"mode": "offline", "dir": str(tmp_path / "wandb"), "url": None}


def test_an_artifact_becomes_one_report_run_with_typed_tables_and_images(monkeypatch, tmp_path):
    seen = {}
    run = _FakeRun()
    monkeypatch.setattr(wandb, "init", lambda **kwargs: seen.update(kwargs) or run)
    png = tmp_path / "fewshot.png"
    Image.new("RGB", (8, 8)).save(png)
    rows = [["origin", 0.9, 0.95], ["xlsor", 0.9, None], ["joint", "–", 0.9]]
    artifact = Artifact("fewshot", [png], {"points": (["method", "ratio", "dice"], rows)}, [png])

    where = log_artifact(artifact, "offline", "sweep-fewshot-x", tmp_path / "rep")
    assert seen["group"] == "sweep-fewshot-x" and seen["job_type"] == "report" and seen["name"] == "report/fewshot"
    ((_, logged),) = run.logged
    table = logged["fewshot/points"]
    assert isinstance(table, wandb.Table) and isinstance(logged["fewshot/fewshot"], wandb.Image)
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
