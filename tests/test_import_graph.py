"""The package's import graph, read from the source with ``ast`` (imports inside functions
included): no cycle, and the student part never imports the instructor's tools."""

from __future__ import annotations

import ast
from pathlib import Path

from course_utils.settings import PACKAGE_PARENT

PACKAGE = PACKAGE_PARENT / "course_utils"


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package in ``root`` by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        name = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def import_graph(root: Path) -> dict[str, dict[str, int]]:
    """module -> {module of the same package it imports: line}, from every ``import`` and
    ``from ... import`` anywhere in its source (module level, functions, methods)."""
    mods = modules(root)
    graph: dict[str, dict[str, int]] = {m: {} for m in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in mods:    # a name inside a module: the module
                    target = target.rpartition(".")[0]
                # importing a package's own parent package (its __init__) is not an edge back
                if target and target != name and not name.startswith(target + "."):
                    graph[name].setdefault(target, node.lineno)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The import cycles of ``graph`` (each as a path that ends where it starts)."""
    found, state = [], {}

    def visit(module: str, stack: list[str]) -> None:
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                found.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    return found


def shown(graph, cycle):
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"


def test_the_package_has_no_import_cycle():
    graph = import_graph(PACKAGE)
    assert len(graph) > 40 and "course_utils.run" in graph["course_utils.data.provenance"]
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(shown(graph, c) for c in found)


def test_only_the_instructors_tools_import_them():
    graph = import_graph(PACKAGE)
    wrong = [f"{m} imports {t} (line {line})" for m, targets in graph.items()
             if not m.startswith("course_utils.instructor")
             for t, line in targets.items() if t.startswith("course_utils.instructor")]
    assert not wrong, wrong


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path):
    """The check sees what it must: a cycle closed by an import inside a function."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a\n    return a\n")
    graph = import_graph(pkg)
    assert cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.a"]]
    (pkg / "sub" / "b.py").write_text("def f():\n    return 1\n")
    assert cycles(import_graph(pkg)) == []
