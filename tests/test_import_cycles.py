"""No import cycles inside providers/.

Every import counts: at module level, inside functions (the lazy imports that keep SDKs
out of `import providers`), and under `if TYPE_CHECKING:`. A lazy import only hides a
cycle until the function runs; a cycle means two modules each need the other, so the piece
they share belongs in a third module both can import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: cycles another branch is removing; each entry is tolerated only while it exists.
#: (providers.cost.focus <-> providers.cost.sources is gone: FocusFrame is providers.cost.frame)
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset()


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under root/package."""
    found: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported_names(node: ast.Import | ast.ImportFrom, package: str) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:  # relative: from .x import y
        parts = package.split(".")
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, base] if base else parts)
    yield base
    yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """module -> the modules of `modules` it imports anywhere in its body."""

    def owner(name: str) -> str | None:
        while name:
            if name in modules:
                return name
            name = name.rpartition(".")[0]
        return None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for imported in _imported_names(node, package):
                    target = owner(imported)
                    if target is not None and target != name:
                        edges.add(target)
        graph[name] = edges
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_providers_has_no_import_cycle() -> None:
    graph = import_graph(module_files(ROOT, "providers"))
    assert len(graph) > 50, "the walk found the providers package"
    found = [c for c in cycles(graph) if c not in KNOWN_CYCLES]
    assert not found, "import cycles in providers/: " + "; ".join(
        " <-> ".join(sorted(c)) for c in found
    )


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("module level", "from pkg.b import thing\n"),
        ("inside a function", "def f():\n    from pkg.b import thing\n"),
        (
            "under TYPE_CHECKING",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import thing\n",
        ),
        ("relative", "from .b import thing\n"),
        ("via the package", "from pkg import b\n"),
    ],
)
def test_a_cycle_is_found_wherever_the_import_is(tmp_path: Path, where: str, text: str) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(text)
    (pkg / "b.py").write_text("import pkg.c\n")
    (pkg / "c.py").write_text("def g():\n    import pkg.a\n")
    (pkg / "d.py").write_text("import pkg.a\n")  # imports into the cycle, not part of it
    found = cycles(import_graph(module_files(tmp_path, "pkg")))
    assert found == [frozenset({"pkg.a", "pkg.b", "pkg.c"})], where


def test_deployer_public_names_still_import() -> None:
    """The split keeps `from providers.deployer import ...` working for every public name."""
    import providers.deployer as deployer
    from providers.deployment import instances, state, targets

    for name in deployer.__all__:
        assert hasattr(deployer, name), name
    assert deployer.deploy_instance is instances.deploy_instance
    assert deployer.DeploymentStore is state.DeploymentStore
    assert deployer.parse_targets is targets.parse_targets
    assert isinstance(deployer.DeploymentStore(ROOT / "unused"), state.RecordStore)
