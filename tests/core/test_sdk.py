"""The plugin front door: plugins import only `core.sdk`, the platform never imports a
plugin, and every name the front door exports exists and is documented."""

from __future__ import annotations

import ast
import inspect
import types
from pathlib import Path

import pytest

import core.sdk

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = ("core", "tenants", "worker")
FRONT_DOOR = "core.sdk"


def _modules(*folders: str) -> list[Path]:
    return sorted(
        p for folder in folders if (ROOT / folder).is_dir() for p in (ROOT / folder).rglob("*.py")
    )


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, those inside functions and
    `if TYPE_CHECKING:` included; `from a import b` counts as a.b (b may be a module)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _private(module: str) -> bool:
    """A module of the platform other than the front door."""
    return (
        module.split(".")[0] in PLATFORM
        and module != FRONT_DOOR
        and not module.startswith(FRONT_DOOR + ".")
    )


def _a_plugin(module: str) -> bool:
    return module.split(".")[0] == "plugins"


def test_plugins_import_from_the_platform_only_through_the_front_door():
    files = _modules("plugins", "examples")
    assert len(files) > 40  # the eight built-in plugins are walked
    private = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in _imports(path)
        if _private(module)
    ]
    assert private == [], "plugins may import only core.sdk from the platform"


def test_the_platform_never_imports_a_plugin():
    files = _modules(*PLATFORM)
    assert len(files) > 40
    into_plugins = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in _imports(path)
        if _a_plugin(module)
    ]
    assert into_plugins == []


def test_the_import_rules_see_hidden_imports(tmp_path):
    """The rules are not blind: imports inside functions and TYPE_CHECKING blocks count."""
    module = tmp_path / "sneaky.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "from core.sdk import hookimpl\n"
        "from core import sdk\n"
        "if TYPE_CHECKING:\n    from tenants.models import Tenant\n"
        "def f():\n    from core.loyalty.ledger import earn\n    import worker.jobs\n"
        "    from plugins.tiers import services\n"
    )
    imported = [m for _line, m in _imports(module)]
    assert [m for m in imported if _private(m)] == [
        "tenants.models.Tenant",
        "core.loyalty.ledger.earn",
        "worker.jobs",
    ]
    assert [m for m in imported if _a_plugin(m)] == ["plugins.tiers.services"]


def test_all_names_the_public_surface():
    public = {name for name in vars(core.sdk) if not name.startswith("_")}
    assert set(core.sdk.__all__) == public
    assert len(core.sdk.__all__) == len(set(core.sdk.__all__))


@pytest.mark.parametrize("name", core.sdk.__all__)
def test_every_exported_name_resolves_and_is_documented(name):
    value = getattr(core.sdk, name)
    if isinstance(value, type):
        doc = value.__dict__.get("__doc__") or ""
        # a dataclass without a docstring gets its signature as one
        assert doc.strip() and not doc.startswith(f"{value.__name__}("), name
    elif callable(value) or isinstance(value, types.ModuleType):
        assert (inspect.getdoc(value) or "").strip(), name
    else:  # a constant: described in the front door's own docstring
        assert f"``{name}``:" in core.sdk.__doc__, name
