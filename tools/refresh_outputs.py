"""Re-execute chapter notebooks in the smoke world and keep the outputs of `nbval-check-output` cells only.

    .venv/bin/python tools/refresh_outputs.py ch02_transformer/ch02.ipynb [more notebooks]

These are the outputs a reader sees on GitHub (world-independent cells: random inputs with seeds, the course's
own data, from-scratch code). CI re-executes the same cells and compares them (nbval, floats masked by
tests/nbval_sanitize.cfg). Every other cell is left stripped. The whole notebook runs (later tagged cells may
need earlier state), with the smoke world and environment of `make test`, so the outputs are the ones CI computes
(a figure cell sets its own small dpi, ~80: the `<Figure size ...>` line is compared).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.world.plugin import KEY_VARIABLES, smoke_environment  # noqa: E402
from tools.nbedit import edit  # noqa: E402

TAG = "nbval-check-output"


def prepare_environment() -> Path:
    world = Path(os.environ.get("COURSE_WORLD_DIR") or tempfile.mkdtemp(prefix="course-world-")).resolve()
    os.environ["COURSE_WORLD_DIR"] = str(world)
    for name in [n for n in os.environ if n.startswith("OPENAI_") or n in KEY_VARIABLES or n == "MPLBACKEND"]:
        del os.environ[name]
    os.environ.update(smoke_environment(world))
    from tests.world.build import ensure_world

    ensure_world(world, log=print)
    return world


def execute(path: Path, timeout: int) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def coalesced(outputs: list) -> list:
    """Consecutive pieces of one stream as one output (as Jupyter shows them; nbval merges them too)."""
    merged: list = []
    for output in outputs:
        last = merged[-1] if merged else None
        if last is not None and output.output_type == last.output_type == "stream" and output.name == last.name:
            last.text += output.text
        else:
            merged.append(output)
    return merged


def refresh(path: Path, timeout: int = 600) -> int:
    ran = execute(path, timeout)
    by_id = {c.get("id"): c for c in ran.cells}
    kept = 0
    with edit(path) as nb:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            if TAG in cell.get("metadata", {}).get("tags", []):
                fresh = by_id[cell.get("id")]
                count = fresh.execution_count
                cell.outputs, cell.execution_count = coalesced(fresh.outputs), count
                for output in cell.outputs:
                    if "execution_count" in output:
                        output.execution_count = count
                kept += 1
            else:
                cell.outputs, cell.execution_count = [], None
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    prepare_environment()
    for path in args.notebooks:
        path = path.resolve()
        kept = refresh(path, args.timeout)
        size = path.stat().st_size
        print(f"{path.relative_to(ROOT)}: outputs kept in {kept} {TAG} cells, file {size / 1000:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
