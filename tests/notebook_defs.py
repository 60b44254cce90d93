"""Load definitions from a chapter notebook so that unit tests check the very code learners read.

Only the untagged code cells after the header are read (gpu / needs-key cells are islands), and only
definitions are executed: imports, functions, classes and assignments. Nothing else in a cell runs,
so no model is loaded and no data is touched.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat

from tests.notebook_hygiene import code_without_magics


def _is_constant_setting(node: ast.AST) -> bool:
    """`NAME = 1` or `A, B = 1, 2`: settings that definitions may use as default values."""
    if not isinstance(node, ast.Assign):
        return False
    names = all(isinstance(t, ast.Name) or (isinstance(t, ast.Tuple) and all(isinstance(e, ast.Name) for e in t.elts))
                for t in node.targets)
    value = node.value
    constant = isinstance(value, ast.Constant) or (
        isinstance(value, ast.Tuple) and all(isinstance(e, ast.Constant) for e in value.elts))
    return names and constant


def _imported_modules(node: ast.AST) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        return [(node.module or "").split(".")[0]]
    return [alias.name.split(".")[0] for alias in node.names]


def _keep(node: ast.AST, wanted: set[str] | None, modules: set[str] | None, found: set[str]) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return modules is None or all(m in modules for m in _imported_modules(node))
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        if wanted is None or node.name in wanted:
            found.add(node.name)
            return True
        return False
    if isinstance(node, ast.Assign):
        names = {t.id for t in node.targets if isinstance(t, ast.Name)}
        if wanted is None:
            return _is_constant_setting(node)
        if names & wanted:
            found.update(names)
            return True
    return False


def load_definitions(path: Path, wanted: set[str] | None = None, modules: set[str] | None = None,
                     namespace: dict | None = None) -> dict:
    """Execute the notebook's definitions into `namespace` (a new dict by default) and return it.

    wanted=None keeps every import, def, class and constant setting; otherwise only the defs, classes and
    assignments that name something in `wanted` (each must be found), and only imports of `modules`
    (top-level module names; None = every import). The chapter folder is on sys.path meanwhile, as in the
    notebook, so `from pscan import ...` resolves.
    """
    path = Path(path)
    namespace = {"__name__": "notebook_definitions"} if namespace is None else namespace
    found: set[str] = set()
    sys.path.insert(0, str(path.parent))
    try:
        for cell in nbformat.read(path, as_version=4).cells[2:]:  # after the header and the bootstrap cell
            if cell.cell_type != "code" or {"gpu", "needs-key"} & set(cell.metadata.get("tags", [])):
                continue
            for node in ast.parse(code_without_magics(cell.source)).body:
                if _keep(node, wanted, modules, found):
                    exec(compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec"), namespace)
    finally:
        sys.path.remove(str(path.parent))
    missing = (wanted or set()) - found
    assert not missing, f"not defined in {path.name}: {sorted(missing)}"
    return namespace
