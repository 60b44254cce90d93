"""Edit a chapter notebook safely while others may edit it too (a file lock around read-modify-write).

    from tools.nbedit import edit, find_cell
    with edit("ch08_serving/ch08.ipynb") as nb:          # reads fresh under an exclusive lock
        cell = find_cell(nb, "def static_batching")      # the one cell whose source contains the text
        cell.source = cell.source.replace("old", "new")  # targeted change on the fresh copy
    # written back (validated, outputs of untagged cells untouched) when the block ends without error

Always change the fresh `nb` inside the block; never write back a copy read earlier.
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path

import nbformat


@contextmanager
def edit(path: str | Path):
    path = Path(path)
    with open(path.with_suffix(path.suffix + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
        yield nb
        nbformat.validate(nb)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
        tmp.replace(path)


def find_cell(nb, text: str, cell_type: str | None = None):
    """The single cell containing `text` (ValueError if none or several)."""
    hits = [c for c in nb.cells if text in c.source and (cell_type is None or c.cell_type == cell_type)]
    if len(hits) != 1:
        raise ValueError(f"{len(hits)} cells contain {text!r}")
    return hits[0]


def cell_index(nb, cell) -> int:
    return next(i for i, c in enumerate(nb.cells) if c is cell)
