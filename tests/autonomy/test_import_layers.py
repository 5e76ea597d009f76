"""Imports point down only: the project shell (`autonomy` outside `core`) → workflows →
agents → governance → autonomy.core. Every module of the four packages (migrations
included: they import their own app's models) is read with `ast`, every import in it
(module level or inside a function, absolute or relative) is placed in its layer, and an
import of a higher layer fails, naming the file and line. Django, DRF and every other
third-party or standard library module are below all layers and always allowed.

An app lower down reaches an app above through a registry the upper app fills at start-up
(governance.links, governance.epochs.kind, agents.hooks, agents.review), never by import.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("autonomy", "agents", "governance", "workflows")

# Lowest first: a module may import its own layer and those below it.
LAYERS = ("autonomy.core", "governance", "agents", "workflows", "autonomy")


def layer_of(module: str) -> str | None:
    """The layer of a dotted module name, or None for a module that is not ours."""
    if module == "autonomy.core" or module.startswith("autonomy.core."):
        return "autonomy.core"
    top = module.split(".")[0]
    return top if top in PACKAGES else None


def module_name(path: Path) -> str:
    """The dotted name of a source file under ROOT (a package by its __init__.py)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool = False):
    """(line, dotted name) of every module `source`'s imports name, wherever they stand.

    `from package import name` counts as `package.name` (a submodule or an attribute: both
    belong to the package's layer, and `from autonomy import core` is the toolkit's)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def upward_imports(path: Path, source: str) -> list[str]:
    """`file:line imports name (layer above)` for each import of `source` that points up."""
    module = module_name(path)
    own = LAYERS.index(layer_of(module))
    found = []
    for line, name in imported_modules(source, module, path.name == "__init__.py"):
        layer = layer_of(name)
        if layer is not None and LAYERS.index(layer) > own:
            where = path.relative_to(ROOT)
            found.append(f"{where}:{line} imports {name} ({layer} is above {LAYERS[own]})")
    return found


def source_files() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_no_module_imports_a_layer_above_its_own():
    files = source_files()
    assert len(files) > 100  # the walk found the tree
    problems = [p for path in files for p in upward_imports(path, path.read_text())]
    assert problems == [], "imports that point up:\n" + "\n".join(problems)


def test_the_walker_places_modules_and_finds_every_kind_of_import():
    assert layer_of("autonomy.core.serializers") == "autonomy.core"
    assert layer_of("autonomy.settings") == "autonomy"
    assert layer_of("workflows.models.inbox") == "workflows"
    assert layer_of("rest_framework.serializers") is None
    serializers = ROOT / "autonomy" / "core" / "serializers.py"
    names = {
        name for _, name in imported_modules(serializers.read_text(), "autonomy.core.serializers")
    }
    assert "autonomy.core.api_fields" in names
    relative = "from . import pdp\nfrom ..models import Policy\n"
    assert [name for _, name in imported_modules(relative, "governance.api.policies")] == [
        "governance.api.pdp",
        "governance.models.Policy",
    ]
    # Upward imports at module level and inside a function; the toolkit is allowed.
    source = (
        "from rest_framework import serializers\n"
        "from autonomy import core, urls\n"
        "def late():\n"
        "    from workflows.models import ActionRequest\n"
    )
    assert upward_imports(ROOT / "governance" / "api" / "example.py", source) == [
        "governance/api/example.py:2 imports autonomy.urls (autonomy is above governance)",
        "governance/api/example.py:4 imports workflows.models.ActionRequest"
        " (workflows is above governance)",
    ]
