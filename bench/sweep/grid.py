"""A sweep's runs: each paper artifact's grid of ``bench run`` requests, one seed each, and the checks they pass
before the first run trains anything."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench import runner
from bench.artifacts import ARTIFACTS
from bench.cards import resolve_dataset
from bench.config import AUGMENTS, ConfigError, merge_options
from bench.integrity import check
from bench.pairs import DatasetError
from bench.paper import (
    BASELINE,
    FEWSHOT_METHODS,
    FEWSHOT_RATIOS,
    FEWSHOT_SEEDS,
    LEADERBOARD,
    METHOD_ORDER,
    MODEL_NAMES,
    SEEDS,
    SHOWN_VARIANTS,
    STRENGTHS,
    TABLE1_ABLATIONS,
    TABLE1_DICE,
    TAUS,
)
from bench.splits import make_split
from methods import METHODS, get_method, method_options, unknown_choice

if TYPE_CHECKING:
    from bench.runner.request import CheckedRequest

DEFAULT_MODELS = {"table1": ("unet",), "table2": tuple(MODEL_NAMES), "fewshot": ("unet",), "tau-vs-s": ("unet",)}
DEFAULT_SEEDS = {"table1": SEEDS, "table2": SEEDS, "fewshot": FEWSHOT_SEEDS, "tau-vs-s": SEEDS}


@dataclass(frozen=True)
class SweepRun:
    """One ``bench run`` of a sweep: ``label`` says which cell of the artifact it fills; one seed per request.
    ``checked``: its request checked and resolved by :func:`check_sweep`, which the status and the local launcher
    plan from instead of resolving it again."""

    label: str
    request: runner.Request
    checked: CheckedRequest | None = field(default=None, compare=False, repr=False)


@dataclass
class Sweep:
    """The runs of one artifact, and the methods it asks for that this installation does not have."""

    name: str
    runs: list[SweepRun]
    missing: list[str] = field(default_factory=list)


def build_sweep(
    name: str,
    base: runner.Request,
    methods: tuple[str, ...] | None = None,
    ratios: tuple[float, ...] | None = None,
    augments: tuple[str, ...] | None = None,
    pairs: tuple[int, ...] | None = None,
) -> Sweep:
    """Expand an artifact's name into its runs.

    Args:
        name: one of ``SWEEPS``.
        base: the options every run shares (dataset, preset, seeds, models, out, W&B, device, force); its
            ``models`` and ``seeds`` may be empty for the artifact's defaults (:data:`DEFAULT_SEEDS`); no
            ``train_options`` (a mixing schedule is the leaderboard's alone: these artifacts read runs pooled as
            the paper trains them, and would leave scheduled runs out).
        methods: for ``table2`` and ``fewshot``, the generating methods to include (default: all of the artifact's).
        ratios: for ``fewshot``, the train ratios (default ``FEWSHOT_RATIOS``).
        augments: for ``fewshot``, the downstream augmentations, one curve each (default: ``base.augment``);
            origin trains under the same augmentation as the generators it is compared with.
        pairs: for ``fewshot``, exact counts of training pairs instead of ratios (``--train-pairs`` runs).

    Raises:
        ConfigError: an unknown sweep, method or augmentation, a ratio out of range, or options the artifact does
            not take (``--train-option`` included).
    """
    if name not in SWEEPS:
        raise ConfigError(unknown_choice("sweep", name, SWEEPS))
    if methods is not None and name not in ("table2", "fewshot"):
        raise ConfigError(f"--methods applies to the table2 and fewshot sweeps, not {name}")
    if ratios is not None and name != "fewshot":
        raise ConfigError(f"--ratios applies to the fewshot sweep, not {name}")
    if pairs is not None and name != "fewshot":
        raise ConfigError(f"--pairs applies to the fewshot sweep, not {name}")
    if pairs is not None and ratios is not None:
        raise ConfigError("--pairs and --ratios exclude each other: the fewshot curve runs counts of pairs or ratios")
    if augments is not None and name != "fewshot":
        raise ConfigError(f"--augment applies to the fewshot sweep, not {name} (table1 runs its own augmentations)")
    if base.train_options:
        raise ConfigError(f"--train-option applies to the {LEADERBOARD} sweep (a mixing schedule), not {name}")
    for aug in augments or ():
        if aug not in AUGMENTS:
            raise ConfigError(f"--augment: {unknown_choice('augmentation', aug, AUGMENTS)}")
    base = dataclasses.replace(
        base, models=tuple(base.models) or DEFAULT_MODELS[name], seeds=tuple(base.seeds) or DEFAULT_SEEDS[name]
    )
    runner.check_values(base)
    for ratio in ratios or ():
        runner.check_ratio(ratio, "--ratios")
    for count in pairs or ():
        runner.check_pairs(count, "--pairs")
    if pairs is not None:
        points = [{"train_pairs": count} for count in pairs]
    else:
        points = [{"train_ratio": ratio} for ratio in ratios or FEWSHOT_RATIOS]
    configs, missing = _CONFIGS[name](methods, points, augments or (base.augment,), base)
    runs = [
        SweepRun(label, dataclasses.replace(base, seeds=(seed,), **changes))
        for seed in base.seeds  # seed-major: a sweep stopped early still holds whole artifacts for its first seeds
        for label, changes in configs
    ]
    return Sweep(name, runs, missing)


Configs = list[tuple[str, dict[str, Any]]]


def _table1(methods, ratios, augments, base) -> tuple[Configs, list[str]]:
    configs: Configs = []
    for aug in TABLE1_DICE.values():
        shared = {"augment": aug, "train_on": "real+synthetic", "method": "diffuseexpand"}
        configs.append((f"Origin, augment {aug}", {**shared, "method": BASELINE, "train_on": "real"}))
        for ablation, label in TABLE1_ABLATIONS.items():
            if ablation == "cf":  # no guidance, so no temperature
                configs.append((f"{label}, augment {aug}", {**shared, "ablation": ablation}))
                continue
            for tau in TAUS:
                options = {"ablation": ablation, "method_options": {"tau": tau.value}}
                configs.append((f"{label} τ={tau.text}, augment {aug}", {**shared, **options}))
    return configs, []


def _chosen(wanted: tuple[str, ...], methods: tuple[str, ...] | None) -> tuple[list[str], list[str]]:
    """The artifact's methods (restricted to ``methods``) that are registered, and those that are not."""
    for m in methods or ():
        if m not in METHODS:
            raise ConfigError(f"--methods: {unknown_choice('method', m, tuple(METHODS))}")
        if not get_method(m).generates_pairs:
            raise ConfigError(f"--methods lists generating methods; '{m}' is the baseline every sweep runs anyway")
    names = [m for m in wanted if methods is None or m in methods]
    names += [m for m in methods or () if m not in names]
    return [m for m in names if m in METHODS], [m for m in names if m not in METHODS]


def _label(method: str) -> str:
    return f"{method} ({SHOWN_VARIANTS[method]})" if method in SHOWN_VARIANTS else method


def _variant(method: str) -> dict[str, Any]:
    """The variant the paper shows (DiffuseExpand with all four stages); every other method at its default."""
    return {"method": method, "ablation": SHOWN_VARIANTS.get(method)}


def _table2(methods, ratios, augments, base) -> tuple[Configs, list[str]]:
    present, missing = _chosen(METHOD_ORDER, methods)
    configs: Configs = [("Origin (real pairs, for Δ)", {"method": BASELINE, "train_on": "real"})]
    configs += [(f"{_label(m)}, synthetic only", {**_variant(m), "train_on": "synthetic"}) for m in present]
    return configs, missing


def _fewshot(methods, points, augments, base) -> tuple[Configs, list[str]]:
    present, missing = _chosen(FEWSHOT_METHODS, methods)
    configs: Configs = []
    for point in points:
        for aug in augments:
            at = {**point, "augment": aug}
            count = point.get("train_pairs")
            where = (f"{count} pairs" if count else f"ratio {point['train_ratio']:g}") + (
                f", augment {aug}" if aug != "none" else ""
            )
            configs.append((f"Origin, {where}", {"method": BASELINE, "train_on": "real", **at}))
            generated = {"train_on": "real+synthetic", **at}
            configs += [(f"{_label(m)}, {where}", {**_variant(m), **generated}) for m in present]
    return configs, missing


def _tau_vs_s(methods, ratios, augments, base) -> tuple[Configs, list[str]]:
    """The τ family at the preset's gradient scale s₀, the s family at s = v·s₀ and τ = 1 (Lemma 3.3: 1/τ = v)."""
    options, presets = method_options("diffuseexpand")
    s0 = merge_options(options, {}, presets.get(base.preset, {})).guidance_scale  # the preset's, resolved
    configs: Configs = [(f"1/τ = {tau.v}", {"method_options": {"tau": tau.value}}) for tau in TAUS]
    scales = [float(f"{v * s0:.6g}") for v in STRENGTHS if v != 1]  # v = 1 is τ = 1, run once above
    configs += [(f"s = {s:g}", {"method_options": {"tau": 1.0, "guidance_scale": s}}) for s in scales]
    shared = {"method": "diffuseexpand", "ablation": "cf+cg+cs", "train_on": "real+synthetic"}
    return [(label, {**shared, **changes}) for label, changes in configs], []


_CONFIGS: dict[str, Callable[..., tuple[Configs, list[str]]]] = {
    "table1": _table1,
    "table2": _table2,
    "fewshot": _fewshot,
    "tau-vs-s": _tau_vs_s,
}
SWEEPS = tuple(kind for kind in ARTIFACTS if kind in _CONFIGS)  # the artifacts that need runs of their own


def check_sweep(sweep: Sweep) -> None:
    """Plan and preflight every run (options, machine, output folder), and check that every train ratio or count of
    pairs leaves enough training pairs of the data set, before the first run trains anything. Each run keeps its
    checked request (:attr:`SweepRun.checked`): a sweep resolves a run's options once."""
    first = sweep.runs[0].request if sweep.runs else None
    data = check(resolve_dataset(first.dataset)[0], reading=first.masks) if first else None
    readable = data is not None and data.ok
    points = {(r.request.train_ratio, r.request.train_pairs) for r in sweep.runs} if readable else set()
    for ratio, count in sorted(points, key=str):
        try:  # a data set with errors, or too few pairs for any split, is refused by the first run's data check
            make_split(data.ids, 0, ratio, train_pairs=count)  # the split's sizes depend on the pairs, not the seed
        except DatasetError:
            break
        except ValueError as e:
            raise ConfigError(f"{'--pairs' if count is not None else '--ratios'}: {e}") from None
    for i, r in enumerate(sweep.runs):
        checked = runner.resolved_request(r.request)
        planned = runner.plan(r.request, checked)
        runner.preflight(r.request, planned)
        if sweep.name == LEADERBOARD and "~" in planned.settings:  # hashed: its row could not be read back
            raise ConfigError(
                f"{r.label}: its settings ({planned.settings}) are too long for its run folder to spell out, so the "
                "leaderboard could not tell its schedule or pretrained start; use a shorter --pretrained folder name"
            )
        sweep.runs[i] = dataclasses.replace(r, checked=checked)
