"""How downstream batches draw real and generated pairs: the stated shares, counted batch by batch."""

import dataclasses
import math

import pytest
import torch

from bench.config import PRESETS, ConfigError, TrainConfig, merge_options
from bench.pairs import PairSet
from bench.segmentation.mixing import batch_order
from bench.segmentation.trainer import train_segmentation

CPU = torch.device("cpu")
N_REAL, N_GENERATED, BATCH = 41, 120, 16


def _order(steps=None, **options):
    cfg = TrainConfig(batch_size=BATCH, **options)
    per_epoch = math.ceil((N_REAL + N_GENERATED) / BATCH)
    return list(batch_order(N_REAL, N_GENERATED, cfg, steps or per_epoch, per_epoch, torch.Generator().manual_seed(0)))


def _generated_per_batch(order):
    return [int((idx >= N_REAL).sum()) for _, idx in order]


def test_pooled_is_the_old_shuffle_draw_for_draw():
    """At its defaults every epoch is one permutation of all pairs cut into near-equal batches, exactly as training
    drew them before the options existed (same generator calls), so default runs train bit for bit as before."""
    per_epoch = math.ceil((N_REAL + N_GENERATED) / BATCH)
    order = _order(steps=25)
    g = torch.Generator().manual_seed(0)
    n = N_REAL + N_GENERATED
    before = [idx for _ in range(3) for idx in torch.randperm(n, generator=g).tensor_split(per_epoch)]
    assert [e for e, _ in order] == [t // per_epoch for t in range(25)]
    assert all(torch.equal(a, b) for (_, a), b in zip(order, before[:25]))
    share = sum(_generated_per_batch(_order())) / (N_REAL + N_GENERATED)
    assert share == pytest.approx(N_GENERATED / (N_REAL + N_GENERATED))  # ~3/4 of the gradient is generated


@pytest.mark.parametrize("share", [0.0, 0.25, 0.3, 0.5, 1.0])
def test_a_synthetic_share_holds_in_every_batch_and_over_the_epoch(share):
    order = _order(synthetic_share=share)
    counts = _generated_per_batch(order)
    assert all(len(idx) == BATCH for _, idx in order)
    assert set(counts) <= {math.floor(share * BATCH), math.ceil(share * BATCH)}
    assert abs(sum(counts) - share * BATCH * len(order)) <= 1
    real = torch.cat([idx[idx < N_REAL] for _, idx in order])
    cycles = len(real) // N_REAL  # each kind goes through all its pairs before it repeats one
    for c in range(cycles):
        assert sorted(real[c * N_REAL : (c + 1) * N_REAL].tolist()) == list(range(N_REAL))


def test_alternate_gives_real_and_generated_batches_in_turn():
    counts = _generated_per_batch(_order(mixing="alternate"))
    assert counts == [0, BATCH] * (len(counts) // 2) + [0] * (len(counts) % 2)


@pytest.mark.parametrize("pretrain_share", [0.5, 0.75])
def test_pretrain_trains_on_generated_pairs_then_real_ones(pretrain_share):
    steps = 40
    counts = _generated_per_batch(_order(steps=steps, mixing="pretrain", pretrain_share=pretrain_share))
    first = round(pretrain_share * steps)
    assert counts == [BATCH] * first + [0] * (steps - first)


def test_one_kind_of_pair_alone_is_pooled():
    cfg = TrainConfig(batch_size=4, mixing="alternate")
    alone = list(batch_order(10, 0, cfg, 6, 3, torch.Generator().manual_seed(1)))
    pooled = list(batch_order(10, 0, TrainConfig(batch_size=4), 6, 3, torch.Generator().manual_seed(1)))
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(alone, pooled))


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"synthetic_share": 1.5}, "synthetic_share must be in [0, 1], got 1.5"),
        ({"synthetic_share": -0.1}, "synthetic_share must be in [0, 1]"),
        ({"mixing": "alternate", "synthetic_share": 0.5}, "mixing=alternate sets its own"),
        ({"mixing": "pretrain", "pretrain_share": 1.0}, "pretrain_share must be in (0, 1), got 1"),
        ({"pretrain_share": 0.3}, "pretrain_share needs mixing=pretrain"),
        ({"mixing": "shuffle"}, "unknown mixing 'shuffle' (known: pooled, alternate, pretrain)"),
        ({"synthetic_share": "half"}, "--train-option synthetic_share: must be a finite number"),
    ],
)
def test_bad_values_and_combinations_are_refused(options, needle):
    with pytest.raises(ConfigError) as refused:
        merge_options(TrainConfig, {}, options, where="training", flag="--train-option")
    assert needle in str(refused.value)


def test_at_their_defaults_the_options_are_out_of_the_keys():
    default = TrainConfig()
    added = TrainConfig.KEYED_ONLY_IF_NOT
    assert default.to_dict() == {k: v for k, v in dataclasses.asdict(default).items() if k not in added}
    assert not default.mixes and default.unmixed() == default
    shared = TrainConfig(synthetic_share=0.5)
    assert shared.mixes and shared.to_dict()["synthetic_share"] == 0.5 and shared.unmixed() == default
    assert TrainConfig(mixing="pretrain").to_dict()["mixing"] == "pretrain"


def _pairs(n, seed, name):
    g = torch.Generator().manual_seed(seed)
    masks = (torch.rand(n, 32, 32, generator=g) > 0.7).long()
    images = 0.5 * masks[:, None].float() + 0.1 * torch.rand(n, 1, 32, 32, generator=g)
    return PairSet([f"{name}{i}" for i in range(n)], images, masks, name)


def _smoke(**overrides):
    return merge_options(TrainConfig, {}, PRESETS["smoke"]["train"], overrides)


def _weights(result):
    return torch.cat([p.detach().flatten() for p in result.model.parameters()])


def test_the_trainer_pools_by_default_as_it_did_on_the_concatenated_set():
    real, generated = _pairs(5, 1, "r"), _pairs(7, 2, "g")
    cfg = _smoke(epochs=2, batch_size=4)
    apart = train_segmentation(real, "unet", cfg, 0, CPU, generated=generated)
    joined = train_segmentation(PairSet.concat([real, generated], "joined"), "unet", cfg, 0, CPU)
    assert torch.equal(_weights(apart), _weights(joined)) and apart.losses == joined.losses


def test_the_trainer_feeds_the_schedule_generated_then_real(monkeypatch):
    import bench.segmentation.trainer as trainer

    real, generated = _pairs(5, 1, "r"), _pairs(7, 2, "g")
    kinds = []
    augment = trainer.augment_batch

    def spy(name, images, masks, generator):
        kinds.append({"g" if any(torch.equal(i, x) for x in generated.images) else "r" for i in images})
        return augment(name, images, masks, generator)

    monkeypatch.setattr(trainer, "augment_batch", spy)
    cfg = _smoke(steps=8, batch_size=4, mixing="pretrain", pretrain_share=0.75)
    result = train_segmentation(real, "unet", cfg, 0, CPU, generated=generated)
    assert result.steps == 8 and kinds == [{"g"}] * 6 + [{"r"}] * 2
    kinds.clear()
    train_segmentation(real, "unet", _smoke(steps=4, batch_size=4, mixing="alternate"), 0, CPU, generated=generated)
    assert kinds == [{"r"}, {"g"}] * 2
