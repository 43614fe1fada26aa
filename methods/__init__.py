"""Expansion methods. To add one: write ``methods/<name>.py`` with an ``@register_method`` class and add a
line to ``METHODS`` below (name -> ``"module:Class"``, imported only when used)."""

from __future__ import annotations

import importlib

from methods.base import _REGISTRY, ExpansionMethod, _unknown

METHODS: dict[str, str] = {
    "origin": "methods.origin:Origin",
    "diffuseexpand": "methods.diffuseexpand:DiffuseExpand",
}


def get_method(name: str) -> type[ExpansionMethod]:
    """The method class registered as ``name``; unknown names raise KeyError with a suggestion."""
    if name not in METHODS:
        raise KeyError(_unknown("method", name, list(METHODS)))
    module, _, cls = METHODS[name].partition(":")
    importlib.import_module(module)
    found = _REGISTRY.get(name)
    if found is None or found.__name__ != cls:
        raise RuntimeError(f"{METHODS[name]} did not register a method named '{name}'")
    return found
