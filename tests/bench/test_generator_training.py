"""The training loop every generator uses: resume, gradient accumulation, EMA, and one paper-size step."""

import resource
import time

import pytest
import torch
from torch import nn

from bench.generator_training import latest_checkpoint, train_loop


def _regression_loss(model: nn.Module, generator: torch.Generator) -> torch.Tensor:
    x = torch.randn(8, 4, generator=generator)
    return ((model(x) - x.sum(1, keepdim=True)) ** 2).mean()


def _fit(loss=_regression_loss, model=None, **overrides):
    """A small linear regression through the loop (or ``model`` on ``loss``); returns the model and the log."""
    torch.manual_seed(0)
    model = nn.Linear(4, 1) if model is None else model
    args = {
        "steps": 12,
        "lr": 0.05,
        "seed": 1,
        "device": "cpu",
        "lr_schedule": "linear",
        "ema_decay": 0.0,
        "mixed_precision": True,
    }
    return model, train_loop(model, loss, **(args | overrides))


def test_the_loss_falls_and_the_model_ends_in_eval_mode():
    model, log = _fit()
    assert log.steps == 12 and len(log.losses) == 12 and log.processes == 1
    assert log.losses[-1] < 0.5 * log.losses[0] and not model.training


def test_parts_step_in_order_each_on_its_own_gradient():
    """Two parts, as in a GAN: the second part's loss runs through the first, which must not move with it."""
    torch.manual_seed(0)
    model = nn.ModuleDict({"critic": nn.Linear(4, 1), "maker": nn.Linear(4, 4)})
    critic = [p.detach().clone() for p in model["critic"].parameters()]
    maker = [p.detach().clone() for p in model["maker"].parameters()]

    def still(parts, generator):  # a zero loss: Adam leaves the critic where it is
        return 0.0 * parts["critic"](torch.randn(2, 4, generator=generator)).sum()

    def fooled(parts, generator):
        return -parts["critic"](parts["maker"](torch.randn(8, 4, generator=generator))).mean()

    _, log = _fit(model=model, loss={"critic": still, "maker": fooled}, lr_schedule="constant")
    assert all(torch.equal(a, b) for a, b in zip(critic, model["critic"].parameters()))
    assert not any(torch.equal(a, b) for a, b in zip(maker, model["maker"].parameters()))
    assert list(log.part_losses) == ["critic", "maker"] and len(log.part_losses["maker"]) == 12
    assert log.part_losses["maker"][-1] < log.part_losses["maker"][0]
    assert log.losses == [a + b for a, b in zip(log.part_losses["critic"], log.part_losses["maker"])]
    with pytest.raises(ValueError, match="no submodule named judge"):
        _fit(model=model, loss={"judge": still})


def test_accumulating_two_half_batches_is_one_step_per_two_micro_batches():
    draws = []

    def counting(model, generator):
        draws.append(1)
        return _regression_loss(model, generator)

    _, log = _fit(counting, steps=5, grad_accumulation=2)
    assert log.steps == 5 and len(draws) == 10


def test_ema_weights_end_in_the_model():
    plain, _ = _fit()
    smoothed, _ = _fit(ema_decay=0.9)
    assert not torch.equal(plain.weight, smoothed.weight)


def test_checkpoints_keep_only_the_newest_complete_one(tmp_path):
    _fit(checkpoint_dir=tmp_path, checkpoint_every=5)
    assert [p.name for p in tmp_path.iterdir()] == ["step_00000012"]
    assert latest_checkpoint(tmp_path).name == "step_00000012" and latest_checkpoint(tmp_path / "none") is None


def test_a_non_finite_loss_stops_training():
    def exploding(model, generator):
        return _regression_loss(model, generator) * float("nan")

    with pytest.raises(FloatingPointError, match="step 1"):
        _fit(exploding)


@pytest.mark.slow
@pytest.mark.parametrize("network", ["denoiser", "segmenter"])
def test_one_paper_size_step_on_cpu(network, capsys):
    """One step of each paper-preset network at batch 1 through the loop; prints its time and peak memory."""
    from synthetic_pairs import disc_pairs

    from methods.diffuseexpand.denoiser import denoiser_loss, diffusion_samples
    from methods.diffuseexpand.networks import build_denoiser, build_segmenter
    from methods.diffuseexpand.options import DiffuseExpandOptions
    from methods.diffuseexpand.segmenter import segmenter_loss
    from methods.diffusion.schedule import noise_scheduler

    o = DiffuseExpandOptions()
    x0, mode, cond = diffusion_samples(disc_pairs(2, size=256))
    if network == "denoiser":
        model = build_denoiser(o, 256, 1, seed=0)
        loss = denoiser_loss(
            x0, mode, cond, batch_size=1, cfg_dropout=o.cfg_dropout, scheduler=noise_scheduler(), snr_gamma=0
        )
    else:
        model = build_segmenter(o, 256, 1, seed=0)
        loss = segmenter_loss(x0, mode, cond, batch_size=1, scheduler=noise_scheduler())
    start = time.perf_counter()
    log = train_loop(
        model,
        loss,
        steps=1,
        lr=o.denoiser_lr,
        seed=0,
        device="cpu",
        lr_schedule="linear",
        ema_decay=o.ema_decay if network == "denoiser" else 0.0,
        mixed_precision=o.mixed_precision,
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    params = sum(p.numel() for p in model.parameters()) / 1e6
    with capsys.disabled():
        print(
            f"\npaper {network}: {params:.0f} M parameters, "
            f"one step at batch 1: {seconds:.1f} s, peak RSS {peak:.1f} GiB"
        )
    assert log.steps == 1 and torch.isfinite(torch.tensor(log.losses)).all()


def test_a_full_disk_during_a_checkpoint_names_the_folder_and_keeps_the_last_one(tmp_path, monkeypatch):
    import accelerate.checkpointing

    from bench import files

    real_save = accelerate.checkpointing.save

    def full_disk(obj, path, *args, **kwargs):
        if "step_00000010" in str(path):
            raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0: file write failed")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(accelerate.checkpointing, "save", full_disk)
    monkeypatch.setattr(files.shutil, "disk_usage", lambda path: shutil_usage(free=1024))
    with pytest.raises(files.StorageError, match=r"step_00000010: no space left on device"):
        _fit(checkpoint_dir=tmp_path, checkpoint_every=5)
    assert [p.name for p in tmp_path.iterdir()] == ["step_00000005"]
    monkeypatch.undo()
    _, log = _fit(checkpoint_dir=tmp_path, checkpoint_every=5)
    assert log.resumed_from == 5 and log.steps == 12


def shutil_usage(free: int):
    import shutil

    return shutil._ntuple_diskusage(total=10 * free, used=9 * free, free=free)
