"""The leaderboard's runs: each entry (a generating method, or one fine-tuned from a pretrained start) and origin,
at each count of labelled pairs, under each downstream augmentation, every seed.

Its grid is :mod:`bench.paper`'s; its runs are :class:`bench.sweep.SweepRun` like any other sweep's, so a dry run,
the status of finished runs, local and submitit launches are :mod:`bench.sweep`'s. The external test sets are the
base request's (``--test-set``; none given: the dataset card's own). A pretrained entry fine-tunes from the
``bench pretrain`` folder ``--pretrained METHOD=DIR`` names, passed to its runs as ``--option pretrained=DIR``
(the same run folders and keys as ``bench run`` with that option); an entry without one, or with a folder that is no
finished pretraining of its method (one still running, a plain UNet's), is refused. A mixing
schedule (``--train-option mixing=alternate``, the base request's ``train_options``) trains every entry's runs;
origin's get what ``bench run``'s paired origin gets (:func:`bench.runner.origin_train_options`: no schedule), so
they are the origin runs of a sweep without one. Other training options are refused: the artifact leaves out runs
of changed training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import fields
from pathlib import Path
from typing import Any

from bench import runner
from bench.config import AUGMENTS, ConfigError, TrainConfig
from bench.paper import (
    BASELINE,
    FEWSHOT_SEEDS,
    LEADERBOARD,
    LEADERBOARD_AUGMENTS,
    LEADERBOARD_ENTRIES,
    LEADERBOARD_PAIRS,
    SHOWN_VARIANTS,
    entry_name,
    parse_entry,
    schedule,
    scheduled_name,
)
from bench.sweep import Sweep, SweepRun
from methods import METHODS, method_options, unknown_choice
from methods.diffusion.recipe import pretraining_of

FLAG = "--pretrained"
MODELS = ("unet",)


def takes_pretrained(method: str) -> bool:
    """Whether the method's options have ``pretrained`` (a stage-I start from a ``bench pretrain`` folder), read
    from the light options module its registry row names, so that a refusal imports no method."""
    return bool(METHODS[method].options) and "pretrained" in {f.name for f in fields(method_options(method)[0])}


def entries() -> tuple[str, ...]:
    """Every entry this installation can run: each generating method, and ``<method>+pretrained`` of each that
    takes a pretrained start."""
    made = [m for m, e in METHODS.items() if e.generates_pairs]
    return (*made, *(entry_name(m, True) for m in made if takes_pretrained(m)))


def shown_variant(method: str) -> str:
    """The variant an entry without ``:VARIANT`` runs: the one the paper shows, else the method's default."""
    return SHOWN_VARIANTS.get(method, METHODS[method].variants[0])


def check_entry(name: str) -> tuple[str, str | None, bool]:
    """An entry of ``--methods`` as :func:`bench.paper.parse_entry` reads it, its variant None where it is the
    shown one (``genseg:separate`` is ``genseg``).

    Raises:
        ConfigError: the baseline, an unknown method or pretrained entry, or a variant the method lacks.
    """
    method, variant, pretrained = parse_entry(name)
    if method == BASELINE:
        raise ConfigError(f"--methods lists generating methods; '{name}' is the baseline every sweep runs anyway")
    if entry_name(method, pretrained) not in entries():
        raise ConfigError(f"--methods: {unknown_choice('method', entry_name(method, pretrained), entries())}")
    if variant is not None and variant not in METHODS[method].variants:
        raise ConfigError(f"--methods {name}: {unknown_choice('variant', variant, METHODS[method].variants)}")
    return method, None if variant == shown_variant(method) else variant, pretrained


def parse_pretrained(items: list[str] | None) -> dict[str, str]:
    """``--pretrained METHOD=DIR`` (repeatable) as method -> folder, the folder kept as typed (it names the runs).

    Raises:
        ConfigError: not METHOD=DIR, or a method given twice.
    """
    out: dict[str, str] = {}
    for item in items or []:
        method, sep, folder = item.partition("=")
        if not sep or not method.strip() or not folder.strip():
            raise ConfigError(f"{FLAG} expects METHOD=DIR (a bench pretrain folder), got {item!r}")
        if method.strip() in out:
            raise ConfigError(f"{FLAG}: {method.strip()} is given more than once")
        out[method.strip()] = folder.strip()
    return out


def build_sweep(
    base: runner.Request,
    methods: tuple[str, ...] | None = None,
    pairs: tuple[int, ...] | None = None,
    augments: tuple[str, ...] | None = None,
    pretrained: dict[str, str] | None = None,
) -> Sweep:
    """The leaderboard's runs, seed-major: per seed, per count of pairs, per augmentation, origin then each entry.

    Args:
        base: the options every run shares; empty ``models`` / ``seeds`` take ``unet`` and five seeds.
        methods: the entries (default :data:`bench.paper.LEADERBOARD_ENTRIES`), e.g. ``genseg``,
            ``genseg:end2end`` (a variant other than the shown one) or ``joint+pretrained``.
        pairs: counts of labelled training pairs (default :data:`bench.paper.LEADERBOARD_PAIRS`).
        augments: downstream augmentations (default :data:`bench.paper.LEADERBOARD_AUGMENTS`).
        pretrained: method -> the ``bench pretrain`` folder its ``+pretrained`` entry starts from.

    ``base.train_options`` may hold a mixing schedule only (:func:`check_schedule`); its values are checked with
    each run's request (:func:`bench.sweep.check_sweep`), as ``bench run`` checks them.

    Raises:
        ConfigError: an unknown entry, variant or augmentation, a count of pairs out of range, a pretrained entry
            without its folder, a folder no chosen entry uses or that is no finished ``bench pretrain`` folder of
            its method, or a training option other than the schedule's; each naming its option.
        bench.files.CorruptFileError: a ``pretrain.json`` that cannot be read, naming it.
    """
    check_schedule(base.train_options)
    parsed = [check_entry(name) for name in (methods if methods is not None else LEADERBOARD_ENTRIES)]
    chosen = [entry_name(m, p, v) for m, v, p in parsed]
    for flag, values in (("--methods", chosen), ("--pairs", pairs or ()), ("--augment", augments or ())):
        if len(set(values)) != len(values):  # the same runs twice
            raise ConfigError(f"{flag}: a value is given more than once in {','.join(map(str, values))}")
    for aug in augments or ():
        if aug not in AUGMENTS:
            raise ConfigError(f"--augment: {unknown_choice('augmentation', aug, AUGMENTS)}")
    for count in pairs or ():
        runner.check_pairs(count, "--pairs")
    starts = dict(pretrained or {})
    wanted = list(dict.fromkeys(m for m, _, p in parsed if p))
    for method, folder in starts.items():
        if method not in wanted:
            uses = ", ".join(entry_name(m, True) for m in wanted) or "none"
            raise ConfigError(f"{FLAG} {method}: no chosen entry starts from it (pretrained entries: {uses})")
        if not Path(folder).is_dir():
            raise ConfigError(f"{FLAG} {method}: {folder} is not a folder (bench pretrain writes one)")
        pretraining_of(folder, method, f"{FLAG} {method}")  # not one still running, nor a plain UNet's folder
    lacking = [m for m in wanted if m not in starts]
    if lacking:
        given = " ".join(f"{FLAG} {m}=DIR" for m in lacking)
        raise ConfigError(
            f"--methods {','.join(entry_name(m, True) for m in lacking)}: each starts from a pretrained network; give "
            f"{given} (a bench pretrain folder each), or leave them out of --methods"
        )
    base = dataclasses.replace(base, models=tuple(base.models) or MODELS, seeds=tuple(base.seeds) or FEWSHOT_SEEDS)
    runner.check_values(base)
    trained = base.train_options
    configs = []
    for count in pairs or LEADERBOARD_PAIRS:
        for aug in augments or LEADERBOARD_AUGMENTS:
            at = {"train_pairs": count, "augment": aug}
            where = f"{count} pairs, augment {aug}"
            origin = {"method": BASELINE, "train_on": "real", "train_options": runner.origin_train_options(trained)}
            configs.append((f"origin, {where}", {**origin, **at}))
            for name, (method, variant, pretrained) in zip(chosen, parsed):
                options = {"pretrained": starts[method]} if pretrained else {}
                run = {"method": method, "ablation": variant or SHOWN_VARIANTS.get(method), "method_options": options}
                row = scheduled_name(name, schedule(trained))
                configs.append((f"{row}, {where}", {**run, "train_on": "real+synthetic", **at}))
    runs = [
        SweepRun(label, dataclasses.replace(base, seeds=(seed,), **changes))
        for seed in base.seeds  # seed-major, as every sweep: one stopped early holds whole leaderboards of seeds
        for label, changes in configs
    ]
    return Sweep(LEADERBOARD, runs)


def check_schedule(train_options: dict[str, Any]) -> None:
    """Refuse a ``--train-option`` that is not a mixing schedule's: its runs would train otherwise than origin's and
    be left out of the leaderboard; and one at its default value, which trains as without it under another folder
    and row name.

    Raises:
        ConfigError: naming the options and those the leaderboard takes.
    """
    mixing = TrainConfig.MIXING_OPTIONS
    other = sorted(set(train_options) - set(mixing))
    if other:
        raise ConfigError(
            f"--train-option {', '.join(other)}: the leaderboard sweep takes only how batches mix real and generated "
            f"pairs ({', '.join(mixing)}); its table leaves out runs of other training settings"
        )
    for key, value in train_options.items():
        if _is_default(value, mixing[key]):  # same training as without it, under another folder and row
            raise ConfigError(f"--train-option {key}={value} is the default; leave it out")


def _is_default(value: Any, default: Any) -> bool:
    try:
        return default is not None and type(default)(value) == default
    except (TypeError, ValueError):
        return False
