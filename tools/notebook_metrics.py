"""Per-notebook reading metrics (issue 15): run by hand, prints a Markdown table.

    .venv/bin/python tools/notebook_metrics.py            # all ch*/ch*.ipynb
    .venv/bin/python tools/notebook_metrics.py ch02_transformer/ch02.ipynb

Columns: cells, markdown:code ratio, code cells over 15 lines, code lines over 100 characters,
cells with committed outputs, figures (image outputs plus markdown images), silent 확인 cells
(code cells with an `assert` that print nothing: no print/display call and no bare last expression).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]+\)|<img\s[^>]*>", re.IGNORECASE)


def _strip_magics(source: str) -> str:
    return "\n".join("" if ln.lstrip().startswith(("!", "%")) else ln for ln in source.splitlines())


def is_silent_check(source: str) -> bool:
    """An assert cell whose passing run shows nothing."""
    code = _strip_magics(source)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    if not any(isinstance(n, ast.Assert) for n in ast.walk(tree)):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
            if name in {"print", "display", "show", "pprint", "plot", "imshow", "bar", "hist", "scatter"}:
                return False
    return not (tree.body and isinstance(tree.body[-1], ast.Expr))  # a bare last expression is shown


def metrics(path: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    md = [c for c in nb.cells if c.cell_type == "markdown"]
    figures = sum(1 for c in code for o in c.get("outputs", [])
                  if any(k.startswith("image/") for k in o.get("data", {})))
    figures += sum(1 for c in md for m in MD_IMAGE.findall(c.source) if "colab-badge" not in m)
    return {
        "notebook": path.relative_to(ROOT).as_posix() if path.is_absolute() else str(path),
        "cells": len(nb.cells),
        "md:code": f"{len(md) / max(len(code), 1):.2f}",
        "code>15": sum(1 for c in code if len(c.source.splitlines()) > 15),
        "lines>100": sum(1 for c in code for ln in c.source.splitlines() if len(ln) > 100),
        "outputs": sum(1 for c in code if c.get("outputs")),
        "figures": figures,
        "silent 확인": sum(1 for c in code if is_silent_check(c.source)),
    }


def main(argv: list[str]) -> None:
    paths = [Path(a).resolve() for a in argv] or sorted(ROOT.glob("ch*/ch*.ipynb"))
    rows = [metrics(p) for p in paths]
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("| " + " | ".join("---" for _ in cols) + " |")
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    tot = {c: sum(r[c] for r in rows) for c in cols if isinstance(rows[0][c], int)}
    print("| 합계 | " + " | ".join(str(tot.get(c, "")) for c in cols[1:]) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
