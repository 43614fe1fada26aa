"""What a user asks ``bench expand`` for, planned with ``bench run``'s planning, and the identity that decides
whether an earlier expansion in ``--out`` is this very one. Imports no torch, so that the CLI refuses a bad value at
once (:func:`check_expand_request`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.config import ConfigError, check_type
from bench.data import fingerprint
from bench.masks import MaskReading
from bench.runner.request import CheckedRequest, Request, checked_request
from methods import method_entry

if TYPE_CHECKING:
    import torch

    from bench.cards import DatasetCard
    from bench.pairs import PairSet
    from bench.runner.planning import Plan


@dataclass
class ExpandRequest:
    """What a user asks ``bench expand`` for. ``n`` pairs are generated (before the filter)."""

    method: str
    dataset: str
    n: int
    out: Path
    ablation: str | None = None
    preset: str = "cpu"
    seed: int = 0
    method_options: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    force: bool = False
    cache: Path = Path("runs")
    inception_weights: Path | None = None
    evaluate: tuple[int, ...] = ()
    test_sets: tuple[str, ...] = ()  # external test sets of the --evaluate runs (bench.testsets)
    masks: MaskReading = MaskReading()  # how mask files are read (--mask-threshold, --mask-suffix)


def plan_expansion(req: ExpandRequest, checked: CheckedRequest | None = None) -> tuple[Plan, torch.device]:
    """Resolve and validate a request with ``bench run``'s planning, without loading anything; ``checked``:
    :func:`check_expand_request`'s result for it when the caller made it already (then its options are not
    resolved again).

    Returns:
        The plan (method class, ablation, resolved options, training config, image size, ``n``) and the device.

    Raises:
        ConfigError: naming the bad value: ``--n`` < 1, a negative ``--seed``, an unknown method / ablation /
            preset / option, a method that generates no pairs, a device this machine lacks, an ``--out`` or
            ``--cache`` that cannot be written, a missing ``--inception-weights`` file.
    """
    from bench.runner.machine import check_inception_weights, check_writable, resolve_device
    from bench.runner.planning import plan

    checked = check_expand_request(req, checked)
    pl = plan(run_request(req), checked)
    device = resolve_device(req.device)
    check_writable(Path(req.out))
    check_writable(Path(req.cache), "--cache")
    check_inception_weights(req.inception_weights)
    return pl, device


def check_expand_request(req: ExpandRequest, checked: CheckedRequest | None = None) -> CheckedRequest:
    """The checks of a request that need neither its method's code nor its data, in the order
    :func:`plan_expansion` makes them; cheap enough for the CLI to run before it imports torch. ``checked``: an
    earlier result of these checks, whose ``bench run`` request's part is reused where it is this request's (the
    checks of ``bench expand``'s own values, such as ``--evaluate``, are made every time).

    Returns:
        Its ``bench run`` request's checks (:func:`bench.runner.request.checked_request`): the image size the
        expansion trains at, and the options resolved once for the plan.

    Raises:
        ConfigError: naming the bad value.
    """
    n = check_type(req.n, int, "--n")
    if n < 1:
        raise ConfigError(f"--n must be >= 1 (pairs to generate), got {n}")
    seed = check_type(req.seed, int, "--seed")
    if seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {seed}")
    if any(s < 0 for s in req.evaluate) or len(set(req.evaluate)) != len(req.evaluate):
        raise ConfigError(f"--evaluate: distinct seeds >= 0, got {','.join(map(str, req.evaluate))}")
    if req.test_sets and not req.evaluate:
        raise ConfigError("--test-set scores the --evaluate runs: give --evaluate SEEDS with it")
    request = run_request(req)
    if checked is None or checked.request != request:
        checked = checked_request(request)
    if not method_entry(req.method).generates_pairs:
        raise ConfigError(f"method '{req.method}' generates no pairs: there is nothing to expand with it")
    return checked


def run_request(req: ExpandRequest) -> Request:
    """The ``bench run`` request whose plan is this expansion's (one seed, the cache as its output root)."""
    return Request(
        method=req.method,
        ablation=req.ablation,
        dataset=req.dataset,
        seeds=(req.seed,),
        preset=req.preset,
        out=Path(req.cache),
        n_synthetic=req.n,
        method_options=dict(req.method_options),
        wandb="disabled",
        force=req.force,
        device=req.device,
        inception_weights=req.inception_weights,
        masks=req.masks,
        test_sets=tuple(req.test_sets),
    )


def evaluated_sets(req: ExpandRequest, pl: Plan, card: DatasetCard | None) -> dict[str, str]:
    """Name -> content fingerprint of each external set the ``--evaluate`` runs are scored on (a card's default
    sets found on this machine included), so that a set whose folder changed is never taken from an earlier verdict.

    Raises:
        bench.pairs.DatasetError: a set named by ``--test-set`` that is not found or fails its check.
    """
    from bench.pairs import DatasetError
    from bench.testsets import chosen, load

    if not req.evaluate:
        return {}
    names, asked = chosen(tuple(req.test_sets), card)
    found = {}
    for name in names:
        try:
            test_set = load(name, pl.image_size, 1, asked, req.masks)
        except DatasetError:
            if asked:
                raise
            continue
        found[test_set.name] = test_set.fingerprint
    return found


def request_identity(
    req: ExpandRequest, pl: Plan, real: PairSet, test_sets: dict[str, str] | None = None
) -> dict[str, Any]:
    """Everything that decides an expansion's contents, as JSON values: two requests with equal identities
    give the same folder, so the second one reuses the first's (the device and the cache folder are not part).
    ``test_sets``: :func:`evaluated_sets`, whose contents decide the verdict's external figures."""
    from methods.base import options_dict

    identity = {
        "method": pl.method_cls.name,
        "method_version": pl.method_cls.version,
        "ablation": pl.ablation,
        "options": options_dict(pl.options),
        "preset": req.preset,
        "seed": req.seed,
        "n": pl.n_synthetic,
        "image_size": pl.image_size,
        "train": pl.train.to_dict(),
        "data": {"fingerprint": fingerprint(real), "pairs": len(real)},
    }
    if req.evaluate:
        identity["evaluate"] = list(req.evaluate)
    if test_sets:
        identity["test_sets"] = test_sets
    return json.loads(json.dumps(identity, default=str))
