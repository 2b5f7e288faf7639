"""The shape of the code, read from its imports (no module is run): doors open one way
(engine -> estimators -> spaces, all -> _core), only the engine imports Ray, no circle between
files, and no private name imported from another file."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("engine", "estimators", "spaces")
#: what each room may import of archscore (besides itself)
DOORS = {"_core": set(), "spaces": {"_core"}, "estimators": {"_core", "spaces"},
         "engine": {"_core", "spaces", "estimators"}}


def _modules() -> dict[str, Path]:
    """Module name (``archscore.engine.run.sink``) -> file, for every file of the package."""
    out = {"archscore": ROOT / "__init__.py", "archscore._core": ROOT / "_core.py"}
    for room in ROOMS:
        for path in (ROOT / room).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(("archscore",) + parts)] = path
    return out


MODULES = _modules()


def _imports(module: str) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import in ``module``, lazy ones too."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[:len(base) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for a in node.names:
                full = f"{target}.{a.name}"
                out.append((full, None, node.lineno) if full in MODULES else (target, a.name, node.lineno))
    return out


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "archscore"


def _file_graph() -> dict[str, set[str]]:
    """Edges between files; a package's ``__init__`` re-exporting its own modules is not an edge."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _, _ in _imports(module):
            if target in MODULES and target != module and not target.startswith(module + "."):
                graph[module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one file (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_scan_sees_the_package():
    """Guards the checks below against passing on an empty scan."""
    assert {"archscore.engine.run.sink", "archscore.spaces.nb201.space", "archscore.estimators.base"} <= set(MODULES)
    assert "archscore.engine.run.schema" in _file_graph()["archscore.engine.run.sink"]


def test_no_circle_between_files():
    assert _cycles(_file_graph()) == []


def test_the_cycle_finder_finds_a_planted_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def _private_uses(path: Path) -> list[str]:
    """``from archscore.X import _name``, and ``alias._name`` on a module alias of archscore's,
    in a file outside the package (tests, benchmarks)."""
    tree, found, aliases = ast.parse(path.read_text()), [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("archscore"):
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {a.name} from {node.module}")
                elif f"{node.module}.{a.name}" in MODULES:
                    aliases.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            aliases |= {a.asname for a in node.names if a.name.startswith("archscore") and a.asname}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} reads {node.value.id}.{node.attr}")
    return found


def test_no_private_name_is_imported_from_another_file():
    private = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {name} from {target}"
               for m in MODULES for target, name, line in _imports(m)
               if name and name.startswith("_") and target.startswith("archscore") and target != m]
    assert private == []


def test_tests_and_benchmarks_use_no_private_name_of_the_package():
    outside = [p for folder in ("tests", "bench") for p in sorted((ROOT / folder).rglob("*.py"))]
    assert len(outside) > 20
    assert [use for p in outside for use in _private_uses(p)] == []


@pytest.mark.parametrize("room", ["_core", "spaces", "estimators", "engine"])
def test_doors_open_one_way(room):
    wrong = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {target}"
             for m in MODULES if _room(m) == room for target, _, line in _imports(m)
             if target.startswith("archscore.") and _room(target) not in DOORS[room] | {room}]
    assert wrong == []


def test_only_the_engine_imports_ray():
    ray = [f"{MODULES[m].relative_to(ROOT)}:{line}" for m in MODULES if _room(m) != "engine"
           and _room(m) != "archscore" for target, _, line in _imports(m) if target.split(".")[0] == "ray"]
    assert ray == []
