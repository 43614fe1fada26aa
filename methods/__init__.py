"""Expansion methods. To add one: write ``methods/<name>.py`` with an ``@register_method`` class and add a
row to ``METHODS`` below (imported only when used).

A row carries what ``bench methods`` lists (version, variants, description), so listing methods imports none of
their dependencies; :func:`get_method` checks that the row matches the class, so the two cannot drift apart.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from methods.base import ExpansionMethod


@dataclass(frozen=True)
class MethodEntry:
    """One registry row: where the class is (``"module:Class"``) and what ``bench methods`` shows of it."""

    target: str
    version: str
    variants: tuple[str, ...]
    description: str


METHODS: dict[str, MethodEntry] = {
    "origin": MethodEntry(
        "methods.origin:Origin", "1", ("none",), "No expansion: train on the real training split only."
    ),
    "diffuseexpand": MethodEntry(
        "methods.diffuseexpand:DiffuseExpand",
        "2",
        ("cf+cg+cs", "cf+cg", "cf"),
        "Diffusion-generated image-mask pairs with segmenter guidance and Dice filtering (DiffuseExpand).",
    ),
    "xlsor": MethodEntry(
        "methods.xlsor:XLSor",
        "1",
        ("full", "geometric"),
        "Real pairs warped jointly (affine + elastic), with simulated lung opacities in the image (XLSor).",
    ),
    "synthmed": MethodEntry(
        "methods.synthmed:Synthmed",
        "1",
        ("dual", "pix2pix"),
        "Dual GAN: GAN-sampled masks translated into images by a pix2pix GAN (Synthmed).",
    ),
    "joint": MethodEntry(
        "methods.joint:Joint",
        "1",
        ("default",),
        "One unconditional denoiser samples image and mask together as channels (joint diffusion).",
    ),
}


def get_method(name: str) -> type[ExpansionMethod]:
    """The method class registered as ``name``; unknown names raise KeyError with a suggestion.

    Raises:
        KeyError: an unknown name.
        RuntimeError: the module does not register the class, or the class disagrees with its ``METHODS`` row.
    """
    from methods.base import REGISTRY, unknown_choice

    if name not in METHODS:
        raise KeyError(unknown_choice("method", name, list(METHODS)))
    entry = METHODS[name]
    module, _, cls = entry.target.partition(":")
    importlib.import_module(module)
    found = REGISTRY.get(name)
    if found is None or found.__name__ != cls:
        raise RuntimeError(f"{entry.target} did not register a method named '{name}'")
    listed = (entry.version, entry.variants, entry.description)
    if (found.version, found.variants, found.description) != listed:
        raise RuntimeError(
            f"methods/__init__.py lists '{name}' as {listed}, but {entry.target} declares "
            f"{(found.version, found.variants, found.description)}; update its METHODS row"
        )
    return found
