"""The layering of bench/: no import cycle (function-level imports included), no private name
imported across modules, and the store below the runner (REVIEW.md sections 2 and 10)."""

from __future__ import annotations

import ast
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _module_name(path: Path) -> str:
    parts = path.relative_to(BENCH.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module imported, names imported from it, line) for every import, at any depth."""
    tree = ast.parse(path.read_text(), str(path))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names = [alias.name for alias in node.names]
            found.append((base, names, node.lineno))
    return found


def _graph() -> dict[str, dict[str, int]]:
    modules = {_module_name(p): p for p in BENCH.rglob("*.py")}
    graph: dict[str, dict[str, int]] = {m: {} for m in modules}
    for name, path in modules.items():
        for target, names, line in _imports(path):
            # "from bench import data" imports the module bench.data
            candidates = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules] or [target]
            for mod in candidates:
                if mod in modules and mod != name and not (mod == "bench" and names):
                    graph[name].setdefault(mod, line)
    return graph


def test_no_import_cycle_in_bench_function_level_imports_included():
    graph = _graph()
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles in bench/:\n" + "\n".join(cycles)


#: known until registry.py (another owner) exports it publicly (REVIEW.md section 10)
KNOWN_PRIVATE = {("bench/testing.py", "_accepts", "bench.registry")}


def test_no_private_name_is_imported_from_another_module():
    modules = {_module_name(p): p for p in BENCH.rglob("*.py")}
    offenders = []
    for path in modules.values():
        for target, names, line in _imports(path):
            if not target.startswith("bench"):
                continue
            for imported in names:
                where = str(path.relative_to(BENCH.parent))
                if (where, imported, target) in KNOWN_PRIVATE:
                    continue
                if imported.startswith("_") and not imported.startswith("__"):
                    offenders.append(f"{path.relative_to(BENCH.parent)}:{line} imports "
                                     f"{imported} from {target}")
    assert not offenders, "\n".join(offenders)


def test_the_store_and_the_record_sit_below_the_execution_layer():
    graph = _graph()
    below = {"bench.store", "bench.record", "bench.provenance", "bench.planner"}
    higher = {m for m in graph if m.startswith("bench.execution") or m in ("bench.api", "bench.cli")}
    for module in below:
        assert not set(graph[module]) & higher, f"{module} imports {set(graph[module]) & higher}"
    # the Dask executor uses the process layer, never the dispatcher that imports it
    assert "bench.execution" not in graph["bench.execution.dask"]


def test_the_graph_sees_function_level_imports():
    graph = _graph()
    assert "bench.execution.dask" in graph["bench.execution"]  # imported inside execute()
