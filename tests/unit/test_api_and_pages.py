"""The API and the pages are siblings that ``app.py`` mounts side by side: neither imports
the other, what they share sits below both, and the API reaches the worker only through
``state.py``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import replicast

PACKAGE = Path(replicast.__file__).parent


def _imported(where: str) -> Iterator[tuple[str, str]]:
    """(module file, imported name) for every import in ``where`` (a folder or a file),
    those inside functions and under ``TYPE_CHECKING`` included."""
    root = PACKAGE / where
    for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0 and node.module, f"{path}: a relative import"
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                yield str(path.relative_to(PACKAGE)), name


@pytest.mark.parametrize("where,never", [
    ("api", "web"),
    ("web", "api"),
    ("api", "worker"),
    ("http", "api"),
    ("http", "web"),
    ("state.py", "api"),
    ("state.py", "web"),
    ("state.py", "http"),
    ("state.py", "worker"),
])
def test_imports_run_one_way(where, never):
    below = f"replicast.{never}"
    found = [(module, name) for module, name in _imported(where)
             if name == below or name.startswith(below + ".")]
    assert not found, f"{where} must not import {below}"


def test_the_rule_sees_an_import():
    assert ("app.py", "replicast.web.routes") in set(_imported("app.py"))
