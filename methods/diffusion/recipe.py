"""The recipe a ``bench pretrain`` folder records: the options its start is meant to be fine-tuned and sampled with,
so that ``--option pretrained=FOLDER`` alone gives the generator that was measured; and the reading of the folder's
record (:func:`read_record`, :func:`pretraining_of`), which a refusal does without torch.

Each options class declares its recipe once (``PRETRAINED_RECIPE``, plus the options a fine-tune keeps as they were
pretrained, ``KEPT_FROM_PRETRAINING``); ``bench pretrain`` writes :func:`recipe_of` into ``pretrain.json``, and a run
reads it back with :func:`read_recipe`, a layer between the preset and the user's own options. Imports no torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import ConfigError, tag_value
from bench.files import reading

RECORD = "pretrain.json"
"""What ``bench pretrain`` writes last into its folder (:mod:`methods.diffusion.pretrained`)."""
WEIGHTS = "diffusion_pytorch_model.safetensors"
SCHEDULE = "scheduler_config.json"  # the forward process and the prediction the weights were trained for
FLAG = "--option pretrained"
REMAKE = "pretrain it again with `bench pretrain` (or name another folder)"
"""What a run says of a pretrained folder whose files cannot be read."""


def made_by_bench(folder: str | Path | None) -> bool:
    """Whether ``folder`` is a ``bench pretrain`` folder (not a plain diffusers UNet, which is adapted instead)."""
    return folder is not None and (Path(folder) / RECORD).is_file()


def read_record(folder: str | Path, flag: str = FLAG) -> dict[str, Any]:
    """The ``pretrain.json`` of a folder ``bench pretrain`` wrote.

    Raises:
        ConfigError: naming ``flag`` and the folder, when it is no finished pretraining.
    """
    path = Path(folder) / RECORD
    if not all((Path(folder) / name).is_file() for name in (RECORD, WEIGHTS, SCHEDULE)):
        raise ConfigError(
            f"{flag}: {folder} is no finished `bench pretrain` folder (no {RECORD}, {WEIGHTS} or {SCHEDULE})"
        )
    with reading(path, "a `bench pretrain` record (JSON)", REMAKE, flag):
        return json.loads(path.read_text())


def pretraining_of(folder: str | Path, method: str, flag: str = FLAG) -> dict[str, Any]:
    """The record of ``folder``, a finished ``bench pretrain`` folder of ``method``.

    Raises:
        ConfigError: naming ``flag`` and the folder: no finished pretraining, or one of another method.
    """
    record = read_record(folder, flag)
    made_for = record.get("method") if isinstance(record, dict) else None
    if made_for is None:
        raise ConfigError(f"{flag}: {folder}/{RECORD} names no method; it is no `bench pretrain` record. {REMAKE}")
    if made_for != method:
        raise ConfigError(
            f"{flag}: {folder} holds a {made_for} generator, not one of {method}'s; pretrain with --method {method}"
        )
    return record


def recipe_of(options_cls: type, pretrained_with: dict[str, Any]) -> dict[str, Any]:
    """The recipe of a pretraining made with the options ``pretrained_with`` (of ``options_cls``): those a fine-tune
    keeps as they were pretrained, then the class's recommended ones."""
    kept = {k: pretrained_with[k] for k in getattr(options_cls, "KEPT_FROM_PRETRAINING", ()) if k in pretrained_with}
    return {**kept, **getattr(options_cls, "PRETRAINED_RECIPE", {})}


def spelled(values: dict[str, Any], joiner: str = ", ", prefix: str = "") -> str:
    """``key=value`` pairs as a user types them (``dynamic_thresholding=false``, ``cf_weight=1``)."""
    text = {k: str(v).lower() if isinstance(v, bool) else tag_value(v) for k, v in values.items()}
    return joiner.join(f"{prefix}{k}={v}" for k, v in text.items())


@dataclass(frozen=True)
class PretrainedRecipe:
    """What a run's pretrained folder asks for and what the run does with it.

    Attributes:
        folder: the folder as given.
        values: its recorded recipe; for a folder made before recipes were recorded, the recipe its options imply.
        recorded: whether the folder records it (only then is it applied).
        given: the user's own values of the recipe's options, which win over it.
    """

    folder: str
    values: dict[str, Any]
    recorded: bool
    given: dict[str, Any]

    @property
    def layer(self) -> dict[str, Any]:
        """The options the recipe sets in the run: the recorded ones the user did not give."""
        return {k: v for k, v in self.values.items() if k not in self.given} if self.recorded else {}

    def line(self) -> str | None:
        """The one console line saying what the recipe did (or, unrecorded, which options it would set)."""
        if self.recorded:
            if not self.values:
                return None
            applied = spelled(self.layer) or "nothing"
            given = f" (given instead: {spelled(self.given)})" if self.given else ""
            return f"pretrained: applied the recipe {self.folder} records, {applied}{given}"
        missing = {k: v for k, v in self.values.items() if k not in self.given}
        if not missing:
            return None
        return (
            f"note: {self.folder} records no recipe (pretrained before 0.12.0), so none is applied; its measured "
            f"start also takes {spelled(missing, ' ', '--option ')}"
        )


def read_recipe(method: str, options_cls: type, user: dict[str, Any]) -> PretrainedRecipe | None:
    """The recipe of the ``bench pretrain`` folder that ``user['pretrained']`` names, for a run of ``method``; None
    without one, or for a folder the run refuses anyway once its data is read (no finished pretraining, or one of
    another method: :class:`~methods.diffusion.pretrained.PretrainedStart`).

    Raises:
        bench.files.CorruptFileError: a ``pretrain.json`` that is no readable record, naming it.
    """
    folder = user.get("pretrained")
    if not isinstance(folder, str) or not (Path(folder) / RECORD).is_file():
        return None
    path = Path(folder) / RECORD
    with reading(path, "a `bench pretrain` record (JSON)", REMAKE, FLAG):
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or not isinstance(record.get("recipe", {}), dict):
            raise ValueError("no record, or a recipe that is no set of options")
    if record.get("method") != method:
        return None
    recorded = "recipe" in record
    pretrained_with = record.get("options") if isinstance(record.get("options"), dict) else {}
    values = record["recipe"] if recorded else recipe_of(options_cls, pretrained_with)
    given = {k: user[k] for k in values if user.get(k) is not None}
    return PretrainedRecipe(folder, values, recorded, given)
