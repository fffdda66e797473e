"""The architecture rules, read from the source: layers import only downwards, ops name no array module."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "wengert"

# Lower layers first; a module may import its own layer and those before it.
LAYERS = ["core", "ops", "numpy", "gradcheck", "autograd", "func", "lazy", "distributed", "nn", "models", "optim",
          "data", "storage", "checkpoint", "serialization", "graph", "viz", "explain", "compile", "training", "cli",
          "__main__"]


def layer_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def wengert_imports(path: Path) -> set[str]:
    """The top-level wengert subpackages or modules that ``path`` imports."""
    tree = ast.parse(path.read_text())
    package_parts = path.relative_to(PACKAGE).parts[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package_parts[: len(package_parts) - node.level + 1]
                target = [*base, *(node.module.split(".") if node.module else [])]
                if target:
                    found.add(target[0])
                else:  # "from . import x" at the top level
                    found.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith("wengert."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names if alias.name.startswith("wengert."))
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_import_only_downwards(path):
    layer = layer_of(path)
    assert layer == "__init__" or layer in LAYERS, f"{path.name}: add its layer to LAYERS"
    if layer == "__init__":
        return
    allowed = set(LAYERS[: LAYERS.index(layer) + 1])
    assert wengert_imports(path) <= allowed, f"{path.name} imports above its layer"


@pytest.mark.parametrize("path", sorted((PACKAGE / "ops").glob("*.py")), ids=lambda p: p.name)
def test_op_modules_never_name_an_array_module(path):
    tree = ast.parse(path.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names} | {node.module for node in ast.walk(tree)
                                            if isinstance(node, ast.ImportFrom) and node.module}
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    forbidden = {"numpy", "np", "cupy", "cp"}
    assert not forbidden & {name.split(".")[0] for name in imported}
    assert not forbidden & names


def test_the_layer_check_sees_imports():
    # guard against a checker that silently finds nothing
    assert "core" in wengert_imports(PACKAGE / "ops" / "elementwise.py")
    assert wengert_imports(PACKAGE / "core" / "function.py") == {"core"}
