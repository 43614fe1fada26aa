"""The house's floors, read from the code's imports: nothing imports from a floor above it, no circles, no private
names taken across modules, no oversized files.

Every import counts, also one inside a function: a lazy import that runs back up is still an arrow back up.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "methods")
MAX_LINES = 420

# The harness: what builds on the methods. Everything else in bench/ is the ground floor that methods build on.
HARNESS = (
    "bench.cli",
    "bench.runner",
    "bench.expand",
    "bench.sweep",
    "bench.leaderboard_sweep",
    "bench.pretraining",
    "bench.artifacts",
    "bench.report",
    "bench.compare",
    "bench.__main__",
)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _floor(module: str) -> int:
    if module.startswith("methods"):
        return 1
    return 2 if any(module == h or module.startswith(h + ".") for h in HARNESS) else 0


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _imports(module: str) -> list[tuple[str, str | None]]:
    """(imported module, name taken from it or None) for every import statement of ``module``."""
    path = MODULES[module]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, path, node)
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.append((sub, None) if sub in MODULES else (source, alias.name))
    return [(m, n) for m, n in found if m.split(".")[0] in PACKAGES]


def _arrows() -> dict[str, set[str]]:
    return {m: {target for target, _ in _imports(m) if target in MODULES and target != m} for m in MODULES}


def test_nothing_imports_from_a_floor_above() -> None:
    up = [f"{m} -> {t}" for m, targets in _arrows().items() for t in targets if _floor(t) > _floor(m)]
    assert not up, "imports that run back up:\n" + "\n".join(sorted(up))


def test_no_circles() -> None:
    arrows = _arrows()
    # A package's face (__init__ that re-exports) is left out: importing a submodule runs its package's __init__,
    # which would otherwise tie every submodule to its siblings.
    faces = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    graph = {m: {t for t in ts if t not in faces} for m, ts in arrows.items() if m not in faces}
    state: dict[str, int] = {}
    circles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                circles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_no_private_name_taken_across_modules() -> None:
    taken = [
        f"{m} takes {n} from {t}"
        for m in MODULES
        for t, n in _imports(m)
        if n and n.startswith("_") and not n.startswith("__") and t != m
    ]
    assert not taken, "\n".join(taken)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_file_size(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(ROOT)} has {lines} lines"
