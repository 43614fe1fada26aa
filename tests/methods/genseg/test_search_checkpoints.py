"""The ``end2end`` search's checkpoints: a search stopped and started again ends bit for bit where an unbroken
one does, the stage drops its checkpoints when complete, and its key ignores how often it checkpoints."""

import dataclasses
import json

import pytest
import torch
from synthetic_pairs import disc_pairs

from bench import interrupts
from bench.config import PRESETS, TrainConfig, config_hash, merge_options
from bench.files import CorruptFileError
from methods.base import MethodContext
from methods.genseg import GenSeg
from methods.genseg.networks import MaskToImageGAN
from methods.genseg.options import GenSegOptions
from methods.genseg.search import search_architecture
from methods.genseg.validation import hold_out

pytestmark = pytest.mark.heavy(20)

TINY = merge_options(GenSegOptions, {}, {**GenSeg.presets["smoke"], "gan_width": 4, "search_steps": 5})
TRAIN = merge_options(TrainConfig, {}, PRESETS["smoke"]["train"])


class Stop(Exception):
    """What the test's callback raises to cut a search short."""


def _search(options, checkpoints, stop_at=None):
    """A search from the same starting GAN, on 32 x 32 discs; stopped after step ``stop_at`` when given."""
    fit, val = hold_out(disc_pairs(6), 2, seed=0)
    torch.manual_seed(1)
    model = MaskToImageGAN(32, 1, options.gan_width)
    torch.manual_seed(123)  # the global stream: a resumed search restores it

    def callback(step, loss):
        if step == stop_at:
            raise Stop

    log = search_architecture(model, fit, val, options, TRAIN, 7, torch.device("cpu"), callback, checkpoints)
    return model, log


@pytest.mark.parametrize("stop_at", [2, 3])
def test_a_resumed_search_ends_exactly_where_an_unbroken_one_does(tmp_path, stop_at):
    options = dataclasses.replace(TINY, checkpoint_every=2)
    whole, whole_log = _search(options, None)
    after_whole = torch.get_rng_state()
    with pytest.raises(Stop):
        _search(options, tmp_path, stop_at=stop_at)
    assert [p.name for p in tmp_path.iterdir()] == ["step_00000002"], "the newest complete checkpoint alone"
    resumed, log = _search(options, tmp_path)
    assert log["resumed_from"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000005"], "one after the last step"
    for name, tensor in whole.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name
    assert resumed.arch.abs().max() > 0, "the search moved the architecture from zero"
    for key in ("val_loss", "arch_grad", "discriminator", "generator"):
        assert log[key] == whole_log[key] and len(log[key]) == 5, key
    assert torch.equal(torch.get_rng_state(), after_whole), "the global stream continues as unbroken"


def test_the_kept_checkpoint_is_the_one_the_interrupt_line_names(tmp_path):
    with pytest.raises(Stop):
        _search(dataclasses.replace(TINY, checkpoint_every=1), tmp_path, stop_at=3)
    line = interrupts.stopped_line(interrupts.Interrupted(2))
    assert f"last checkpoint kept: {tmp_path / 'step_00000003'}" in line


def test_checkpoint_every_zero_writes_none(tmp_path):
    _search(dataclasses.replace(TINY, checkpoint_every=0), tmp_path / "none")
    assert not (tmp_path / "none").exists()


def test_an_unreadable_checkpoint_is_named_with_its_remedy(tmp_path):
    (tmp_path / "step_00000002").mkdir()
    (tmp_path / "step_00000002" / "search_state.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CorruptFileError, match="search_state.pt: not a GenSeg search checkpoint .*delete"):
        _search(dataclasses.replace(TINY, checkpoint_every=2), tmp_path)


def _ctx(workdir) -> MethodContext:
    return MethodContext(workdir=workdir, seed=0, device=torch.device("cpu"), train=TRAIN, preset="smoke")


def test_the_stage_drops_its_checkpoints_and_its_key_ignores_their_cadence(tmp_path):
    keys = {}
    for every in (0, 1, 250):
        workdir = tmp_path / str(every)
        GenSeg("end2end", dataclasses.replace(TINY, checkpoint_every=every)).fit(disc_pairs(6), _ctx(workdir))
        (folder,) = (workdir / "search").iterdir()
        assert (folder / "done.json").is_file() and not (folder / "checkpoints").exists()
        keys[every] = json.loads((folder / "key.json").read_text())
        assert folder.name == config_hash(keys[every])
    assert keys[0] == keys[1] == keys[250] and "checkpoint_every" not in keys[0]["options"]
