"""The verdict of an expansion: what its numbers say, in five parts, and the paired t-test behind "it helps".

It says how well generated images follow their masks (the method's own real-data network, DiffuseExpand
``cf+cg+cs``'s stage-IV filter: its Dice on the generated pairs against its Dice on the real pairs it was trained
on), how many generated images are near-copies of real ones, whether the filter kept enough pairs, and the paired
downstream Dice Δ against ``origin`` when it was measured (``bench.expand.downstream``). It recommends the
expansion only when that Δ is positive beyond its seed spread (its 95 % interval, from a paired t-test over the
seeds, lies above 0: :mod:`bench.stats`) and no generated image is a near-copy of a real one.
"""

from __future__ import annotations

import shlex
import statistics
from typing import Any

from bench.expand.folder import CLOSEST_PNG
from bench.stats import POWER, PairedDelta

CLOSE_DICE_GAP = 0.05  # generated Dice at most this far below real Dice: "about as well as real images"
FAR_DICE_GAP = 0.15  # further than this: "much less well"
LOW_PASS_RATE = 0.1  # a filter passing fewer is said to keep few pairs
WEAK_NETWORK_DICE = 0.7  # a real-data network below this Dice on its own training pairs checks little
MANY_COPIES = 0.5  # a share of near-copies from which the verdict warns
DOWNSTREAM = "downstream: benefit not measured (--evaluate SEEDS measures the paired Δ vs origin on held-back splits)"


def make_verdict(
    *,
    method: str,
    ablation: str,
    dataset: str,
    preset: str,
    filters: bool,
    counts: dict[str, int],
    real_pairs: int,
    generated_dice: list[float],
    real_dice: float | None,
    memorisation: dict[str, Any] | None,
    memorisation_reason: str = "",
    evaluation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What an expansion's numbers say, in five parts, each with its figures and a ``text`` line.

    Args:
        method, ablation, dataset, preset: the request (for the ``bench run`` command it suggests).
        filters: the method filters its pairs.
        counts: ``generated``, ``kept``, ``relabelled``, ``dropped``, ``written``.
        real_pairs: real pairs the method was fitted on.
        generated_dice: the method's real-data network's Dice on each generated pair (empty without one).
        real_dice: the same network's mean Dice on the real pairs it was trained on, or None without one.
        memorisation: the memorisation figures (``bench.metrics.memorisation``), or None.
        memorisation_reason: why they are missing.
        evaluation: the paired downstream Dice of :func:`evaluate_downstream`, or None when not asked for.

    Returns:
        ``{"masks", "copies", "filter", "downstream", "recommendation", "lines"}``; ``lines`` are the five texts in
        that order. ``recommendation["recommended"]`` is True only when the paired Δ is positive beyond its seed
        spread (its 95 % interval over two seeds or more lies above 0), no generated image is a near-copy, and the
        filter passed pairs; otherwise ``failed`` lists the checks that did not pass.

    Notes:
        The real-data Dice is measured on the network's own training images, so it is an optimistic reference:
        generated pairs scoring close to it follow their masks about as well as real images do.
    """
    n = counts["generated"]
    if generated_dice and real_dice is not None:
        mean = sum(generated_dice) / len(generated_dice)
        gap = real_dice - mean
        how = (
            "about as well as"
            if gap <= CLOSE_DICE_GAP
            else "somewhat less well than"
            if gap <= FAR_DICE_GAP
            else "much less well than"
        )
        weak = (
            f" (but the network segments even its own training images poorly, Dice under {WEAK_NETWORK_DICE}, so "
            "this check says little; a larger preset trains it longer)"
            if real_dice < WEAK_NETWORK_DICE
            else ""
        )
        masks = {
            "available": True,
            "dice_generated": round(mean, 4),
            "dice_real": round(real_dice, 4),
            "weak_network": real_dice < WEAK_NETWORK_DICE,
            "text": f"masks: the method's filter network, trained on the {real_pairs} real pairs, scores Dice "
            f"{mean:.3f} on the {len(generated_dice)} generated pairs against {real_dice:.3f} on the real images it "
            f"was trained on: the generated images follow their masks {how} real images do{weak}",
        }
    else:
        masks = {
            "available": False,
            "text": f"masks: not available for {method} ({ablation}) on these masks: no segmentation network trained "
            "on the real pairs to check generated pairs with (DiffuseExpand cf+cg+cs on binary masks has one: its "
            "stage-IV filter)",
        }
    if memorisation:
        share, pixel = float(memorisation["share_closer_than_real"]), float(memorisation["share_copies"])
        close, copied = round(share * n), round(pixel * n)
        warning = f"; many look like near-copies: see {CLOSEST_PNG}" if max(share, pixel) >= MANY_COPIES else ""
        copies = {
            "available": True,
            "near_copies": close,
            "share": round(share, 4),
            "pixel_copies": copied,
            "pixel_share": round(pixel, 4),
            "text": f"copies: {copied} of {n} generated images ({pixel:.0%}) are closer in pixels (SSIM) to a real "
            f"image than any real image is to another, {close} ({share:.0%}) closer in Inception features than the "
            f"median real image is to its nearest other one (copies score 100%, unrelated images 0%){warning}",
        }
    else:
        copies = {
            "available": False,
            "text": f"copies: not measured ({memorisation_reason or 'no memorisation figures'})",
        }
    usable, rate = counts["written"], counts["written"] / max(1, n)
    if filters:
        enough = usable > 0 and rate >= LOW_PASS_RATE
        judgement = (
            "enough passed"
            if enough
            else "none passed: the output holds no pairs to train on; generate more (--n) or use a larger preset"
            if usable == 0
            else f"few passed (under {LOW_PASS_RATE:.0%}): generate more (--n) or use a larger preset"
        )
        text = (
            f"filter: {counts['kept']} kept + {counts['relabelled']} relabelled of {n} generated (pass rate "
            f"{rate:.0%}): {usable} pairs to add to the {real_pairs} real ones; {judgement}"
        )
    else:
        enough = None
        text = f"filter: {method} ({ablation}) has no filter: all {n} generated pairs are written unchecked"
    command = f"bench run --method {method} --ablation {ablation} --dataset {shlex.quote(dataset)} --preset {preset}"
    if evaluation is None:
        downstream = {"measured": False, "command": command, "text": f"{DOWNSTREAM} (e.g. `{command}`)"}
    else:
        downstream = _downstream_part(evaluation, command)
    filtered = {"filters": filters, "written": usable, "pass_rate": round(rate, 4), "enough": enough, "text": text}
    failed = []
    if not downstream["measured"]:
        failed.append("the downstream benefit was not measured (--evaluate SEEDS measures it)")
    elif not downstream["helps"]:
        failed.append("the paired downstream Δ is not positive beyond the seed spread")
    if not copies["available"]:
        failed.append("memorisation was not measured")
    elif copies["near_copies"] or copies["pixel_copies"]:
        worst = max(copies["near_copies"], copies["pixel_copies"])
        failed.append(f"{worst} generated image(s) are near-copies of real ones")
    if filters and not usable:
        failed.append("the filter passed no pair")
    recommendation = {
        "recommended": not failed,
        "failed": failed,
        "text": "recommendation: RECOMMENDED: the generated pairs improved the held-back Dice beyond the seed spread "
        "and none is a near-copy"
        if not failed
        else "recommendation: not recommended: " + "; ".join(failed),
    }
    parts = {
        "masks": masks,
        "copies": copies,
        "filter": filtered,
        "downstream": downstream,
        "recommendation": recommendation,
    }
    return {**parts, "lines": [p["text"] for p in parts.values()]}


def _downstream_part(e: dict[str, Any], command: str) -> dict[str, Any]:
    """The verdict's downstream part from :func:`bench.expand.downstream.evaluate_downstream`'s figures: it helps
    when the paired Δ's 95 % interval lies above 0."""
    d = paired(e)
    helps = d.significant and d.mean > 0
    if d.p is None:
        how = (
            "one seed gives no interval to compare Δ with: evaluate two or more seeds"
            if d.seeds == 1
            else "the seeds' Δ do not vary, so there is no interval to compare Δ with"
        )
    elif helps:
        how = "a gain beyond the seed spread (its 95 % interval lies above 0)"
    elif d.mean <= 0:
        how = "no gain"
    else:
        how = (
            "no gain beyond the seed spread (its 95 % interval includes 0; these seeds detect a Δ of "
            f"{d.detectable_text()} with {POWER:.0%} power)"
        )
    text = (
        f"downstream: {e['model']} trained on {e['train_pairs']} real pairs with and without the generated ones, "
        f"Dice on {e['test_pairs']} held-back pairs, seed(s) {','.join(map(str, e['seeds']))}: origin "
        f"{statistics.fmean(e['dice_origin']):.4f}, expanded {statistics.fmean(e['dice_expanded']):.4f}, paired Δ "
        f"{d.text()} over {d.seeds} seed(s) (paired t-test over seeds): {how}"
    )
    for name, x in (e.get("external") or {}).items():  # the same models on sets no stage saw
        if x["delta_mean"] is not None:
            text += (
                f"; on the external set {name}: origin {statistics.fmean(x['dice_origin']):.4f}, expanded "
                f"{statistics.fmean(x['dice_expanded']):.4f}, paired Δ {paired(x).text()}"
            )
    return {"measured": True, "helps": helps, "command": command, **e, "text": text}


def paired(e: dict[str, Any]) -> PairedDelta:
    """The paired Δ of :func:`bench.expand.downstream.evaluate_downstream`'s figures (or one external set's)."""
    figures = (e["delta_low"], e["delta_high"], e["p_value"], e["method"])
    return PairedDelta(e["delta_mean"], *figures, len(e["seeds"]), 0, e["detectable"])
