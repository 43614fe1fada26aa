"""Expansion methods, one registry row each. To add one: write ``methods/<name>.py`` (or a package) with an
``ExpansionMethod`` subclass decorated ``@register_method("<name>")``, and add its row to ``METHODS`` below.

The row is the one place a method's name, version, ablation variants, description and whether it generates pairs
are written: ``register_method`` gives them to the class, and ``bench methods`` or a check of a method or ablation
name reads them here, importing none of the methods' dependencies (torch, diffusers, monai, ...). The class itself
is imported only when :func:`get_method` is asked for it, by the module path of its row.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MethodEntry:
    """One registry row.

    Attributes:
        target: where the class is, ``"module:Class"``.
        version: bump on any behaviour change and log it in CHANGELOG.md.
        variants: ablation names accepted by ``--ablation``; the first is the default.
        description: one line for ``bench methods``.
        generates_pairs: False for a method that adds no pairs (``origin``): its runs train on real data only.
        options: ``("module:OptionsClass", "module:PRESETS")``, the class's ``Options`` and ``presets``, when they
            live in modules that import no torch: ``--option`` values are then refused before any heavy import
            (:func:`method_options`); empty for a method whose options are checked only once its class is loaded.
    """

    target: str
    version: str
    variants: tuple[str, ...]
    description: str
    generates_pairs: bool = True
    options: tuple[str, str] | tuple[()] = ()


METHODS: dict[str, MethodEntry] = {
    "origin": MethodEntry(
        "methods.origin:Origin",
        "1",
        ("none",),
        "No expansion: train on the real training split only.",
        generates_pairs=False,
    ),
    "diffuseexpand": MethodEntry(
        "methods.diffuseexpand.method:DiffuseExpand",
        "2",
        ("cf+cg+cs", "cf+cg", "cf"),
        "Diffusion-generated image-mask pairs with segmenter guidance and Dice filtering (DiffuseExpand).",
        options=("methods.diffuseexpand.options:DiffuseExpandOptions", "methods.diffuseexpand.options:PRESETS"),
    ),
    "xlsor": MethodEntry(
        "methods.xlsor:XLSor",
        "1",
        ("full", "geometric"),
        "Real pairs warped jointly (affine + elastic), with simulated lung opacities in the image (XLSor).",
    ),
    "synthmed": MethodEntry(
        "methods.synthmed.method:Synthmed",
        "1",
        ("dual", "pix2pix"),
        "Dual GAN: GAN-sampled masks translated into images by a pix2pix GAN (Synthmed).",
        options=("methods.synthmed.options:SynthmedOptions", "methods.synthmed.options:PRESETS"),
    ),
    "joint": MethodEntry(
        "methods.joint.method:Joint",
        "1",
        ("default",),
        "One unconditional denoiser samples image and mask together as channels (joint diffusion).",
        options=("methods.diffusion.options:JointOptions", "methods.diffusion.options:DENOISER_PRESETS"),
    ),
    "genseg": MethodEntry(
        "methods.genseg.method:GenSeg",
        "1",
        ("separate", "end2end"),
        "Augmented real masks translated by a pix2pix GAN whose architecture a segmenter's validation loss tunes "
        "(GenSeg).",
        options=("methods.genseg.options:GenSegOptions", "methods.genseg.options:PRESETS"),
    ),
}


def unknown_choice(kind: str, given: str, available: tuple[str, ...] | list[str], where: str = "") -> str:
    """The message for an unknown name: the closest known one as a suggestion, then every known one."""
    close = difflib.get_close_matches(given, list(available), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"unknown {kind} '{given}'{where}.{hint} Available: {', '.join(sorted(available))}"


def method_entry(name: str) -> MethodEntry:
    """The row of method ``name``.

    Raises:
        KeyError: an unknown name, with a suggestion.
    """
    if name not in METHODS:
        raise KeyError(unknown_choice("method", name, list(METHODS)))
    return METHODS[name]


def check_ablation(name: str, ablation: str | None) -> str:
    """The ablation variant of method ``name`` that ``ablation`` selects (None: the method's first).

    Raises:
        KeyError: an unknown method or variant, with a suggestion.
    """
    variants = method_entry(name).variants
    if ablation is None:
        return variants[0]
    if ablation not in variants:
        raise KeyError(unknown_choice("ablation", ablation, variants, f" for method '{name}'"))
    return ablation


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def method_options(name: str) -> tuple[type, dict[str, dict[str, Any]]]:
    """The options class of method ``name`` and its per-preset overrides (``Options``, ``presets``), from the light
    modules its row names, else from the method class itself (which imports its dependencies)."""
    entry = method_entry(name)
    if entry.options:
        return _load(entry.options[0]), _load(entry.options[1])
    cls = get_method(name)
    return cls.Options, cls.presets


def get_method(name: str) -> type:
    """The method class (a :class:`methods.base.ExpansionMethod` subclass) registered as ``name``, imported from its
    row's module.

    Raises:
        KeyError: an unknown name, with a suggestion.
        RuntimeError: the module does not register that class under ``name``.
    """
    entry = method_entry(name)
    module, _, cls = entry.target.partition(":")
    found = getattr(importlib.import_module(module), cls, None)
    if getattr(found, "name", None) != name:
        raise RuntimeError(f"{entry.target} did not register a method named '{name}'")
    return found
