"""A run's external test sets (:mod:`bench.testsets`): read and checked before any work, and scored on finished runs
that lack one, from the downstream weights those runs kept.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from bench import results as store
from bench import tracking
from bench.config import ConfigError, RunConfig
from bench.files import write_json
from bench.pairs import DatasetError
from bench.runner.dataset import LoadedData
from bench.runner.layout import WEIGHTS
from bench.runner.planning import Plan
from bench.runner.request import Request
from bench.splits import Split
from bench.testsets import FLAG, ExternalSet, chosen, load, refuse_seen, scores


def load_external(
    req: Request,
    pl: Plan,
    data: LoadedData,
    splits: dict[int, Split],
    warn: Callable[[str], None],
    read_set: Callable[..., ExternalSet] = load,
) -> list[ExternalSet]:
    """The external sets of a run, read at its size and checked against everything its stages learn from.

    A set named by ``--test-set`` must be found and unseen; a card's default set that is not found, or that a
    stage saw (a pretraining on it), is said and left out. ``read_set`` reads one set as :func:`bench.testsets.load`
    does (a sweep's dry run passes one that reads each set once for all its runs).

    Raises:
        ConfigError: a set that is the run's own data set, that holds another number of classes, or that holds an
            image of a seed's training split or of the method's pretraining. DatasetError: a named set that is not
            found or fails its integrity check.
    """
    names, asked = chosen(tuple(req.test_sets), data.card)
    trained = data.pairs.subset(sorted({i for split in splits.values() for i in split.train}))
    sets = []
    for name in names:
        try:
            test_set = read_set(name, pl.image_size, req.channels, asked, req.masks)
        except DatasetError as e:
            if asked:
                raise
            warn(f"{data.name}'s card names '{name}' as its external test set; not scored: {e}")
            continue
        if test_set.path.resolve() == data.path.resolve():
            raise ConfigError(f"{FLAG} {name}: this is the run's own data set, not an external one")
        if test_set.pairs.num_classes != data.pairs.num_classes:
            raise ConfigError(
                f"{FLAG} {name}: masks hold {test_set.pairs.num_classes} labels, {data.name}'s "
                f"{data.pairs.num_classes}; a model trained on one cannot be scored on the other"
            )
        try:
            refuse_seen(test_set, trained, f"training images of this run ({data.name})")
            try:
                pl.method_cls.check_split(pl.options, test_set.pairs)  # a pretraining that saw one of its images
            except ConfigError as e:
                raise ConfigError(f"{FLAG} {test_set.name}: {e}") from None
        except ConfigError as e:
            if asked:
                raise
            warn(f"{data.name}'s card names '{name}' as its external test set; not scored, since a stage saw it: {e}")
            continue
        sets.append(test_set)
    return sets


def reusable(done: store.Results | None, rdir: Path, sets: list[ExternalSet]) -> bool:
    """Whether a stored run is reused (:func:`complete` scores a set it lacks from its kept weights, or keeps it
    without a card's default set) rather than trained again for a set the user named."""
    if done is None:
        return False
    return (rdir / WEIGHTS).is_file() or not any(s.asked for s in lacking(done, sets))


def lacking(done: store.Results, sets: list[ExternalSet]) -> list[ExternalSet]:
    """The sets a stored run was not scored on, or was scored on when they held other pairs."""
    have = done["metrics"].get("external", {})
    return [s for s in sets if (have.get(s.name) or {}).get("fingerprint") != s.fingerprint]


def complete(
    done: store.Results,
    cfg: RunConfig,
    rdir: Path,
    sets: list[ExternalSet],
    num_classes: int,
    device: torch.device,
    warn: Callable[[str], None],
) -> store.Results | None:
    """A finished run scored on every set of ``sets``; None when it must be trained again to be.

    A set it lacks is scored from its kept weights (results.json rewritten, its W&B summary updated where it was
    logged). A run without them (made with no external set) is trained again for a set the user named; for a card's
    default set it is kept as it is, said.
    """
    have = done["metrics"].get("external", {})
    missing = lacking(done, sets)
    if not missing:
        return done
    names = ", ".join(s.name for s in missing)
    if not (rdir / WEIGHTS).is_file():
        if any(s.asked for s in missing):
            warn(
                f"{rdir}: finished, but not scored on {names} as it is now, and no downstream weights kept; "
                "training it again"
            )
            return None
        warn(
            f"{rdir}: finished before its card's external set {names} was scored; kept without it ({FLAG} {names} "
            "trains it again to score it)"
        )
        return done
    from bench.segmentation.models import build_model
    from bench.segmentation.trainer import evaluate

    model = build_model(cfg.model, cfg.channels, num_classes, cfg.image_size, cfg.train)
    model.load_state_dict(torch.load(rdir / WEIGHTS, map_location="cpu", weights_only=True))
    model.to(device)
    done["metrics"]["external"] = {**have, **{s.name: scores(s, evaluate(model, s.pairs, device)) for s in missing}}
    write_json(rdir / "results.json", done, sort_keys=False)
    tracking.update_summary(done, rdir, lambda: tracking.external_summary(done["metrics"]))
    return done
