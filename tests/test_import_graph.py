"""The import graph of core/, tenants/, worker/ and plugins/ has no circle.

Every import counts, at module level or inside a function (an import hidden in a
function to dodge a circle is still a circle), except those under
`if TYPE_CHECKING:`, which never run. An edge goes to the module named: `from a.b
import c` points at `a.b.c` when that is a module of the tree, else at `a.b`; the
parent packages a Python import also runs are not counted as edges.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("core", "tenants", "worker", "plugins")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")}


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes that sit under `if TYPE_CHECKING:`."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                hidden.update(id(n) for n in ast.walk(child))
    return hidden


def _targets(node: ast.AST, module: str, is_package: bool, known: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert isinstance(node, ast.ImportFrom)
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([base] if base else []))
    found = []
    for alias in node.names:
        child = f"{base}.{alias.name}"
        found.append(child if child in known else base)
    return found


def import_graph(sources: dict[str, Path]) -> dict[str, set[str]]:
    known = set(sources)
    graph: dict[str, set[str]] = {name: set() for name in sources}
    for name, path in sources.items():
        tree = ast.parse(path.read_text(), str(path))
        hidden = _type_checking_only(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in hidden:
                is_package = path.name == "__init__.py"
                for target in _targets(node, name, is_package, known):
                    if target in known and target != name:
                        graph[name].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle through each strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_one_circle(graph, group) for group in groups]


def _one_circle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    start = min(group)
    # Breadth-first from start back to start, inside the group: the shortest circle.
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & group):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no circle in {group}")


def test_the_tree_has_no_import_circle():
    found = circles(import_graph(_sources()))
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_a_circle_hidden_in_a_function_is_found(tmp_path):
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from a import x\n")
    (tmp_path / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\n"
    )
    (tmp_path / "d.py").write_text("import c\n")
    sources = {p.stem: p for p in tmp_path.glob("*.py")}
    assert circles(import_graph(sources)) == [["a", "b", "a"]]


def test_relative_imports_and_submodules_are_followed(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from . import one\n")
    (package / "one.py").write_text("from .two import thing\n")
    (package / "two.py").write_text("from pkg import one\n")
    sources = {
        "pkg": package / "__init__.py",
        "pkg.one": package / "one.py",
        "pkg.two": package / "two.py",
    }
    assert import_graph(sources) == {
        "pkg": {"pkg.one"},
        "pkg.one": {"pkg.two"},
        "pkg.two": {"pkg.one"},
    }


def test_hookspecs_name_only_types_and_import_only_the_host_at_run_time():
    sources = _sources()
    assert import_graph(sources)["core.host.hookspecs"] <= {
        name for name in sources if name.startswith("core.host.")
    }
    tree = ast.parse(sources["core.host.hookspecs"].read_text())
    named = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in FOLDERS
        for alias in node.names
    ]
    assert named and all(name[0].isupper() for name in named), named


def plugin_crossings(graph: dict[str, set[str]]) -> list[str]:
    """Each import of one plugin's module by another plugin's: plugins talk to the core
    only (hooks, core.sdk), since a merchant may have any of them off and a third-party
    plugin must manage with the same front door."""

    def plugin_of(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if parts[0] == "plugins" and len(parts) > 1 else None

    return sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if plugin_of(module) and plugin_of(target) and plugin_of(target) != plugin_of(module)
    )


def test_no_plugin_imports_another():
    crossings = plugin_crossings(import_graph(_sources()))
    assert crossings == [], "plugins importing each other:\n" + "\n".join(crossings)


def test_a_plugin_importing_another_is_found(tmp_path):
    for name, text in (
        ("plugins/a/__init__.py", "from plugins.a import own\n"),
        ("plugins/a/own.py", "def f():\n    from plugins.b.services import pay\n"),
        ("plugins/b/__init__.py", "import core.sdk\n"),
        ("plugins/b/services.py", "from core.sdk import db\n"),
        ("core/sdk.py", ""),
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    sources = {
        ".".join(p.relative_to(tmp_path).with_suffix("").parts).removesuffix(".__init__"): p
        for p in tmp_path.rglob("*.py")
    }
    assert plugin_crossings(import_graph(sources)) == ["plugins.a.own -> plugins.b.services"]
