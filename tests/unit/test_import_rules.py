"""The layout's rules, read from the imports themselves (parsed with ``ast``).

Each rule names modules that must never import others; a failure lists the offending
imports. The rules see every import: at the top of a module, inside a function and under
``if TYPE_CHECKING``. Cycles are looked for among the imports that run (the first two).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import replicast

PACKAGE = Path(replicast.__file__).parent


@dataclass(frozen=True, slots=True)
class Import:
    source: str
    """The importing module (``replicast.store.base``)."""
    target: str
    """The module imported: a name imported from a module counts as that module."""
    line: int
    runs: bool
    """False for imports under ``if TYPE_CHECKING``."""


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _owner(name: str) -> str:
    """The module of ``name``: itself, or the module it was imported from."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _imports(source: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {id(inner) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for statement in node.body for inner in ast.walk(statement)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module, f"{path}:{node.lineno}: a relative import"
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "replicast":
                found.append(Import(source, _owner(name), node.lineno,
                                    id(node) not in typing_only))
    return found


IMPORTS = [found for name, path in MODULES.items() for found in _imports(name, path)]

SERVICES = ("replicast.accounts.service", "replicast.predictions.service",
            "replicast.predictions.lifecycle", "replicast.files.service",
            "replicast.webhooks.emitter", "replicast.webhooks.dispatcher", "replicast.sessions",
            "replicast.api", "replicast.web", "replicast.http", "replicast.worker",
            "replicast.state", "replicast.app", "replicast.server", "replicast.cli")
"""What serves requests or runs predictions: the floors above the records and the store."""
LEAVES = ("replicast.errors", "replicast.times", "replicast.ids")
RECORDS = ("replicast.accounts.account", "replicast.webhooks.delivery",
           "replicast.predictions.prediction", "replicast.predictions.status",
           "replicast.files.file")
STORE_FACES = tuple(name for name, path in MODULES.items()
                    if name.startswith("replicast.store.") and name.count(".") == 2
                    and path.name != "__init__.py")
"""The store's interfaces and shared SQL (``store/X.py``), not its package face."""


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


RULES = [
    # (what it is about, the importers, what they must never import)
    ("the store speaks records, never services", ("replicast.store",), SERVICES),
    ("an interface never names its backend", STORE_FACES,
     ("replicast.store.sqlite", "replicast.store.postgres")),
    ("a record is data: it imports only leaves and records", RECORDS,
     tuple(name for name in MODULES if name != "replicast"
           and not _within(name, LEAVES + RECORDS))),
    ("leaves stay leaves", ("replicast.server_keys", "replicast.outputs.signing",
                            "replicast.urls"),
     ("replicast.store", *SERVICES)),
    ("a runner gets what it needs through RunContext", ("replicast.models",),
     ("replicast.store", "replicast.predictions.service", "replicast.predictions.lifecycle",
      "replicast.files.service", "replicast.api", "replicast.web", "replicast.http",
      "replicast.worker", "replicast.state", "replicast.app")),
    ("the API and the pages are siblings", ("replicast.api",), ("replicast.web",)),
    ("the API and the pages are siblings", ("replicast.web",), ("replicast.api",)),
    ("the API reaches no worker", ("replicast.api",), ("replicast.worker",)),
    ("what API and pages share sits below both", ("replicast.http",),
     ("replicast.api", "replicast.web")),
    ("the services container sits below the HTTP layers", ("replicast.state",),
     ("replicast.api", "replicast.web", "replicast.http", "replicast.worker")),
]


@pytest.mark.parametrize(("rule", "importers", "never"), RULES,
                         ids=[f"{r[0]}:{r[1][0]}" for r in RULES])
def test_imports_run_one_way(rule, importers, never):
    broken = [f"{i.source}:{i.line} imports {i.target}" for i in IMPORTS
              if _within(i.source, importers) and _within(i.target, never)
              and not _within(i.target, importers)]
    assert not broken, f"{rule}:\n" + "\n".join(broken)


def test_no_import_cycle():
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for found in IMPORTS:
        if found.runs and found.target != found.source:
            graph[found.source].add(found.target)
    cycles = [sorted(group) for group in _strongly_connected(graph) if len(group) > 1]
    assert not cycles, f"import cycles: {cycles}"


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for child in edges:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    groups.append(group)
    return groups


def test_the_rules_see_imports_and_cycles():
    assert any(i.source == "replicast.app" and i.target == "replicast.web.routes"
               for i in IMPORTS)
    assert any(not i.runs for i in IMPORTS)  # TYPE_CHECKING imports are told apart
    assert sorted(map(sorted, _strongly_connected({"a": {"b"}, "b": {"a"}, "c": {"a"}}))) \
        == [["a", "b"], ["c"]]
