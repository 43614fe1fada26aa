"""W&B mirror: what a run carries (tags, name, summary), without touching W&B itself."""

import wandb

from bench.tracking import log_run


class _FakeRun:
    def __init__(self):
        self.logged, self.summary, self.url, self.finished = [], {}, None, False

    def log(self, data, step):
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
