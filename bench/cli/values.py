"""Option values as the verbs receive them: comma-separated lists, numbers, ``KEY=VALUE`` pairs and fractions
such as ``1/3``. A value that cannot be read is refused with a message naming its option."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import yaml

from bench.cli.console import fail


def names(value: str, flag: str) -> tuple[str, ...]:
    """The items of a comma-separated option value of names; an empty value or item (``none,,nnunet``) is an error
    naming ``flag`` rather than read as the default or skipped."""
    items = tuple(v.strip() for v in value.split(","))
    if not all(items):
        fail(f"{flag}: empty {'item in' if any(items) else 'value'} {value!r}; give a comma-separated list")
    return items


def numbers(value: str, flag: str, cast: type[int] | type[float] = int) -> tuple:
    """The items of a comma-separated option value of numbers; one that is not a number is an error naming
    ``flag``, the option it came from, as is an empty value or item (:func:`names`)."""
    items = names(value, flag)
    try:
        return tuple(cast(v) for v in items)
    except ValueError:
        kind = "whole numbers" if cast is int else "numbers"
        fail(f"{flag}: cannot parse {value!r} as a comma-separated list of {kind}")


def number(text: str) -> Any:
    """YAML scalar, plus fractions such as ``1/3`` (the paper's τ values) and exponents without a dot such as
    ``3e-4`` (YAML 1.1, which PyYAML reads, takes those for strings)."""
    if "/" in text:
        try:
            return float(Fraction(text))
        except (ValueError, ZeroDivisionError):
            pass
    if re.fullmatch(r"[-+]?\d+[eE][-+]?\d+", text):
        return float(text)
    return yaml.safe_load(text)


def key_values(items: list[str] | None, flag: str) -> dict[str, Any]:
    """Repeated ``KEY=VALUE`` options as a dict (dashes in keys read as underscores, values as :func:`number`); a
    KEY given twice is an error rather than the last one winning unseen."""
    out, given = {}, {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"{flag} expects KEY=VALUE, got {item!r}")
        key = key.strip().replace("-", "_")
        if key in given:
            fail(f"{flag} {key} given twice ({given[key]!r}, {item!r}); give each KEY once")
        given[key], out[key] = item, number(value.strip())
    return out
