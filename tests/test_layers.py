"""The layers of STYLE.md, pinned: no module imports from a layer above its own.

    0  runicorn.errors, runicorn._version
    1  runicorn.store            imports nothing outside itself but layer 0
    2  runicorn.runfolder, runicorn.storage
    3  the SDK, the read API and what works on runs (restore, compare, bundles, maintenance, retention)
    4  runicorn.cli, runicorn.viewer, runicorn.demo, runicorn.__main__

Outside the store, the store is used through its package API (``runicorn.store``), never a submodule;
below the top layer nothing imports the package top (``runicorn``), and only the CLI imports click.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "runicorn"

LAYERS = {
    "runicorn.errors": 0, "runicorn._version": 0,
    "runicorn.store": 1,
    "runicorn.runfolder": 2, "runicorn.storage": 2,
    "runicorn.cli": 4, "runicorn.viewer": 4, "runicorn.demo": 4, "runicorn.__main__": 4,
}
DEFAULT_LAYER = 3  # runicorn.api, runicorn.sdk, runicorn.restore, ...


def layer_of(module: str) -> int:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return LAYERS[prefix]
    return DEFAULT_LAYER


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(path: Path, module: str) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in a file, made absolute."""
    module = module_name(path)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_of(path, module).split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, [alias.name for alias in node.names], node.lineno))
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "example_project" not in p.parts)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_module_imports_from_a_layer_above(path):
    module = module_name(path)
    own = layer_of(module)
    for target, names, line in imports(path):
        if not target.startswith("runicorn"):
            if target.split(".")[0] == "click":
                assert module.startswith("runicorn.cli"), f"{module}:{line} imports click outside the CLI"
            continue
        # The package top re-exports layers 0-3: only the top layer (the demo: a script over the public API) uses it.
        assert target != "runicorn" or own == 4, \
            f"{module}:{line} imports the package top; import the module that defines it"
        assert layer_of(target) <= own, f"{module}:{line} (layer {own}) imports {target} (layer {layer_of(target)})"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_the_store_is_used_through_its_package_api(path):
    module = module_name(path)
    if module.startswith("runicorn.store"):
        for target, _, line in imports(path):
            if target.startswith("runicorn"):
                assert target.startswith("runicorn.store") or target == "runicorn.errors", \
                    f"{module}:{line} imports {target}: the store imports nothing outside itself but the errors"
        return
    for target, _, line in imports(path):
        assert not target.startswith("runicorn.store."), \
            f"{module}:{line} imports {target}; use the package API, runicorn.store"


def test_the_layer_map_names_real_modules():
    names = {module_name(p) for p in SOURCES}
    for prefix in LAYERS:
        assert any(n == prefix or n.startswith(prefix + ".") for n in names), prefix
